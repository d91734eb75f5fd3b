"""Max pooling on the GPU (numba.cuda), for the pooling family (``kernels.pooling``).

Imported lazily by the entry points only when a CUDA array shows up (see ``conv_cuda`` for
the conventions: CuPy arrays through the CUDA array interface, NumPy under the simulator, one
thread per output element). The backward is a gather: one thread per input pixel loops over
the windows containing it and adds ``gy`` where the window's ``argmax`` is this pixel; no
atomics, and the windows are added in the CPU kernel's order.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from minicnn.backend import get_array_module
from minicnn.kernels import cuda_grid
from minicnn.kernels.geometry import pool_gy_shape, pool_output_hw


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


def maxpool2d_forward(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int,
                      PW: int) -> tuple[Any, Any]:
    """CUDA max pooling of ``x`` (N, C, H, W): ``(y, argmax)``, both (N, C, OH, OW)."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    OH, OW = pool_output_hw(H, W, KH, KW, SH, SW, PH, PW)
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)  # (N, C, OH, OW)
    argmax = xp.empty((N, C, OH, OW), dtype=np.int64)
    if y.size:
        _maxpool_forward_kernel[cuda_grid(y.size)](x, y, argmax, C, H, W, KH, KW, OH, OW, SH,
                                                   SW, PH, PW, y.size)
    return y, argmax


def maxpool2d_backward(gy: Any, argmax: Any, H: int, W: int, KH: int, KW: int, SH: int,
                       SW: int, PH: int, PW: int) -> Any:
    """CUDA max pooling backward: ``gy`` (N, C, OH, OW) routed to ``argmax`` -> (N, C, H, W)."""
    xp = get_array_module(gy)
    gy = xp.ascontiguousarray(gy)
    argmax = xp.ascontiguousarray(argmax, dtype=np.int64)
    N, C, OH, OW = pool_gy_shape(gy, argmax, H, W, KH, KW, SH, SW, PH, PW)
    gx = xp.empty((N, C, H, W), dtype=gy.dtype)  # (N, C, H, W)
    if gx.size:
        _maxpool_backward_kernel[cuda_grid(gx.size)](gy, argmax, gx, gy.dtype.type(0), C, H,
                                                     W, KH, KW, OH, OW, SH, SW, PH, PW,
                                                     gx.size)
    return gx
