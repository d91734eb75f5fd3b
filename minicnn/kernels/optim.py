"""Optimiser updates, in place on a parameter array and its state: SGD's and Adam's step.

The rules (PyTorch's, as ``minicnn.optim`` documents them), for a parameter ``p``, its
gradient ``g`` (after weight decay, momentum, ``maximize``, which the optimisers apply) and
step ``t``:

    SGD:   p = p - lr * g
    Adam:  m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g^2
           v_max = max(v_max, v)                           (amsgrad; v_max then replaces v)
           p = p + (-lr / (1 - beta1^t) * m) / (sqrt(v) / sqrt(1 - beta2^t) + eps)

NOTE: eps is added after the bias correction of sqrt(v), as PyTorch (DeZero adds it before).

Implementations: ``*_reference`` (array-module code, the oracle) and ``*_numba``: the same
arithmetic, operation for operation and in the parameter's dtype (the scalars cast to it
first, as NumPy does with Python numbers), so the result is bit-for-bit the reference's, in
one pass over memory instead of one per operator (Adam's reference makes about fifteen), in
flat ranges for minicnn's thread pool. Below ``MIN_SIZE`` (SGD) or ``ADAM_MIN_SIZE`` (Adam)
elements, for amsgrad and for non-contiguous or mixed-dtype arrays the reference runs; CuPy
arrays take it too.
"""
from __future__ import annotations

from typing import Any

import numba
import numpy as np

from minicnn.backend import get_array_module
from minicnn.kernels import implementation
from minicnn.parallel import chunks, parallel_for

MIN_SIZE = 1 << 15  # SGD: below, NumPy's two passes beat a kernel call
ADAM_MIN_SIZE = 1 << 8  # Adam: the fused kernel wins from a few hundred elements on
TASK_ELEMENTS = 1 << 18


# ----------------------------------------------------------------------------------------
# Reference (any xp)
# ----------------------------------------------------------------------------------------

def sgd_update_reference(p: Any, g: Any, lr: float) -> None:
    """``p -= lr * g`` in place."""
    p -= lr * g


def lerp_(m: Any, g: Any, w: float) -> None:
    """``m <- m + w * (g - m)`` in place, evaluated as PyTorch's ``lerp_`` does (from the
    nearer end: ``g - (g - m) * (1 - w)`` when ``|w| >= 0.5``)."""
    if abs(w) < 0.5:
        m += w * (g - m)
    else:
        m[...] = g - (g - m) * (1 - w)


def adam_update_reference(p: Any, g: Any, m: Any, v: Any, beta1: float, beta2: float,
                          lr: float, eps: float, step: float, v_max: Any = None) -> None:
    """One Adam step in place on ``p``, ``m``, ``v`` (and ``v_max`` for amsgrad)."""
    xp = get_array_module(p)
    lerp_(m, g, 1 - beta1)
    v *= beta2
    v += (1 - beta2) * g * g
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    step_size = lr / bias_correction1
    if v_max is not None:
        xp.maximum(v_max, v, out=v_max)
        denom = xp.sqrt(v_max) / bias_correction2_sqrt
    else:
        denom = xp.sqrt(v) / bias_correction2_sqrt
    denom += eps
    p += (-step_size * m) / denom


# ----------------------------------------------------------------------------------------
# CPU (Numba)
# ----------------------------------------------------------------------------------------

@numba.njit(nogil=True, cache=True)
def _sgd(p, g, i0, i1, lr):  # pragma: no cover (jitted)
    ps, gs = p[i0:i1], g[i0:i1]
    for i in range(ps.size):
        ps[i] = ps[i] - lr * gs[i]


# NOTE: error_model="numpy": a float division by zero gives inf/nan as in NumPy, instead of
# Numba's default test-and-raise per division, which stops LLVM from vectorising the loop
# (sqrt and division in SIMD: 4-5x faster, bit for bit the same results).
@numba.njit(nogil=True, cache=True, error_model="numpy")
def _adam(p, g, m, v, i0, i1, w1, one_minus_w1, lerp_small, beta2, c2, bc2_sqrt, eps,
          neg_step):  # pragma: no cover (jitted)
    ps, gs, ms, vs = p[i0:i1], g[i0:i1], m[i0:i1], v[i0:i1]
    for i in range(ps.size):
        gi = gs[i]
        mi = ms[i]
        # m.lerp_(g, w1), as PyTorch evaluates it
        if lerp_small:
            mi = mi + w1 * (gi - mi)
        else:
            mi = gi - (gi - mi) * one_minus_w1
        ms[i] = mi
        vi = vs[i] * beta2 + c2 * gi * gi
        vs[i] = vi
        denom = np.sqrt(vi) / bc2_sqrt + eps
        ps[i] = ps[i] + (neg_step * mi) / denom


def sgd_update_numba(p: np.ndarray, g: np.ndarray, lr: float) -> None:
    """``sgd_update`` of a contiguous ``p`` in one pass (``g`` of p's dtype)."""
    pf, gf = p.reshape(-1), np.ascontiguousarray(g).reshape(-1)
    tasks = chunks(pf.size, TASK_ELEMENTS)
    lr_t = p.dtype.type(lr)
    parallel_for(lambda k: _sgd(pf, gf, *tasks[k], lr_t), len(tasks))


def adam_update_numba(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
                      beta1: float, beta2: float, lr: float, eps: float, step: float) -> None:
    """``adam_update`` (no amsgrad) of contiguous ``p``, ``m``, ``v`` in one pass."""
    t = p.dtype.type
    w1 = 1 - beta1
    bias_correction1 = 1 - beta1**step
    bc2_sqrt = (1 - beta2**step) ** 0.5
    pf, gf, mf, vf = (a.reshape(-1) for a in (p, np.ascontiguousarray(g), m, v))
    tasks = chunks(pf.size, TASK_ELEMENTS)
    args = (t(w1), t(1 - w1), abs(w1) < 0.5, t(beta2), t(1 - beta2), t(bc2_sqrt), t(eps),
            t(-(lr / bias_correction1)))
    parallel_for(lambda k: _adam(pf, gf, mf, vf, *tasks[k], *args), len(tasks))


# ----------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------

def _numba(min_size: int, p: Any, g: Any, *state: Any) -> bool:
    """True when the fused kernel runs: NumPy arrays of ``min_size`` elements or more, of one
    dtype, ``p`` and the state C-contiguous (``g`` is copied if it is not)."""
    return (implementation(p, min_size) == "numba"
            and all(type(a) is np.ndarray and a.dtype == p.dtype for a in (g, *state))
            and all(a.flags.c_contiguous for a in (p, *state)))


def sgd_update(p: Any, g: Any, lr: float) -> None:
    """``p -= lr * g`` in place."""
    if _numba(MIN_SIZE, p, g):
        sgd_update_numba(p, g, lr)
    else:
        sgd_update_reference(p, g, lr)


def adam_update(p: Any, g: Any, m: Any, v: Any, beta1: float, beta2: float, lr: float,
                eps: float, step: float, v_max: Any = None) -> None:
    """One Adam step in place on ``p``, ``m``, ``v`` (and ``v_max`` if amsgrad) for the
    gradient ``g`` at step ``step`` (see the module docstring for the formulas)."""
    if v_max is None and _numba(ADAM_MIN_SIZE, p, g, m, v):
        adam_update_numba(p, g, m, v, beta1, beta2, lr, eps, step)
    else:
        adam_update_reference(p, g, m, v, beta1, beta2, lr, eps, step, v_max)
