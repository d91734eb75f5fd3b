"""Checks of arguments, made before anything runs: shared by the ops and the nn layers.

A wrong type raises TypeError, a wrong value ValueError (as PyTorch); each message names the
op or layer, the argument, what was expected and what came. ``True`` is not taken for 1.
A tensor of a dtype an op does not take raises ``DtypeError``.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

# The dtypes of minicnn's kernels (conv, pooling, batch norm, linear, LSTM, ReLU's fast path).
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class DtypeError(TypeError, RuntimeError):
    """A tensor of a dtype the op does not take, or tensors of mixed dtypes.

    A TypeError (Python's convention for a value of the wrong type) that is also a
    RuntimeError (what PyTorch raises there), so either ``except`` clause catches it, as
    NumPy's ``AxisError`` is both a ValueError and an IndexError.
    """


def describe(value: Any) -> str:
    """``value``'s type and repr, for error messages: ``float 2.5``."""
    return f"{type(value).__name__} {value!r}"


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """True for Python and NumPy real numbers (NaN included), False for bools."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _at_least(minimum: int) -> str:
    return {0: "non-negative", 1: "positive"}.get(minimum, f"at least {minimum}")


def check_int(value: Any, name: str, owner: str, minimum: int | None = None) -> int:
    """``value`` as an int, checked to be an integer and at least ``minimum``."""
    if not is_int(value):
        raise TypeError(f"{owner}: {name} must be an int, got {describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} must be {_at_least(minimum)}, got {value}")
    return int(value)


def check_pair(value: Any, name: str, owner: str,
               minimum: int | None = None) -> tuple[int, int]:
    """An int or a pair of ints (each at least ``minimum``) as a pair ``(h, w)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{owner}: {name} must be an int or a pair of ints, got "
                             f"{len(value)} values {value!r}")
        items = tuple(value)
    elif is_int(value):
        items = (value, value)
    else:
        raise TypeError(f"{owner}: {name} must be an int or a pair of ints, got "
                        f"{describe(value)}")
    for v in items:
        if not is_int(v):
            raise TypeError(f"{owner}: {name} must be an int or a pair of ints, got "
                            f"{value!r} (holding {describe(v)})")
    if minimum is not None and min(items) < minimum:
        raise ValueError(f"{owner}: {name} must be {_at_least(minimum)}, got {value!r}")
    return int(items[0]), int(items[1])


def check_real(value: Any, name: str, owner: str, low: float | None = None,
               high: float | None = None) -> float:
    """``value`` as a float, checked to be a real number in ``[low, high]``."""
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number, got {describe(value)}")
    value = float(value)
    if value != value or (low is not None and value < low) or \
            (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"{owner}: {name} must be in {bounds}, got {value}")
    return value


def check_bool(value: Any, name: str, owner: str) -> bool:
    """``value``, checked to be a bool (Python or NumPy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be a bool, got {describe(value)}")
    return bool(value)


def check_dim(dim: Any, ndim: int, name: str, op: str) -> int:
    """The axis ``dim`` of an ``ndim``-D tensor, made non-negative: TypeError unless it is an
    int, IndexError (PyTorch's) unless ``-ndim <= dim < ndim`` (a 0-d tensor takes 0 and -1)."""
    if not is_int(dim):
        raise TypeError(f"{op}: {name} must be an int, got {describe(dim)}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, "
                         f"{n - 1}], but got {dim})")
    return int(dim) % n


def check_shape(shape: Any, op: str) -> tuple[int, ...]:
    """A shape given as ints (``f(2, 3)``) or one sequence of ints (``f((2, 3))``), as a
    tuple; TypeError naming the first entry that is not an int (a float, a bool...)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    for i, s in enumerate(shape):
        if not is_int(s):
            raise TypeError(f"{op}: shape must be a sequence of ints, got {tuple(shape)!r} "
                            f"({describe(s)} at position {i})")
    return tuple(int(s) for s in shape)


def check_float_operands(op: str, **tensors: Any) -> None:
    """Every tensor given (``None`` skipped) float32 or float64, all of one dtype.

    DtypeError otherwise, naming ``op``, each tensor and its dtype: an integer input
    (PyTorch does not promote it), float16 (no kernel of minicnn's takes it) and a float64
    input into a float32 layer (or the reverse) are refused before any work.
    """
    given = {name: t for name, t in tensors.items() if t is not None}
    for name, t in given.items():
        if t.dtype not in FLOAT_DTYPES:
            raise DtypeError(f"{op}: {name} has dtype {t.dtype}, which {op} does not support "
                             "(supported dtypes: float32, float64)")
    if len({t.dtype for t in given.values()}) > 1:
        listing = ", ".join(f"{name} {t.dtype}" for name, t in given.items())
        raise DtypeError(f"{op}: expected {', '.join(given)} of one dtype, got {listing} "
                         "(convert the input with .to(dtype), or the model with .float() or "
                         ".double())")
