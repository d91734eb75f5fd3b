"""IEEE results without NumPy's floating-point warnings, as PyTorch gives them.

``exp(100)`` in float32 is ``inf``, ``log(0)`` is ``-inf``, ``0 / 0`` and a softmax of a row of
``-inf`` are ``nan``: PyTorch returns these silently, NumPy returns the same values and also
prints "RuntimeWarning: overflow encountered in exp" (or "divide by zero", "invalid value").
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np


def _silenced(method: Callable) -> Callable:
    @functools.wraps(method)
    def run(self: Any, *arrays: Any) -> Any:
        with np.errstate(all="ignore"):
            return method(self, *arrays)

    return run


def quiet(cls: type) -> type:
    """Class decorator: the Function's ``forward`` and ``backward`` run under
    ``np.errstate(all="ignore")``, so that they return IEEE infinities and NaNs without a
    warning, as PyTorch's ops.

    NOTE: used on every op whose NumPy code can warn (exp, log, division, powers, softmax,
    the losses, sums and means, casts, batch norm), but not on the arithmetic operators
    ``+ - *`` and negation: entering ``errstate`` costs about 2 us per call there, where an
    op costs about 15 us, and they warn only on an overflow of finite values (beyond 3.4e38
    in float32) or on ``inf - inf`` and ``0 * inf``.
    """
    for name in ("forward", "backward"):
        setattr(cls, name, _silenced(getattr(cls, name)))
    return cls
