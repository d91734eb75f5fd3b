"""Helpers shared by the ops: scalars to arrays, and broadcast gradients summed back."""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import DEFAULT_DTYPE, Tensor, infer_array
from minicnn.ops.checks import check_dim


def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """``g`` summed over the axes that broadcasting added or stretched, so that it has ``shape``.

    If ``y = f(x)`` broadcast ``x`` of ``shape`` up to ``g.shape``, then
    ``dL/dx = sum_to(dL/dy, shape)``.
    """
    if tuple(g.shape) == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1
    )
    g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape) if lead else g


def as_tensor_like(value: Any, ref: Tensor) -> Tensor:
    """``value`` as a Tensor on ``ref``'s device; a Python number takes ``ref``'s float dtype."""
    if isinstance(value, Tensor):
        return value
    xp = backend.get_array_module(ref.data)
    if isinstance(value, (bool, int, float)):
        if ref.dtype.kind == "f":
            dtype = ref.dtype
        elif isinstance(value, float):
            dtype = DEFAULT_DTYPE
        elif isinstance(value, bool) and ref.dtype.kind == "b":
            dtype = np.bool_
        elif ref.dtype.kind == "b":
            dtype = np.int64  # bool tensor + 2 is int64, as PyTorch (not True + True)
        else:
            dtype = ref.dtype
        if xp is np:
            return Tensor(np.array(value, dtype=dtype))  # 5x faster than np.full((), ...)
        # NOTE: xp.full, not xp.asarray: on CuPy asarray(2.0) copies a host buffer to the
        # device (a synchronous transfer in every `x * 2`); full() fills on the device.
        return Tensor(xp.full((), value, dtype=dtype))
    arr = infer_array(value) if not hasattr(value, "dtype") else value
    return Tensor(backend.to_device(arr, backend.device_of(ref.data)))


def normalize_dim(dim: Any, ndim: int, op: str, name: str = "dim") -> Any:
    """``dim`` (an int, a tuple or list of ints, or None) with negative axes made non-negative;
    TypeError for anything else (a float, a bool), IndexError for an axis out of range."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        return tuple(check_dim(d, ndim, name, op) for d in dim)
    return check_dim(dim, ndim, name, op)
