"""numba.cuda kernels for im2col / col2im and max pooling (the GPU side of ``minicnn.kernels``).

Imported lazily by the dispatchers in ``kernels.im2col`` and ``kernels.pooling`` only when a
CUDA array shows up, so ``import minicnn`` never imports numba.cuda. The kernels take CuPy
arrays through the CUDA array interface (and NumPy arrays under Numba's CUDA simulator,
``NUMBA_ENABLE_CUDASIM=1``, which the tests use); outputs are allocated with the input's
array module.

Every kernel runs one thread per *output* element on a 1-D grid of 256-thread blocks, with
shapes passed as ints. The two backward kernels are gathers, not scatters: one thread per
input pixel sums the contributions that land on it, so they need no atomics and are
deterministic; they sum in the same order as the Numba CPU kernels, so GPU and CPU results
agree element for element.

NOTE: launches go to Numba's default stream, CuPy's work to CuPy's current stream; both are
the legacy default stream unless a caller changes CuPy's, which keeps them ordered.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from minicnn.backend import get_array_module
from minicnn.kernels.im2col import _col_geometry, _output_hw
from minicnn.kernels.pooling import _pool_output_hw

THREADS_PER_BLOCK = 256


def _blocks(size: int) -> int:
    """Blocks of ``THREADS_PER_BLOCK`` threads that cover ``size`` elements."""
    return (size + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK


# ----------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------

@cuda.jit
def _im2col_kernel(x, col, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW,
                   size):  # pragma: no cover (device code)
    """One thread per ``col[n, c, kh, kw, oh, ow]``; x (N, C, H, W)."""
    i = cuda.grid(1)
    if i >= size:
        return
    ow = i % OW
    t = i // OW
    oh = t % OH
    t //= OH
    kw = t % KW
    t //= KW
    kh = t % KH
    t //= KH
    c = t % C
    n = t // C
    h = oh * SH - PH + kh * DH
    w = ow * SW - PW + kw * DW
    if 0 <= h < H and 0 <= w < W:
        col[n, c, kh, kw, oh, ow] = x[n, c, h, w]
    else:
        col[n, c, kh, kw, oh, ow] = 0


@cuda.jit
def _col2im_kernel(col, img, zero, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW,
                   size):  # pragma: no cover (device code)
    """One thread per ``img[n, c, h, w]``: the sum over the taps whose window covers it."""
    i = cuda.grid(1)
    if i >= size:
        return
    w = i % W
    t = i // W
    h = t % H
    t //= H
    c = t % C
    n = t // C
    # NOTE: ``zero`` has the array's dtype, so float32 data sums in float32 (as on the CPU)
    # rather than being promoted to slow float64 by a ``0.0`` literal.
    acc = zero
    for kh in range(KH):
        # The window row oh reads h through tap kh iff oh*SH = h + PH - kh*DH.
        hs = h + PH - kh * DH
        if hs < 0 or hs % SH != 0:
            continue
        oh = hs // SH
        if oh >= OH:
            continue
        for kw in range(KW):
            ws = w + PW - kw * DW
            if ws < 0 or ws % SW != 0:
                continue
            ow = ws // SW
            if ow < OW:
                acc += col[n, c, kh, kw, oh, ow]
    img[n, c, h, w] = acc


@cuda.jit
def _maxpool_forward_kernel(x, y, argmax, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW,
                            size):  # pragma: no cover (device code)
    """One thread per ``y[n, c, oh, ow]`` and its ``argmax`` (flat h*W + w)."""
    i = cuda.grid(1)
    if i >= size:
        return
    ow = i % OW
    t = i // OW
    oh = t % OH
    t //= OH
    c = t % C
    n = t // C
    best = x[n, c, 0, 0]  # overwritten by the first in-bounds tap (idx < 0)
    idx = -1
    for kh in range(KH):
        h = oh * SH - PH + kh
        if h < 0 or h >= H:
            continue
        for kw in range(KW):
            w = ow * SW - PW + kw
            if w < 0 or w >= W:
                continue
            v = x[n, c, h, w]
            # NOTE: PyTorch's rule: strict > (first maximum wins), NaN wins.
            if idx < 0 or v > best or math.isnan(v):
                best = v
                idx = h * W + w
    y[n, c, oh, ow] = best
    argmax[n, c, oh, ow] = idx


@cuda.jit
def _maxpool_backward_kernel(gy, argmax, gx, zero, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW,
                             size):  # pragma: no cover (device code)
    """One thread per ``gx[n, c, h, w]``: sum of gy over the windows whose argmax is here."""
    i = cuda.grid(1)
    if i >= size:
        return
    w = i % W
    t = i // W
    h = t % H
    t //= H
    c = t % C
    n = t // C
    me = h * W + w
    acc = zero
    # NOTE: taps run backwards so the windows come in increasing (oh, ow) order, the order
    # the CPU kernel adds them in: identical sums, not just close ones.
    for kh in range(KH - 1, -1, -1):
        hs = h + PH - kh
        if hs < 0 or hs % SH != 0:
            continue
        oh = hs // SH
        if oh >= OH:
            continue
        for kw in range(KW - 1, -1, -1):
            ws = w + PW - kw
            if ws < 0 or ws % SW != 0:
                continue
            ow = ws // SW
            if ow < OW and argmax[n, c, oh, ow] == me:
                acc += gy[n, c, oh, ow]
    gx[n, c, h, w] = acc


# ----------------------------------------------------------------------------------------
# Host wrappers
# ----------------------------------------------------------------------------------------

def im2col_gpu(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
               DH: int = 1, DW: int = 1) -> Any:
    """CUDA im2col: ``x`` (N, C, H, W) -> ``col`` (N, C, KH, KW, OH, OW), zero padding.

    ``col[n, c, kh, kw, oh, ow] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]``.
    """
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    OH, OW = _output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    col = xp.empty((N, C, KH, KW, OH, OW), dtype=x.dtype)  # (N, C, KH, KW, OH, OW)
    size = col.size
    if size:
        _im2col_kernel[_blocks(size), THREADS_PER_BLOCK](
            x, col, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW, size)
    return col


def col2im_gpu(col: Any, H: int, W: int, SH: int, SW: int, PH: int, PW: int,
               DH: int = 1, DW: int = 1) -> Any:
    """CUDA col2im: ``col`` (N, C, KH, KW, OH, OW) summed back into (N, C, H, W).

    A gather: one thread per input pixel adds the ``col`` entries read from it.
    """
    xp = get_array_module(col)
    col = xp.ascontiguousarray(col)
    N, C, KH, KW, OH, OW = _col_geometry(col, H, W, SH, SW, PH, PW, DH, DW)
    img = xp.empty((N, C, H, W), dtype=col.dtype)  # (N, C, H, W)
    size = img.size
    if size:
        _col2im_kernel[_blocks(size), THREADS_PER_BLOCK](
            col, img, col.dtype.type(0), C, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW,
            size)
    return img


def maxpool2d_forward_gpu(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int,
                          PW: int) -> tuple[Any, Any]:
    """CUDA max pooling of ``x`` (N, C, H, W): ``(y, argmax)``, both (N, C, OH, OW).

    ``argmax`` is int64, flat ``h*W + w`` into the unpadded plane; PyTorch's tie/NaN rule.
    """
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    OH, OW = _pool_output_hw(H, W, KH, KW, SH, SW, PH, PW)
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)  # (N, C, OH, OW)
    argmax = xp.empty((N, C, OH, OW), dtype=np.int64)
    size = y.size
    if size:
        _maxpool_forward_kernel[_blocks(size), THREADS_PER_BLOCK](
            x, y, argmax, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW, size)
    return y, argmax


def maxpool2d_backward_gpu(gy: Any, argmax: Any, H: int, W: int, KH: int, KW: int,
                           SH: int, SW: int, PH: int = 0, PW: int = 0) -> Any:
    """CUDA max pooling backward: ``gy`` (N, C, OH, OW) routed to ``argmax`` -> (N, C, H, W).

    A gather: one thread per input pixel loops over the windows containing it (hence the
    window geometry, as given to the forward) and adds ``gy`` where ``argmax`` is this pixel.
    """
    xp = get_array_module(gy)
    gy = xp.ascontiguousarray(gy)
    argmax = xp.ascontiguousarray(argmax, dtype=np.int64)
    if argmax.shape != gy.shape:
        raise ValueError(f"argmax shape {argmax.shape} differs from gy shape {gy.shape}")
    N, C, OH, OW = gy.shape
    if (OH, OW) != _pool_output_hw(H, W, KH, KW, SH, SW, PH, PW):
        raise ValueError(
            f"gy of shape {gy.shape} does not come from a ({H}, {W}) input with kernel "
            f"({KH}, {KW}), stride ({SH}, {SW}), padding ({PH}, {PW})"
        )
    gx = xp.empty((N, C, H, W), dtype=gy.dtype)  # (N, C, H, W)
    size = gx.size
    if size:
        _maxpool_backward_kernel[_blocks(size), THREADS_PER_BLOCK](
            gy, argmax, gx, gy.dtype.type(0), C, H, W, KH, KW, OH, OW, SH, SW, PH, PW, size)
    return gx
