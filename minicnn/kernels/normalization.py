"""Batch normalisation of (N, C, H, W) on the CPU: two fused passes each way, per channel.

NumPy's version makes a dozen passes over the activations each way (mean, variance,
``x - mean``, the scaling, ...) and keeps ``xhat`` (as large as ``x``) for backward. Here:

- forward: pass 1 sums ``x - K`` and ``(x - K)^2`` per channel in float64 (``K``, the
  channel's first value, is a shift that keeps the one-pass variance accurate), pass 2
  writes ``y = (x - mean) * inv_std * gamma + beta``;
- backward: pass 1 sums ``gy`` and ``gy * xhat`` per channel (``xhat`` recomputed from ``x``,
  which the graph holds anyway), pass 2 writes
  ``gx = gamma * inv_std * (gy - sum(gy) / m - xhat * sum(gy * xhat) / m)``.

Channels are split into tasks for minicnn's thread pool (fixed by the shape, so the results
do not depend on the thread count).
"""
from __future__ import annotations

import numba
import numpy as np

from minicnn import memory
from minicnn.parallel import chunks, parallel_for

TASK_ELEMENTS = 1 << 18


# NOTE: a sum in one float64 accumulator is a chain of dependent additions that LLVM may
# not reorder (4 cycles each); allowing reassociation ("reassoc", and FMA contraction) for
# the reductions lets it vectorise them, 6x faster. The order then depends on the compiled
# code only: results are the same for any thread count, run after run.
REDUCE = {"reassoc", "contract"}


@numba.njit(nogil=True, cache=True, fastmath=REDUCE)
def _stats(x, c0, c1, sums, sqsums, shifts):  # pragma: no cover (jitted)
    N = x.shape[0]
    for c in range(c0, c1):
        k = np.float64(x[0, c, 0])
        s = 0.0
        q = 0.0
        for n in range(N):
            plane = x[n, c]
            for i in range(plane.size):
                d = np.float64(plane[i]) - k
                s += d
                q += d * d
        sums[c] = s
        sqsums[c] = q
        shifts[c] = k


@numba.njit(nogil=True, cache=True)
def _normalize(x, y, c0, c1, mean, scale, shift):  # pragma: no cover (jitted)
    """y = (x - mean) * scale + shift per channel, with scale = inv_std * gamma."""
    N = x.shape[0]
    for c in range(c0, c1):
        mu, a, b = mean[c], scale[c], shift[c]
        for n in range(N):
            xs = x[n, c]
            ys = y[n, c]
            for i in range(xs.size):
                ys[i] = (xs[i] - mu) * a + b


@numba.njit(nogil=True, cache=True, fastmath=REDUCE)
def _grad_sums(x, gy, c0, c1, mean, inv_std, sum_gy, sum_gy_xhat):  # pragma: no cover
    N = x.shape[0]
    for c in range(c0, c1):
        mu, s = mean[c], inv_std[c]
        a = 0.0
        b = 0.0
        for n in range(N):
            xs = x[n, c]
            gs = gy[n, c]
            for i in range(xs.size):
                g = np.float64(gs[i])
                a += g
                b += g * ((xs[i] - mu) * s)
        sum_gy[c] = a
        sum_gy_xhat[c] = b


@numba.njit(nogil=True, cache=True)
def _grad_input(x, gy, gx, c0, c1, mean, inv_std, scale, mean_gy, mean_gy_xhat):  # pragma: no cover
    """gx = scale * (gy - mean_gy - xhat * mean_gy_xhat), scale = gamma * inv_std."""
    N = x.shape[0]
    for c in range(c0, c1):
        mu, s, a, b, d = mean[c], inv_std[c], scale[c], mean_gy[c], mean_gy_xhat[c]
        for n in range(N):
            xs = x[n, c]
            gs = gy[n, c]
            out = gx[n, c]
            for i in range(xs.size):
                out[i] = a * (gs[i] - b - ((xs[i] - mu) * s) * d)


def _flat(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (N, C) as (N, C, H*W) (a view of a contiguous array)."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _tasks(shape: tuple) -> list[tuple[int, int]]:
    per_channel = max(1, int(np.prod(shape)) // max(shape[1], 1))
    return chunks(shape[1], TASK_ELEMENTS // per_channel)


def batch_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance of contiguous ``x`` (N, C, ...), in x's dtype."""
    x3 = _flat(x)
    C = x3.shape[1]
    sums, sqsums, shifts = np.empty(C), np.empty(C), np.empty(C)
    tasks = _tasks(x3.shape)
    parallel_for(lambda t: _stats(x3, *tasks[t], sums, sqsums, shifts), len(tasks))
    m = x3.shape[0] * x3.shape[2]
    mean_shifted = sums / m
    var = np.maximum(sqsums / m - mean_shifted * mean_shifted, 0.0)
    return (shifts + mean_shifted).astype(x.dtype), var.astype(x.dtype)


def normalize(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray | None,
              beta: np.ndarray | None) -> np.ndarray:
    """``y = (x - mean) * inv_std * gamma + beta`` per channel of contiguous ``x``."""
    x3 = _flat(x)
    scale = inv_std if gamma is None else inv_std * gamma
    shift = np.zeros_like(scale) if beta is None else beta.astype(scale.dtype, copy=False)
    y = memory.empty(x3.shape, np.result_type(x.dtype, scale.dtype))
    tasks = _tasks(x3.shape)
    parallel_for(lambda t: _normalize(x3, y, *tasks[t], mean, scale, shift), len(tasks))
    return y.reshape(x.shape)


def grad_sums(x: np.ndarray, gy: np.ndarray, mean: np.ndarray, inv_std: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per channel ``sum(gy)`` and ``sum(gy * xhat)`` (float64), xhat = (x - mean) * inv_std."""
    x3, g3 = _flat(x), _flat(gy)
    C = x3.shape[1]
    sum_gy, sum_gy_xhat = np.empty(C), np.empty(C)
    tasks = _tasks(x3.shape)
    parallel_for(lambda t: _grad_sums(x3, g3, *tasks[t], mean, inv_std, sum_gy, sum_gy_xhat),
                 len(tasks))
    return sum_gy, sum_gy_xhat


def grad_input(x: np.ndarray, gy: np.ndarray, mean: np.ndarray, inv_std: np.ndarray,
               gamma: np.ndarray | None, sum_gy: np.ndarray, sum_gy_xhat: np.ndarray
               ) -> np.ndarray:
    """``gx = gamma * inv_std * (gy - sum(gy)/m - xhat * sum(gy*xhat)/m)`` (training mode)."""
    x3, g3 = _flat(x), _flat(gy)
    m = x3.shape[0] * x3.shape[2]
    dtype = gy.dtype
    scale = (inv_std if gamma is None else inv_std * gamma).astype(dtype, copy=False)
    gx = memory.empty(g3.shape, dtype)
    tasks = _tasks(x3.shape)
    mean_gy, mean_gy_xhat = (sum_gy / m).astype(dtype), (sum_gy_xhat / m).astype(dtype)
    parallel_for(lambda t: _grad_input(x3, g3, gx, *tasks[t], mean, inv_std, scale, mean_gy,
                                       mean_gy_xhat), len(tasks))
    return gx.reshape(gy.shape)
