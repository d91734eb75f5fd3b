"""im2col and col2im: the patch gathering behind convolution, and its adjoint.

``im2col`` turns an image batch ``x`` of shape ``(N, C, H, W)`` into the patch array
``col`` of shape ``(N, C, KH, KW, OH, OW)`` with

    col[n, c, kh, kw, oh, ow] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]

(zero where the index falls in the padding), so that a convolution is one matrix product.
``col2im`` is its adjoint (the transpose of that linear map): every ``col`` entry is added
back into the input pixel it was read from, overlaps summed. It is *not* an inverse.

Three implementations with the same signature:

- ``*_reference``: readable array-module code (a loop over the KH*KW kernel taps, each one
  strided slice, as Chainer does); the oracle, and works on any ``xp``;
- ``*_cpu``: Numba, the N*C planes split into tasks for minicnn's thread pool
  (``minicnn.parallel``; the kernels release the GIL);
- ``*_gpu`` (in ``minicnn.kernels.cuda``, imported only when a CUDA array shows up).

``im2col`` / ``col2im`` dispatch: NumPy arrays go to the CPU kernel, arrays with a
``__cuda_array_interface__`` (CuPy) to the CUDA kernel, and any other array type to the
reference.
"""
from __future__ import annotations

from typing import Any

import numba
import numpy as np

from minicnn.backend import get_array_module
from minicnn.parallel import chunks, parallel_for

# NOTE: about this many output elements per task: enough to hide the task's overhead
# (~20 us), small enough to balance the threads.
TASK_ELEMENTS = 1 << 17


def conv_output_size(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    """Output length of a convolution or pooling window sweep, rounded down as in PyTorch.

    ``(size + 2*p - d*(k - 1) - 1) // s + 1`` for input length ``size``, kernel ``k``,
    stride ``s``, padding ``p`` (each side) and dilation ``d``.
    """
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _check_params(KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
                  DH: int, DW: int) -> None:
    """Raise ValueError unless kernel, stride, dilation are >= 1 and padding >= 0."""
    if min(KH, KW, SH, SW, DH, DW) < 1 or min(PH, PW) < 0:
        raise ValueError(
            f"need kernel, stride, dilation >= 1 and padding >= 0, got kernel ({KH}, {KW}), "
            f"stride ({SH}, {SW}), padding ({PH}, {PW}), dilation ({DH}, {DW})"
        )


def _output_hw(H: int, W: int, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
               DH: int, DW: int) -> tuple[int, int]:
    """``(OH, OW)`` for an ``H x W`` input; ValueError if the window does not fit once."""
    _check_params(KH, KW, SH, SW, PH, PW, DH, DW)
    OH = conv_output_size(H, KH, SH, PH, DH)
    OW = conv_output_size(W, KW, SW, PW, DW)
    if OH < 1 or OW < 1:
        raise ValueError(
            f"output size ({OH}, {OW}) < 1: input ({H}, {W}), kernel ({KH}, {KW}), "
            f"stride ({SH}, {SW}), padding ({PH}, {PW}), dilation ({DH}, {DW})"
        )
    return OH, OW


def _col_geometry(col: Any, H: int, W: int, SH: int, SW: int, PH: int, PW: int,
                  DH: int, DW: int) -> tuple[int, ...]:
    """``(N, C, KH, KW, OH, OW)`` of ``col``, checked against the image size ``H x W``."""
    if col.ndim != 6:
        raise ValueError(f"col must have shape (N, C, KH, KW, OH, OW), got {col.shape}")
    N, C, KH, KW, OH, OW = col.shape
    if (OH, OW) != _output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW):
        raise ValueError(
            f"col of shape {col.shape} does not come from a ({H}, {W}) image with stride "
            f"({SH}, {SW}), padding ({PH}, {PW}), dilation ({DH}, {DW})"
        )
    return N, C, KH, KW, OH, OW


def _is_cuda_array(a: Any) -> bool:
    """True for device arrays that numba.cuda kernels accept (CuPy and friends)."""
    return type(a) is not np.ndarray and hasattr(a, "__cuda_array_interface__")


# ----------------------------------------------------------------------------------------
# Reference (readable, any xp)
# ----------------------------------------------------------------------------------------

def im2col_reference(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
                     DH: int = 1, DW: int = 1) -> Any:
    """Patches of ``x`` (N, C, H, W) as ``col`` (N, C, KH, KW, OH, OW); zero padding.

    One strided slice of the padded image per kernel tap ``(kh, kw)``.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = _output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
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

    Each tap's (N, C, OH, OW) slab is added into a strided slice of the padded image; the
    padding border is then cut off (what landed there belongs to no input pixel).
    """
    xp = get_array_module(col)
    N, C, KH, KW, OH, OW = _col_geometry(col, H, W, SH, SW, PH, PW, DH, DW)
    img = xp.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=col.dtype)
    for kh in range(KH):
        h0 = kh * DH
        h_end = h0 + SH * (OH - 1) + 1
        for kw in range(KW):
            w0 = kw * DW
            w_end = w0 + SW * (OW - 1) + 1
            img[:, :, h0:h_end:SH, w0:w_end:SW] += col[:, :, kh, kw]
    return xp.ascontiguousarray(img[:, :, PH:PH + H, PW:PW + W])  # (N, C, H, W)


# ----------------------------------------------------------------------------------------
# CPU (Numba)
# ----------------------------------------------------------------------------------------

@numba.njit(inline="always", cache=True)
def _valid_range(n_out, S, offset, size):  # pragma: no cover (jitted)
    """``[lo, hi)``: the outputs ``o < n_out`` whose ``o*S + offset`` is in ``[0, size)``."""
    lo = 0 if offset >= 0 else (S - 1 - offset) // S
    hi = (size - offset + S - 1) // S if size > offset else 0
    hi = min(hi, n_out)
    return min(lo, hi), hi


@numba.njit(nogil=True, cache=True)
def _im2col_planes(x, col, p0, p1, KH, KW, SH, SW, PH, PW, DH, DW):  # pragma: no cover
    """Fill ``col[p0:p1]`` (P, KH, KW, OH, OW) from the planes ``x[p0:p1]`` (P, H, W)."""
    _, H, W = x.shape
    OH = col.shape[3]
    OW = col.shape[4]
    for p in range(p0, p1):
        for kh in range(KH):
            h0 = kh * DH - PH
            oh_lo, oh_hi = _valid_range(OH, SH, h0, H)
            for kw in range(KW):
                w0 = kw * DW - PW
                ow_lo, ow_hi = _valid_range(OW, SW, w0, W)
                tap = col[p, kh, kw]  # (OH, OW)
                tap[:oh_lo] = 0
                tap[oh_hi:] = 0
                for oh in range(oh_lo, oh_hi):
                    tap[oh, :ow_lo] = 0
                    tap[oh, ow_hi:] = 0
                    dst = tap[oh, ow_lo:ow_hi]
                    src = x[p, oh * SH + h0, ow_lo * SW + w0:]
                    # NOTE: in-bounds ranges computed up front and 1-D views indexed from 0
                    # leave a branch-free inner loop, and SW == 1 a contiguous copy that
                    # LLVM vectorises: about 2x faster than a bounds test per element.
                    if SW == 1:
                        for i in range(dst.size):
                            dst[i] = src[i]
                    else:
                        for i in range(dst.size):
                            dst[i] = src[i * SW]


@numba.njit(nogil=True, cache=True)
def _col2im_planes(col, img, p0, p1, SH, SW, PH, PW, DH, DW):  # pragma: no cover (jitted)
    """Scatter-add ``col[p0:p1]`` (P, KH, KW, OH, OW) into the planes ``img[p0:p1]``."""
    _, KH, KW, OH, OW = col.shape
    H = img.shape[1]
    W = img.shape[2]
    # NOTE: each plane p belongs to one task, so the += needs no atomics; per pixel the
    # taps arrive in (kh, kw) order, the order the GPU gather sums them in.
    for p in range(p0, p1):
        img[p] = 0
        for kh in range(KH):
            h0 = kh * DH - PH
            oh_lo, oh_hi = _valid_range(OH, SH, h0, H)
            for kw in range(KW):
                w0 = kw * DW - PW
                ow_lo, ow_hi = _valid_range(OW, SW, w0, W)
                for oh in range(oh_lo, oh_hi):
                    dst = img[p, oh * SH + h0, ow_lo * SW + w0:]
                    src = col[p, kh, kw, oh, ow_lo:ow_hi]
                    if SW == 1:  # contiguous: vectorised, as in _im2col_planes
                        for i in range(src.size):
                            dst[i] += src[i]
                    else:
                        for i in range(src.size):
                            dst[i * SW] += src[i]


def im2col_cpu(x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
               DH: int = 1, DW: int = 1) -> np.ndarray:
    """Numba im2col: ``x`` (N, C, H, W) -> ``col`` (N, C, KH, KW, OH, OW), zero padding.

    Parallel over the N*C planes; equal to ``im2col_reference`` element for element.
    """
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    OH, OW = _output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    col = np.empty((N * C, KH, KW, OH, OW), dtype=x.dtype)  # (N*C, KH, KW, OH, OW)
    planes = x.reshape(N * C, H, W)
    tasks = chunks(N * C, TASK_ELEMENTS // (KH * KW * OH * OW))
    parallel_for(lambda t: _im2col_planes(planes, col, *tasks[t], KH, KW, SH, SW, PH, PW, DH,
                                          DW), len(tasks))
    return col.reshape(N, C, KH, KW, OH, OW)  # (N, C, KH, KW, OH, OW)


def col2im_cpu(col: np.ndarray, H: int, W: int, SH: int, SW: int, PH: int, PW: int,
               DH: int = 1, DW: int = 1) -> np.ndarray:
    """Numba col2im: ``col`` (N, C, KH, KW, OH, OW) summed back into (N, C, H, W).

    The adjoint of ``im2col_cpu``; parallel over the N*C planes.
    """
    col = np.ascontiguousarray(col)
    N, C, KH, KW, OH, OW = _col_geometry(col, H, W, SH, SW, PH, PW, DH, DW)
    img = np.empty((N * C, H, W), dtype=col.dtype)  # (N*C, H, W)
    planes = col.reshape(N * C, KH, KW, OH, OW)
    tasks = chunks(N * C, TASK_ELEMENTS // (KH * KW * OH * OW))
    parallel_for(lambda t: _col2im_planes(planes, img, *tasks[t], SH, SW, PH, PW, DH, DW),
                 len(tasks))
    return img.reshape(N, C, H, W)  # (N, C, H, W)


# ----------------------------------------------------------------------------------------
# Dispatchers
# ----------------------------------------------------------------------------------------

def im2col(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
           DH: int = 1, DW: int = 1) -> Any:
    """Patches of ``x`` (N, C, H, W) as ``col`` (N, C, KH, KW, OH, OW), zero padding.

    ``col[n, c, kh, kw, oh, ow] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]`` with
    ``OH = conv_output_size(H, KH, SH, PH, DH)`` (likewise OW). NumPy -> Numba CPU kernel;
    CUDA arrays (CuPy) -> numba.cuda kernel; other array types -> the xp reference.
    """
    if type(x) is np.ndarray:
        return im2col_cpu(x, KH, KW, SH, SW, PH, PW, DH, DW)
    if _is_cuda_array(x):
        from minicnn.kernels import cuda  # lazy: numba.cuda only once a GPU array shows up

        return cuda.im2col_gpu(x, KH, KW, SH, SW, PH, PW, DH, DW)
    return im2col_reference(x, KH, KW, SH, SW, PH, PW, DH, DW)


def col2im(col: Any, H: int, W: int, SH: int, SW: int, PH: int, PW: int,
           DH: int = 1, DW: int = 1) -> Any:
    """Adjoint of im2col: ``col`` (N, C, KH, KW, OH, OW) summed back into (N, C, H, W).

    ``gx[n, c, h, w]`` is the sum of every ``col`` entry that im2col read from ``x[n, c, h,
    w]`` (overlapping windows add up); entries read from the padding are dropped. Dispatch as
    in ``im2col``.
    """
    if type(col) is np.ndarray:
        return col2im_cpu(col, H, W, SH, SW, PH, PW, DH, DW)
    if _is_cuda_array(col):
        from minicnn.kernels import cuda  # lazy: numba.cuda only once a GPU array shows up

        return cuda.col2im_gpu(col, H, W, SH, SW, PH, PW, DH, DW)
    return col2im_reference(col, H, W, SH, SW, PH, PW, DH, DW)
