"""Tensor factories: tensor, from_numpy, zeros, ones, full, arange, rand, randn, *_like.

Sizes are checked before anything is made: a size that is not an int (``zeros(2.5)``,
``zeros(True)``) is a TypeError, a negative one a ValueError, each naming the function.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import DEFAULT_DTYPE, Tensor, infer_array
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


def _shape(size: tuple, fn: str) -> tuple[int, ...]:
    """``size`` (ints, or one tuple/list of ints) as a shape, checked."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for s in size:
        if not isinstance(s, numbers.Integral) or isinstance(s, (bool, np.bool_)):
            raise TypeError(f"{fn}(): size must be a sequence of ints, but found element of "
                            f"type {type(s).__name__} ({s!r}) in {tuple(size)!r}")
        if s < 0:
            raise ValueError(f"{fn}(): size must not be negative, got {tuple(size)!r}")
    return tuple(int(s) for s in size)


def _dtype(dtype: Any, fn: str) -> np.dtype:
    """``dtype`` as a NumPy dtype (float32 for None), or a TypeError naming ``fn``."""
    if dtype is None:
        return DEFAULT_DTYPE
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fn}(): dtype must be a dtype such as minicnn.float32, got "
                        f"{type(dtype).__name__} {dtype!r}") from None


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: Any = None) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become float32 and ints int64 (as ``torch.tensor``); a NumPy array keeps its
    dtype (float64 stays float64) unless ``dtype`` is given.
    """
    arr = infer_array(data, dtype)
    arr = arr.copy() if arr is data or (isinstance(data, Tensor) and arr is data.data) else arr
    return _make(arr, device, requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with the NumPy ``array`` (its dtype kept)."""
    return Tensor(array)


def zeros(*size: Any, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given size."""
    return Tensor(_xp(device).zeros(_shape(size, "zeros"), _dtype(dtype, "zeros")),
                  requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given size."""
    return Tensor(_xp(device).ones(_shape(size, "ones"), _dtype(dtype, "ones")),
                  requires_grad=requires_grad)


def full(size: Any, fill_value: float, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of the given size filled with ``fill_value``."""
    if not isinstance(fill_value, (numbers.Number, np.bool_)):
        raise TypeError(f"full(): fill_value must be a number, got "
                        f"{type(fill_value).__name__} {fill_value!r}")
    shape = _shape(size if isinstance(size, (tuple, list)) else (size,), "full")
    return Tensor(_xp(device).full(shape, fill_value, _dtype(dtype, "full")),
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
    for name, value in (("start", start), ("end", end), ("step", step)):
        if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
            raise TypeError(f"arange(): {name} must be a real number, got "
                            f"{type(value).__name__} {value!r}")
    if step == 0:
        raise ValueError("arange(): step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange(): upper bound and larger bound inconsistent with step sign "
                         f"(start={start}, end={end}, step={step})")
    arr = np.arange(start, end, step)
    if dtype is None:  # NOTE: float steps give float32 (as PyTorch), not NumPy's float64
        dtype = np.int64 if arr.dtype.kind in "iu" else DEFAULT_DTYPE
    arr = arr.astype(dtype, copy=False)
    return _make(arr, device, False)


def rand(*size: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from minicnn's seeded generator."""
    shape, dtype = _shape(size, "rand"), _dtype(dtype, "rand")
    arr = get_generator().random(shape).astype(dtype)
    return _make(arr, device, requires_grad)


def randn(*size: Any, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from minicnn's seeded generator."""
    shape, dtype = _shape(size, "randn"), _dtype(dtype, "randn")
    arr = get_generator().standard_normal(shape).astype(dtype)
    return _make(arr, device, requires_grad)
