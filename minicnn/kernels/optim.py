"""Fused optimiser updates on the CPU: one pass over a parameter and its state.

Plain SGD's ``p -= lr * g`` is two passes and a temporary in NumPy, one here.

NumPy's Adam makes about fifteen passes over each parameter per step (every ``m - g``,
``w * ...``, ``sqrt``, ``/`` is a pass and a temporary); for the crack CNN's 6.4 M-weight
dense layer that is most of the optimiser's time. The kernel below does the same arithmetic,
operation for operation and in the parameter's dtype (the scalars are cast to it first, as
NumPy does with Python numbers), so its result is bit-for-bit NumPy's, in one pass, split
into flat ranges for minicnn's thread pool.
"""
from __future__ import annotations

import numba
import numpy as np

from minicnn.parallel import chunks, parallel_for

PARALLEL_MIN = 1 << 15
TASK_ELEMENTS = 1 << 18


@numba.njit(nogil=True, cache=True)
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


def adam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, beta1: float,
                beta2: float, lr: float, eps: float, step: float) -> None:
    """One Adam step in place on contiguous ``p``, ``m``, ``v`` (``g`` the gradient):

        m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
        p = p + (-lr / (1 - beta1^t) * m) / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    t = p.dtype.type
    w1 = 1 - beta1
    bias_correction1 = 1 - beta1**step
    bc2_sqrt = (1 - beta2**step) ** 0.5
    pf, gf, mf, vf = (a.reshape(-1) for a in (p, np.ascontiguousarray(g, p.dtype), m, v))
    tasks = chunks(pf.size, TASK_ELEMENTS)
    args = (t(w1), t(1 - w1), abs(w1) < 0.5, t(beta2), t(1 - beta2), t(bc2_sqrt), t(eps),
            t(-(lr / bias_correction1)))
    parallel_for(lambda k: _adam(pf, gf, mf, vf, *tasks[k], *args), len(tasks))


@numba.njit(nogil=True, cache=True)
def _sgd(p, g, i0, i1, lr):  # pragma: no cover (jitted)
    ps, gs = p[i0:i1], g[i0:i1]
    for i in range(ps.size):
        ps[i] = ps[i] - lr * gs[i]


def sgd_update(p: np.ndarray, g: np.ndarray, lr: float) -> None:
    """``p -= lr * g`` in place on contiguous ``p`` (bit-for-bit NumPy's, in one pass)."""
    pf, gf = p.reshape(-1), np.ascontiguousarray(g, p.dtype).reshape(-1)
    tasks = chunks(pf.size, TASK_ELEMENTS)
    lr_t = p.dtype.type(lr)
    parallel_for(lambda k: _sgd(pf, gf, *tasks[k], lr_t), len(tasks))
