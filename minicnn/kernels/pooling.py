"""2-D pooling: max pooling (values and the saved argmax, and the backward that routes ``gy``
to it), and average pooling.

The rule. Max pooling: ``y[n, c, oh, ow]`` is the maximum of ``x[n, c]`` over the window of
rows ``oh*SH - PH .. oh*SH - PH + KH - 1`` and columns ``ow*SW - PW .. ow*SW - PW + KW - 1``;
``argmax[n, c, oh, ow]`` (int64) is the flat index ``h*W + w`` of that maximum in the
*unpadded* input plane, as ``torch.nn.functional.max_pool2d(..., return_indices=True)``.
Output sizes round down (``ceil_mode=False``; ``geometry.pool_output_hw``). PyTorch's
selection rule, followed exactly by all three implementations:

- padding acts as ``-inf`` and is never selected;
- the window's first in-bounds element is the initial candidate (so a window of ``-inf``
  points at its first real element);
- a later element replaces the candidate if ``v > max`` (strict: on ties the first in
  row-major window order wins) or if ``v`` is NaN (so NaN propagates, and the *last* NaN of
  a window is the one selected).

Backward: ``gx[n, c].flat[argmax[n, c, oh, ow]] += gy[n, c, oh, ow]``, summed where windows
overlap. Implementations: ``*_reference`` here (array-module code, the oracle), the Numba
kernels here (the N*C planes split into tasks for minicnn's thread pool), and
``pooling_cuda``.

Average pooling (``count_include_pad=True``, PyTorch's default): ``y`` is the mean of the
KH*KW window of the zero-padded input, ``gx = col2im(gy / (KH*KW) spread over each window)``;
array-module code on the conv family's ``im2col`` / ``col2im`` entry points (which pick their
own implementation).
"""
from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from minicnn import memory
from minicnn.backend import get_array_module
from minicnn.kernels import conv, implementation
from minicnn.kernels.geometry import pool_gy_shape, pool_output_hw
from minicnn.parallel import chunks, parallel_for

TASK_ELEMENTS = 1 << 17  # input elements per task of the Numba kernels


# ----------------------------------------------------------------------------------------
# Reference (any xp)
# ----------------------------------------------------------------------------------------

def maxpool2d_forward_reference(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int,
                                PW: int) -> tuple[Any, Any]:
    """Max pooling of ``x`` (N, C, H, W): ``(y, argmax)``, both (N, C, OH, OW).

    A loop over the kernel taps; each tap's strided slice of the ``-inf``-padded input
    replaces the running maximum where PyTorch's rule says so (see the module docstring).
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = pool_output_hw(H, W, KH, KW, SH, SW, PH, PW)
    img = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)),
                 constant_values=-np.inf)  # (N, C, H + 2PH, W + 2PW)
    y = xp.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
    argmax = xp.full((N, C, OH, OW), -1, dtype=np.int64)
    for kh in range(KH):
        h = xp.arange(OH) * SH - PH + kh  # (OH,) input row of this tap, per output row
        for kw in range(KW):
            w = xp.arange(OW) * SW - PW + kw  # (OW,)
            inside = ((h >= 0) & (h < H))[:, None] & ((w >= 0) & (w < W))[None, :]
            v = img[:, :, kh:kh + SH * (OH - 1) + 1:SH,
                    kw:kw + SW * (OW - 1) + 1:SW]  # (N, C, OH, OW)
            # NOTE: strict > keeps the first of equal maxima; isnan lets NaN through.
            take = inside & ((argmax < 0) | (v > y) | xp.isnan(v))
            y = xp.where(take, v, y)
            argmax = xp.where(take, h[:, None] * W + w[None, :], argmax)
    return y, argmax


def maxpool2d_backward_reference(gy: Any, argmax: Any, H: int, W: int) -> Any:
    """Max pooling backward: ``gy`` (N, C, OH, OW) routed to ``argmax`` -> ``gx`` (N, C, H, W).

    A weighted ``bincount`` over the flat input index of every output element.
    """
    xp = get_array_module(gy)
    N, C = gy.shape[:2]
    plane = xp.arange(N * C, dtype=np.int64).reshape(N, C, 1, 1) * (H * W)
    flat = (plane + argmax).ravel()  # (N*C*OH*OW,) indices into gx.ravel()
    # NOTE: bincount accumulates in float64 whatever gy's dtype (then cast back).
    gx = xp.bincount(flat, weights=gy.ravel(), minlength=N * C * H * W)
    return gx.astype(gy.dtype, copy=False).reshape(N, C, H, W)  # (N, C, H, W)


# ----------------------------------------------------------------------------------------
# CPU (Numba)
# ----------------------------------------------------------------------------------------

@numba.njit(nogil=True, cache=True)
def _maxpool_planes(x, y, argmax, p0, p1, KH, KW, SH, SW, PH, PW):  # pragma: no cover
    """Max pooling of the planes ``x[p0:p1]`` (P, H, W) into ``y``, ``argmax`` (P, OH, OW)."""
    _, H, W = x.shape
    OH = y.shape[1]
    OW = y.shape[2]
    fast = KH == 2 and KW == 2 and SH == 2 and SW == 2 and PH == 0 and PW == 0
    for p in range(p0, p1):
        if fast:
            # NOTE: the common 2x2 window without data-dependent branches (they mispredict):
            # the maximum first, then the first element (in row-major window order) equal to
            # it, which is the strict-> rule's pick. A plane holding a NaN (or both
            # infinities) is redone by the general rule below.
            anynan = False
            for oh in range(OH):
                h = 2 * oh
                for ow in range(OW):
                    w = 2 * ow
                    a = x[p, h, w]
                    b = x[p, h, w + 1]
                    c = x[p, h + 1, w]
                    d = x[p, h + 1, w + 1]
                    m = max(max(a, b), max(c, d))
                    total = a + b + c + d
                    anynan |= math.isnan(total)
                    k = 3
                    k = 2 if c == m else k
                    k = 1 if b == m else k
                    k = 0 if a == m else k
                    y[p, oh, ow] = m
                    argmax[p, oh, ow] = (h + (k >> 1)) * W + w + (k & 1)
            if not anynan:
                continue
        for oh in range(OH):
            for ow in range(OW):
                best = x[p, 0, 0]  # overwritten by the first in-bounds tap (idx < 0)
                idx = -1
                for kh in range(KH):
                    h = oh * SH - PH + kh
                    if h < 0 or h >= H:
                        continue
                    for kw in range(KW):
                        w = ow * SW - PW + kw
                        if w < 0 or w >= W:
                            continue
                        v = x[p, h, w]
                        # NOTE: PyTorch's rule: strict > (first maximum wins), NaN wins.
                        if idx < 0 or v > best or math.isnan(v):
                            best = v
                            idx = h * W + w
                y[p, oh, ow] = best
                argmax[p, oh, ow] = idx


@numba.njit(nogil=True, cache=True)
def _maxpool_backward_planes(gy, argmax, gx, p0, p1):  # pragma: no cover (jitted)
    """Add ``gy[p0:p1]`` (P, OH, OW) into the planes ``gx[p0:p1]`` (P, H*W) at ``argmax``."""
    _, OH, OW = gy.shape
    # NOTE: one plane belongs to one task, so no atomics; windows are added in row-major
    # (oh, ow) order, the order the GPU gather sums them in.
    for p in range(p0, p1):
        plane = gx[p]  # (H*W,): a view, so the zeroing is one vectorised loop
        plane[:] = 0
        g = gy[p]
        a = argmax[p]
        for oh in range(OH):
            for ow in range(OW):
                plane[a[oh, ow]] += g[oh, ow]


def maxpool2d_forward_numba(x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int,
                            PW: int) -> tuple[np.ndarray, np.ndarray]:
    """Numba max pooling of ``x`` (N, C, H, W): ``(y, argmax)``, both (N, C, OH, OW)."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    OH, OW = pool_output_hw(H, W, KH, KW, SH, SW, PH, PW)
    y = memory.empty((N * C, OH, OW), x.dtype)  # (N*C, OH, OW)
    argmax = memory.empty((N * C, OH, OW), np.int64)
    planes = x.reshape(N * C, H, W)
    tasks = chunks(N * C, TASK_ELEMENTS // (H * W))
    parallel_for(lambda t: _maxpool_planes(planes, y, argmax, *tasks[t], KH, KW, SH, SW, PH,
                                           PW), len(tasks))
    return y.reshape(N, C, OH, OW), argmax.reshape(N, C, OH, OW)  # (N, C, OH, OW)


def maxpool2d_backward_numba(gy: np.ndarray, argmax: np.ndarray, H: int,
                             W: int) -> np.ndarray:
    """Numba max pooling backward: ``gy`` (N, C, OH, OW) added at ``argmax`` -> (N, C, H, W)."""
    gy = np.ascontiguousarray(gy)
    argmax = np.ascontiguousarray(argmax, dtype=np.int64)
    N, C, OH, OW = gy.shape
    gx = memory.empty((N * C, H * W), gy.dtype)  # (N*C, H*W)
    gy_planes, argmax_planes = gy.reshape(N * C, OH, OW), argmax.reshape(N * C, OH, OW)
    tasks = chunks(N * C, TASK_ELEMENTS // (H * W))
    parallel_for(lambda t: _maxpool_backward_planes(gy_planes, argmax_planes, gx, *tasks[t]),
                 len(tasks))
    return gx.reshape(N, C, H, W)  # (N, C, H, W)


# ----------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------

def maxpool2d_forward(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int,
                      PW: int) -> tuple[Any, Any]:
    """Max pooling of ``x`` (N, C, H, W): ``(y, argmax)``, both (N, C, OH, OW), with
    ``OH = (H + 2*PH - KH) // SH + 1`` (likewise OW); padding at most half the kernel and
    acting as ``-inf``; ``argmax`` (int64) is ``h*W + w`` in the unpadded plane."""
    impl = implementation(x)
    if impl == "numba":
        return maxpool2d_forward_numba(x, KH, KW, SH, SW, PH, PW)
    if impl == "cuda":
        from minicnn.kernels import pooling_cuda  # lazy: numba.cuda only for GPU arrays

        return pooling_cuda.maxpool2d_forward(x, KH, KW, SH, SW, PH, PW)
    xp = get_array_module(x)
    return maxpool2d_forward_reference(xp.ascontiguousarray(x), KH, KW, SH, SW, PH, PW)


def maxpool2d_backward(gy: Any, argmax: Any, H: int, W: int, KH: int, KW: int, SH: int,
                       SW: int, PH: int, PW: int) -> Any:
    """Max pooling backward: ``gx[n, c].flat[argmax[n, c, oh, ow]] += gy[n, c, oh, ow]``, for
    an ``H x W`` input pooled with the given window (the GPU gather needs it)."""
    pool_gy_shape(gy, argmax, H, W, KH, KW, SH, SW, PH, PW)
    impl = implementation(gy)
    if impl == "numba":
        return maxpool2d_backward_numba(gy, argmax, H, W)
    if impl == "cuda":
        from minicnn.kernels import pooling_cuda  # lazy: numba.cuda only for GPU arrays

        return pooling_cuda.maxpool2d_backward(gy, argmax, H, W, KH, KW, SH, SW, PH, PW)
    return maxpool2d_backward_reference(gy, argmax, H, W)


def avgpool2d_forward(x: Any, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int) -> Any:
    """Average pooling of ``x`` (N, C, H, W) -> (N, C, OH, OW): the mean of each KH x KW
    window of the zero-padded input (padding counted)."""
    col = conv.im2col(x, KH, KW, SH, SW, PH, PW)  # (N, C, KH, KW, OH, OW)
    return col.mean(axis=(2, 3))


def avgpool2d_backward(gy: Any, H: int, W: int, KH: int, KW: int, SH: int, SW: int, PH: int,
                       PW: int) -> Any:
    """Average pooling backward: ``gy / (KH*KW)`` spread over each window and summed back
    into the ``H x W`` input by col2im."""
    xp = get_array_module(gy)
    N, C, OH, OW = gy.shape
    gcol = xp.broadcast_to((gy / (KH * KW))[:, :, None, None], (N, C, KH, KW, OH, OW))
    return conv.col2im(xp.ascontiguousarray(gcol), H, W, SH, SW, PH, PW)
