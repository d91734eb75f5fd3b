"""im2col and col2im on the GPU (numba.cuda), for the conv family (``kernels.conv``).

Imported lazily by the entry points only when a CUDA array shows up, so ``import minicnn``
never imports numba.cuda. The kernels take CuPy arrays through the CUDA array interface (and
NumPy arrays under Numba's CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``, which the tests use);
outputs are allocated with the input's array module. One thread per *output* element on a
1-D grid, shapes passed as ints.

col2im is a gather, not a scatter: one thread per input pixel sums the ``col`` entries read
from it, so it needs no atomics and is deterministic; it sums the taps in (kh, kw) order, as
the reference and the CPU kernel do, so all three agree element for element.

NOTE: launches go to Numba's default stream, CuPy's work to CuPy's current stream; both are
the legacy default stream unless a caller changes CuPy's, which keeps them ordered.
"""
from __future__ import annotations

from typing import Any

from numba import cuda

from minicnn.backend import get_array_module
from minicnn.kernels import cuda_grid
from minicnn.kernels.geometry import col_shape, output_hw


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


def im2col(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
           DH: int = 1, DW: int = 1) -> Any:
    """CUDA im2col: ``x`` (N, C, H, W) -> ``col`` (N, C, KH, KW, OH, OW), zero padding."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    OH, OW = output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    col = xp.empty((N, C, KH, KW, OH, OW), dtype=x.dtype)  # (N, C, KH, KW, OH, OW)
    if col.size:
        _im2col_kernel[cuda_grid(col.size)](x, col, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW,
                                            DH, DW, col.size)
    return col


def col2im(col: Any, H: int, W: int, SH: int, SW: int, PH: int, PW: int,
           DH: int = 1, DW: int = 1) -> Any:
    """CUDA col2im: ``col`` (N, C, KH, KW, OH, OW) summed back into (N, C, H, W), a gather."""
    xp = get_array_module(col)
    col = xp.ascontiguousarray(col)
    N, C, KH, KW, OH, OW = col_shape(col, H, W, SH, SW, PH, PW, DH, DW)
    img = xp.empty((N, C, H, W), dtype=col.dtype)  # (N, C, H, W)
    if img.size:
        _col2im_kernel[cuda_grid(img.size)](col, img, col.dtype.type(0), C, H, W, KH, KW, OH,
                                            OW, SH, SW, PH, PW, DH, DW, img.size)
    return img
