"""Checks of the layers' constructor arguments, made before anything is built.

A wrong type raises TypeError, a wrong value ValueError (as PyTorch); each message names the
layer, the argument, what was expected and what came. ``True`` is not taken for 1.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, name: str, owner: str, minimum: int | None = None) -> int:
    """``value`` as an int, checked to be an integer and at least ``minimum``."""
    if not is_int(value):
        raise TypeError(f"{owner}: {name} must be an int, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} must be at least {minimum}, got {value}")
    return int(value)


def check_pair(value: Any, name: str, owner: str, minimum: int) -> tuple[int, int]:
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
                        f"{_describe(value)}")
    for v in items:
        if not is_int(v):
            raise TypeError(f"{owner}: {name} must be an int or a pair of ints, got "
                            f"{value!r} (holding {_describe(v)})")
        if v < minimum:
            raise ValueError(f"{owner}: {name} must be at least {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def check_real(value: Any, name: str, owner: str, low: float | None = None,
               high: float | None = None) -> float:
    """``value`` as a float, checked to be a real number in ``[low, high]``."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be a real number, got {_describe(value)}")
    value = float(value)
    if value != value or (low is not None and value < low) or \
            (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"{owner}: {name} must be in {bounds}, got {value}")
    return value


def check_bool(value: Any, name: str, owner: str) -> bool:
    """``value``, checked to be a bool (Python or NumPy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be a bool, got {_describe(value)}")
    return bool(value)
