"""Elementwise activations: ReLU forward and backward.

The rule. ``mask = x > 0``, ``y = x * mask``, ``gx = gy * mask``. NOTE: relu'(0) = 0 (``>``,
never ``>=``), as PyTorch; and ``x * mask`` (not ``max(x, 0)``) keeps NaN as NaN and gives
``-0.0 * 0 = -0.0``, bit for bit the same in both implementations.

Implementations: ``*_reference`` (array-module code, the oracle) and ``*_numba``: one fused
pass over contiguous memory (where NumPy makes two and a temporary), in flat ranges of
``TASK_ELEMENTS`` on minicnn's thread pool. Below ``MIN_SIZE`` elements a kernel call's few
microseconds do not pay, and the reference runs. No CUDA kernel: CuPy takes the reference.
"""
from __future__ import annotations

from typing import Any

import numba
import numpy as np

from minicnn import memory
from minicnn.kernels import implementation
from minicnn.parallel import chunks, parallel_for

MIN_SIZE = 1 << 16
TASK_ELEMENTS = 1 << 18


def relu_forward_reference(x: Any) -> tuple[Any, Any]:
    """``(y, mask)``: ``mask = x > 0``, ``y = x * mask``."""
    mask = x > 0
    return x * mask, mask


def relu_backward_reference(gy: Any, mask: Any) -> Any:
    """``gx = gy * mask``."""
    return gy * mask


@numba.njit(nogil=True, cache=True)
def _relu_forward(x, y, mask, i0, i1):  # pragma: no cover (jitted)
    # NOTE: a multiply, not a branch (a data-dependent branch mispredicts on half the
    # elements). Loops run over views from index 0: with an index of unknown sign Numba adds
    # a wraparound test to every access, which stops LLVM from vectorising.
    xs, ys, ms = x[i0:i1], y[i0:i1], mask[i0:i1]
    for i in range(xs.size):
        v = xs[i]
        keep = v > 0
        ms[i] = keep
        ys[i] = v * keep


@numba.njit(nogil=True, cache=True)
def _relu_backward(gy, mask, gx, i0, i1):  # pragma: no cover (jitted)
    gys, ms, gxs = gy[i0:i1], mask[i0:i1], gx[i0:i1]
    for i in range(gys.size):
        gxs[i] = gys[i] * ms[i]


def relu_forward_numba(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``relu_forward`` of a C-contiguous array in one pass."""
    xf = x.reshape(-1)
    y = memory.empty(xf.shape, xf.dtype)
    mask = memory.empty(xf.shape, np.bool_)
    tasks = chunks(xf.size, TASK_ELEMENTS)
    parallel_for(lambda t: _relu_forward(xf, y, mask, *tasks[t]), len(tasks))
    return y.reshape(x.shape), mask.reshape(x.shape)


def relu_backward_numba(gy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``relu_backward`` in one pass (``gy`` made contiguous, ``mask`` C-ordered)."""
    gyf = np.ascontiguousarray(gy).reshape(-1)
    mf = mask.reshape(-1)
    gx = memory.empty(gyf.shape, gyf.dtype)
    tasks = chunks(gyf.size, TASK_ELEMENTS)
    parallel_for(lambda t: _relu_backward(gyf, mf, gx, *tasks[t]), len(tasks))
    return gx.reshape(gy.shape)


def relu_forward(x: Any) -> tuple[Any, Any]:
    """``(y, mask)`` of ReLU: ``mask = x > 0`` (bool), ``y = x * mask``."""
    if implementation(x, MIN_SIZE) == "numba" and x.flags.c_contiguous:
        return relu_forward_numba(x)
    return relu_forward_reference(x)


def relu_backward(gy: Any, mask: Any) -> Any:
    """``gx = gy * mask`` (``mask`` from ``relu_forward``)."""
    if implementation(gy, MIN_SIZE) == "numba":
        return relu_backward_numba(gy, mask)
    return relu_backward_reference(gy, mask)
