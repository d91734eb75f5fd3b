"""Convolution by im2col: the patch gathering, its adjoint, and conv2d forward and backward.

The rule. ``im2col`` turns an image batch ``x`` (N, C, H, W) into the patch array ``col``
(N, C, KH, KW, OH, OW) with

    col[n, c, kh, kw, oh, ow] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]

(zero where the index falls in the padding; ``OH, OW`` from ``geometry.output_hw``).
``col2im`` is its adjoint (the transpose of that linear map): every ``col`` entry is added back
into the input pixel it was read from, overlaps summed, padding entries dropped. It is *not*
an inverse. A convolution (a cross-correlation, as PyTorch's) is then one matrix product:

    y[n] = W_mat @ col[n] + b          W_mat = W.reshape(OC, C*KH*KW), col[n] (C*KH*KW, OH*OW)
    gW   = sum_n gy[n] @ col[n]^T      gb = sum of gy over (N, OH, OW)
    gx   = col2im(W_mat^T @ gy[n])
    gb   = sum of gy over (N, OH, OW)

Three implementations behind each entry point (``im2col``, ``col2im``, ``conv2d_forward``,
``conv2d_backward``), chosen by ``minicnn.kernels.implementation``:

- ``reference`` (this module): the formulas above in array-module code, one strided slice per
  kernel tap (as Chainer's im2col); the oracle;
- ``numba`` (``conv_cpu``): the same products in cache-sized chunks of output rows on
  minicnn's thread pool, never holding the whole ``col`` (standalone im2col / col2im:
  ``im2col_cpu``);
- ``cuda`` (``conv_cuda``): numba.cuda im2col/col2im kernels inside the reference's GEMMs.

Only ``x`` and ``W`` are needed for backward: ``col`` is recomputed from ``x``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minicnn.backend import get_array_module
from minicnn.kernels import conv_cpu, im2col_cpu, implementation
from minicnn.kernels.geometry import col_shape, output_hw

# ----------------------------------------------------------------------------------------
# Reference (any xp)
# ----------------------------------------------------------------------------------------


def im2col_reference(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
                     DH: int = 1, DW: int = 1) -> Any:
    """Patches of ``x`` (N, C, H, W) as ``col`` (N, C, KH, KW, OH, OW); zero padding.

    One strided slice of the padded image per kernel tap ``(kh, kw)``.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    img = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))  # (N, C, H + 2PH, W + 2PW)
    col = xp.empty((N, C, KH, KW, OH, OW), dtype=x.dtype)
    for kh in range(KH):
        h0 = kh * DH
        h_end = h0 + SH * (OH - 1) + 1
        for kw in range(KW):
            w0 = kw * DW
            w_end = w0 + SW * (OW - 1) + 1
            col[:, :, kh, kw] = img[:, :, h0:h_end:SH, w0:w_end:SW]  # (N, C, OH, OW)
    return col


def col2im_reference(col: Any, H: int, W: int, SH: int, SW: int, PH: int, PW: int,
                     DH: int = 1, DW: int = 1) -> Any:
    """Adjoint of im2col: ``col`` (N, C, KH, KW, OH, OW) summed back into (N, C, H, W).

    Each tap's (N, C, OH, OW) slab is added into a strided slice of the padded image, taps in
    (kh, kw) order; the padding border is then cut off (it belongs to no input pixel).
    """
    xp = get_array_module(col)
    N, C, KH, KW, OH, OW = col_shape(col, H, W, SH, SW, PH, PW, DH, DW)
    img = xp.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=col.dtype)
    for kh in range(KH):
        h0 = kh * DH
        h_end = h0 + SH * (OH - 1) + 1
        for kw in range(KW):
            w0 = kw * DW
            w_end = w0 + SW * (OW - 1) + 1
            img[:, :, h0:h_end:SH, w0:w_end:SW] += col[:, :, kh, kw]
    return xp.ascontiguousarray(img[:, :, PH:PH + H, PW:PW + W])  # (N, C, H, W)


def conv2d_forward_reference(x: Any, W: Any, b: Any, stride: tuple, padding: tuple,
                             dilation: tuple, im2col_fn: Callable = im2col_reference) -> Any:
    """``y`` (N, OC, OH, OW) = ``W_mat @ col[n] + b`` for ``x`` (N, C, H, W), ``W`` (OC, C,
    KH, KW), ``b`` (OC,) or None. ``im2col_fn`` builds ``col`` (the GPU passes its kernel)."""
    N, C = x.shape[:2]
    OC, _, KH, KW = W.shape
    col = im2col_fn(x, KH, KW, *stride, *padding, *dilation)  # (N, C, KH, KW, OH, OW)
    OH, OW = col.shape[-2:]
    col = col.reshape(N, C * KH * KW, OH * OW)  # (N, C*KH*KW, OH*OW)
    y = (W.reshape(OC, -1) @ col).reshape(N, OC, OH, OW)
    if b is not None:
        y += b.reshape(1, OC, 1, 1)
    return y


def conv2d_backward_reference(x: Any, W: Any, gy: Any, stride: tuple, padding: tuple,
                              dilation: tuple, x_shape: tuple, w_shape: tuple,
                              need_b: bool = False, im2col_fn: Callable = im2col_reference,
                              col2im_fn: Callable = col2im_reference) -> tuple[Any, Any, Any]:
    """``(gx, gW, gb)`` for the upstream gradient ``gy`` (N, OC, OH, OW): ``gx = col2im(W_mat^T
    @ gy[n])`` if ``W`` is given, ``gW = sum_n gy[n] @ col[n]^T`` (``col`` recomputed from
    ``x``) if ``x`` is given, ``gb`` = the sum of ``gy`` over (N, OH, OW) if ``need_b``; None
    for those not asked for."""
    xp = get_array_module(gy)
    N, C, H, IW = x_shape
    OC, _, KH, KW = w_shape
    OH, OW = gy.shape[-2:]
    gy_mat = gy.reshape(N, OC, OH * OW)  # (N, OC, OH*OW)
    gx = gW = None
    if W is not None:
        gcol = W.reshape(OC, -1).T @ gy_mat  # (N, C*KH*KW, OH*OW)
        gx = col2im_fn(gcol.reshape(N, C, KH, KW, OH, OW), H, IW, *stride, *padding, *dilation)
    if x is not None:
        col = im2col_fn(x, KH, KW, *stride, *padding, *dilation)
        col = col.reshape(N, C * KH * KW, OH * OW)  # (N, C*KH*KW, OH*OW)
        gW = xp.tensordot(gy_mat, col, axes=([0, 2], [0, 2])).reshape(w_shape)
    gb = gy.sum(axis=(0, 2, 3)) if need_b else None
    return gx, gW, gb


# ----------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------

def _cuda() -> Any:
    from minicnn.kernels import conv_cuda  # lazy: numba.cuda only once a GPU array shows up

    return conv_cuda


def im2col(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
           DH: int = 1, DW: int = 1) -> Any:
    """Patches of ``x`` (N, C, H, W) as ``col`` (N, C, KH, KW, OH, OW), zero padding:
    ``col[n, c, kh, kw, oh, ow] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]``."""
    impl = implementation(x)
    if impl == "numba":
        return im2col_cpu.im2col(x, KH, KW, SH, SW, PH, PW, DH, DW)
    if impl == "cuda":
        return _cuda().im2col(x, KH, KW, SH, SW, PH, PW, DH, DW)
    return im2col_reference(get_array_module(x).ascontiguousarray(x), KH, KW, SH, SW, PH, PW,
                            DH, DW)


def col2im(col: Any, H: int, W: int, SH: int, SW: int, PH: int, PW: int,
           DH: int = 1, DW: int = 1) -> Any:
    """Adjoint of im2col: ``col`` (N, C, KH, KW, OH, OW) summed back into ``gx`` (N, C, H, W):
    ``gx[n, c, h, w]`` is the sum of the ``col`` entries im2col read from ``x[n, c, h, w]``."""
    impl = implementation(col)
    if impl == "numba":
        return im2col_cpu.col2im(col, H, W, SH, SW, PH, PW, DH, DW)
    if impl == "cuda":
        return _cuda().col2im(col, H, W, SH, SW, PH, PW, DH, DW)
    return col2im_reference(col, H, W, SH, SW, PH, PW, DH, DW)


def conv2d_forward(x: Any, W: Any, b: Any, stride: tuple, padding: tuple,
                   dilation: tuple) -> Any:
    """``y`` (N, OC, OH, OW) of the convolution of ``x`` (N, C, H, W) with ``W`` (OC, C, KH,
    KW), plus ``b`` (OC,) if not None (see the module docstring)."""
    impl = implementation(x)
    if impl == "numba":
        return conv_cpu.conv2d_forward(x, W, b, stride, padding, dilation)
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    if impl == "cuda":
        return conv2d_forward_reference(x, W, b, stride, padding, dilation, _cuda().im2col)
    return conv2d_forward_reference(x, W, b, stride, padding, dilation)


def conv2d_backward(x: Any, W: Any, gy: Any, stride: tuple, padding: tuple, dilation: tuple,
                    x_shape: tuple, w_shape: tuple, need_b: bool = False
                    ) -> tuple[Any, Any, Any]:
    """``(gx, gW, gb)`` of the convolution for the upstream gradient ``gy`` (N, OC, OH, OW).

    Pass ``W`` to get ``gx`` and ``x`` to get ``gW`` (None otherwise: that gradient is then
    None and not computed), ``need_b`` to get ``gb`` (the sum of ``gy`` over N, OH, OW);
    ``x_shape`` and ``w_shape`` are the shapes of the forward's inputs.
    """
    impl = implementation(gy)
    if impl == "numba":
        return conv_cpu.conv2d_backward(x, W, gy, stride, padding, dilation, x_shape, w_shape,
                                        need_b)
    xp = get_array_module(gy)
    gy = xp.ascontiguousarray(gy)
    x = None if x is None else xp.ascontiguousarray(x)
    if impl == "cuda":
        cuda = _cuda()
        return conv2d_backward_reference(x, W, gy, stride, padding, dilation, x_shape,
                                         w_shape, need_b, cuda.im2col, cuda.col2im)
    return conv2d_backward_reference(x, W, gy, stride, padding, dilation, x_shape, w_shape,
                                     need_b)
