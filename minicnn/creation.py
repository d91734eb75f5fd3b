"""Tensor factories: tensor, from_numpy, zeros, ones, full, arange, rand, randn, *_like."""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import DEFAULT_DTYPE, Tensor, _infer_array
from minicnn.random import get_generator


def _make(array: np.ndarray, device: Any, requires_grad: bool) -> Tensor:
    if device is not None:
        array = backend.to_device(array, device)
    return Tensor(array, requires_grad=requires_grad)


def _xp(device: Any) -> Any:
    """The array module of ``device`` (NumPy for None): constant tensors are made there, with
    no host array copied over."""
    if device is None:
        return np
    return (device if isinstance(device, backend.Device) else backend.get_device(device)).xp


def _shape(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: Any = None) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become float32 and ints int64 (as ``torch.tensor``); a NumPy array keeps its
    dtype (float64 stays float64) unless ``dtype`` is given.
    """
    arr = _infer_array(data, dtype)
    arr = arr.copy() if arr is data or (isinstance(data, Tensor) and arr is data.data) else arr
    return _make(arr, device, requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with the NumPy ``array`` (its dtype kept)."""
    return Tensor(array)


def zeros(*size: Any, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given size."""
    return Tensor(_xp(device).zeros(_shape(size), dtype or DEFAULT_DTYPE),
                  requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given size."""
    return Tensor(_xp(device).ones(_shape(size), dtype or DEFAULT_DTYPE),
                  requires_grad=requires_grad)


def full(size: Any, fill_value: float, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of the given size filled with ``fill_value``."""
    return Tensor(_xp(device).full(_shape((size,)), fill_value, dtype or DEFAULT_DTYPE),
                  requires_grad=requires_grad)


def zeros_like(x: Tensor, dtype: Any = None) -> Tensor:
    """Zeros with x's shape, dtype and device."""
    xp = backend.get_array_module(x.data)
    return Tensor(xp.zeros(x.shape, dtype=dtype or x.dtype))


def ones_like(x: Tensor, dtype: Any = None) -> Tensor:
    """Ones with x's shape, dtype and device."""
    xp = backend.get_array_module(x.data)
    return Tensor(xp.ones(x.shape, dtype=dtype or x.dtype))


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for integer arguments."""
    if end is None:
        start, end = 0, start
    arr = np.arange(start, end, step)
    if dtype is None:  # NOTE: float steps give float32 (as PyTorch), not NumPy's float64
        dtype = np.int64 if arr.dtype.kind in "iu" else DEFAULT_DTYPE
    arr = arr.astype(dtype, copy=False)
    return _make(arr, device, False)


def rand(*size: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from minicnn's seeded generator."""
    arr = get_generator().random(_shape(size)).astype(dtype or DEFAULT_DTYPE)
    return _make(arr, device, requires_grad)


def randn(*size: Any, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from minicnn's seeded generator."""
    arr = get_generator().standard_normal(_shape(size)).astype(dtype or DEFAULT_DTYPE)
    return _make(arr, device, requires_grad)
