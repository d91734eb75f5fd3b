"""Batch normalisation of (N, C) or (N, C, H, W) arrays, per channel ``c``.

The rule (PyTorch's conventions). With ``m = N*H*W`` values per channel, ``mean`` and ``var``
(biased) their statistics and ``inv_std = 1 / sqrt(var + eps)``:

    xhat = (x - mean) * inv_std,    y = gamma * xhat + beta
    gx = gamma * inv_std * (gy - sum(gy) / m - xhat * sum(gy * xhat) / m)    (training)
    ggamma = sum(gy * xhat),        gbeta = sum(gy)                          (sums over N, H, W)

Entry points: ``batch_stats`` (mean, var), ``normalize`` (y), ``grad_sums`` (sum(gy),
sum(gy * xhat)) and ``grad_input`` (gx in training mode). ``xhat`` is never stored: each
recomputes it from ``x``, ``mean`` and ``inv_std``.

Implementations: ``*_reference`` (array-module code, the oracle) and ``*_numba`` for 4-D
NumPy arrays: two fused passes each way instead of NumPy's dozen, on channel ranges split into
tasks for minicnn's thread pool (fixed by the shape, so results do not depend on the thread
count). The statistics sum ``x - K`` and ``(x - K)^2`` in float64 in one pass (``K``, the
channel's first value, a shift that keeps the one-pass variance accurate). There is no CUDA
kernel: CuPy arrays take the reference.
"""
from __future__ import annotations

from typing import Any

import numba
import numpy as np

from minicnn import memory
from minicnn.kernels import implementation
from minicnn.parallel import chunks, parallel_for

TASK_ELEMENTS = 1 << 18  # elements per task of the Numba kernels (whole channels)


def channel_axes(ndim: int) -> tuple[int, ...]:
    """The axes summed over for per-channel statistics: (0,) or (0, 2, 3)."""
    return (0,) + tuple(range(2, ndim))


def per_channel(v: Any, ndim: int) -> Any:
    """A (C,) vector shaped to broadcast over an ``ndim``-D (N, C, ...) array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


# ----------------------------------------------------------------------------------------
# Reference (any xp)
# ----------------------------------------------------------------------------------------

def batch_stats_reference(x: Any) -> tuple[Any, Any]:
    """Per-channel ``(mean, var)`` of ``x`` (N, C, ...), the variance biased (divided by m)."""
    axes = channel_axes(x.ndim)
    return x.mean(axis=axes), x.var(axis=axes)


def normalize_reference(x: Any, mean: Any, inv_std: Any, gamma: Any, beta: Any) -> Any:
    """``y = (x - mean) * inv_std * gamma + beta`` per channel (gamma, beta may be None)."""
    y = (x - per_channel(mean, x.ndim)) * per_channel(inv_std, x.ndim)  # xhat
    if gamma is not None:
        y = y * per_channel(gamma, x.ndim)
    if beta is not None:
        y = y + per_channel(beta, x.ndim)
    return y


def grad_sums_reference(x: Any, gy: Any, mean: Any, inv_std: Any) -> tuple[Any, Any]:
    """Per channel ``(sum(gy), sum(gy * xhat))`` (float64), ``xhat = (x - mean) * inv_std``."""
    axes = channel_axes(x.ndim)
    xhat = (x - per_channel(mean, x.ndim)) * per_channel(inv_std, x.ndim)
    # NOTE: summed in float64, as the Numba kernel: in float32, the rounding of sum(gy)
    # leaves gx with a nonzero mean per channel, which the next layer's weight gradient
    # multiplies by a sum over the whole batch.
    return gy.sum(axis=axes, dtype=np.float64), (gy * xhat).sum(axis=axes, dtype=np.float64)


def grad_input_reference(x: Any, gy: Any, mean: Any, inv_std: Any, gamma: Any, sum_gy: Any,
                         sum_gy_xhat: Any) -> Any:
    """Training mode ``gx = gamma * inv_std * (gy - sum(gy)/m - xhat * sum(gy*xhat)/m)``."""
    m = x.size // x.shape[1]
    xhat = (x - per_channel(mean, x.ndim)) * per_channel(inv_std, x.ndim)
    scale = inv_std if gamma is None else gamma * inv_std
    mean_gy = (sum_gy / m).astype(gy.dtype, copy=False)  # the sums may be float64
    mean_gy_xhat = (sum_gy_xhat / m).astype(gy.dtype, copy=False)
    return per_channel(scale, x.ndim) * (gy - per_channel(mean_gy, x.ndim)
                                         - xhat * per_channel(mean_gy_xhat, x.ndim))


# ----------------------------------------------------------------------------------------
# CPU (Numba), on (N, C, H*W) views of contiguous 4-D arrays
# ----------------------------------------------------------------------------------------

# NOTE: a sum in one float64 accumulator is a chain of dependent additions that LLVM may
# not reorder (4 cycles each); allowing reassociation ("reassoc", and FMA contraction) for
# the reductions lets it vectorise them. The order then depends on the compiled code only:
# results are the same for any thread count, run after run.
REDUCE = {"reassoc", "contract"}


@numba.njit(nogil=True, cache=True, fastmath=REDUCE)
def _stats(x, c0, c1, sums, sqsums, shifts):  # pragma: no cover (jitted)
    """Per channel c in [c0, c1): shift K = x[0, c, 0], sum(x - K), sum((x - K)^2)."""
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
    """Per channel c in [c0, c1): sum(gy), sum(gy * xhat) in float64."""
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
    """(N, C, H, W) as (N, C, H*W) (a view of a contiguous array)."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _tasks(shape: tuple) -> list[tuple[int, int]]:
    """Channel ranges of about ``TASK_ELEMENTS`` elements (whole channels, at least one)."""
    per_channel_size = max(1, int(np.prod(shape)) // max(shape[1], 1))
    return chunks(shape[1], TASK_ELEMENTS // per_channel_size)


def batch_stats_numba(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``batch_stats`` of a 4-D array by the shifted one-pass float64 sums; x's dtype out."""
    x3 = _flat(np.ascontiguousarray(x))
    C = x3.shape[1]
    sums, sqsums, shifts = np.empty(C), np.empty(C), np.empty(C)
    tasks = _tasks(x3.shape)
    parallel_for(lambda t: _stats(x3, *tasks[t], sums, sqsums, shifts), len(tasks))
    m = x3.shape[0] * x3.shape[2]
    mean_shifted = sums / m
    var = np.maximum(sqsums / m - mean_shifted * mean_shifted, 0.0)
    return (shifts + mean_shifted).astype(x.dtype), var.astype(x.dtype)


def normalize_numba(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray,
                    gamma: np.ndarray | None, beta: np.ndarray | None) -> np.ndarray:
    """``normalize`` of a 4-D array in one pass: ``(x - mean) * (inv_std * gamma) + beta``."""
    x3 = _flat(np.ascontiguousarray(x))
    scale = inv_std if gamma is None else inv_std * gamma
    shift = np.zeros_like(scale) if beta is None else beta.astype(scale.dtype, copy=False)
    y = memory.empty(x3.shape, np.result_type(x.dtype, scale.dtype))
    tasks = _tasks(x3.shape)
    parallel_for(lambda t: _normalize(x3, y, *tasks[t], mean, scale, shift), len(tasks))
    return y.reshape(x.shape)


def grad_sums_numba(x: np.ndarray, gy: np.ndarray, mean: np.ndarray, inv_std: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``grad_sums`` of 4-D arrays in one pass, summed in float64 (float64 out)."""
    x3, g3 = _flat(np.ascontiguousarray(x)), _flat(np.ascontiguousarray(gy))
    C = x3.shape[1]
    sum_gy, sum_gy_xhat = np.empty(C), np.empty(C)
    tasks = _tasks(x3.shape)
    parallel_for(lambda t: _grad_sums(x3, g3, *tasks[t], mean, inv_std, sum_gy, sum_gy_xhat),
                 len(tasks))
    return sum_gy, sum_gy_xhat


def grad_input_numba(x: np.ndarray, gy: np.ndarray, mean: np.ndarray, inv_std: np.ndarray,
                     gamma: np.ndarray | None, sum_gy: np.ndarray, sum_gy_xhat: np.ndarray
                     ) -> np.ndarray:
    """``grad_input`` of 4-D arrays in one pass (the sums divided by m in float64)."""
    x3, g3 = _flat(np.ascontiguousarray(x)), _flat(np.ascontiguousarray(gy))
    m = x3.shape[0] * x3.shape[2]
    dtype = gy.dtype
    scale = (inv_std if gamma is None else inv_std * gamma).astype(dtype, copy=False)
    gx = memory.empty(g3.shape, dtype)
    tasks = _tasks(x3.shape)
    mean_gy, mean_gy_xhat = (sum_gy / m).astype(dtype), (sum_gy_xhat / m).astype(dtype)
    parallel_for(lambda t: _grad_input(x3, g3, gx, *tasks[t], mean, inv_std, scale, mean_gy,
                                       mean_gy_xhat), len(tasks))
    return gx.reshape(gy.shape)


# ----------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------

def _numba(x: Any) -> bool:
    # NOTE: 4-D only: the kernels run over each channel's contiguous H*W planes; a 2-D
    # (N, C) input has one value per channel and sample, where they would not pay.
    return x.ndim == 4 and implementation(x) == "numba"


def batch_stats(x: Any) -> tuple[Any, Any]:
    """Per-channel ``(mean, var)`` of ``x`` (N, C) or (N, C, H, W), biased var, x's dtype."""
    return batch_stats_numba(x) if _numba(x) else batch_stats_reference(x)


def normalize(x: Any, mean: Any, inv_std: Any, gamma: Any, beta: Any) -> Any:
    """``y = (x - mean) * inv_std * gamma + beta`` per channel (gamma, beta may be None)."""
    if _numba(x):
        return normalize_numba(x, mean, inv_std, gamma, beta)
    return normalize_reference(x, mean, inv_std, gamma, beta)


def grad_sums(x: Any, gy: Any, mean: Any, inv_std: Any) -> tuple[Any, Any]:
    """Per channel ``(sum(gy), sum(gy * xhat))`` in float64, ``xhat = (x - mean) * inv_std``."""
    if _numba(x):
        return grad_sums_numba(x, gy, mean, inv_std)
    return grad_sums_reference(x, gy, mean, inv_std)


def grad_input(x: Any, gy: Any, mean: Any, inv_std: Any, gamma: Any, sum_gy: Any,
               sum_gy_xhat: Any) -> Any:
    """Training mode ``gx = gamma * inv_std * (gy - sum(gy)/m - xhat * sum(gy*xhat)/m)``, from
    the sums of ``grad_sums``."""
    if _numba(x):
        return grad_input_numba(x, gy, mean, inv_std, gamma, sum_gy, sum_gy_xhat)
    return grad_input_reference(x, gy, mean, inv_std, gamma, sum_gy, sum_gy_xhat)
