"""Switching graph recording on and off: ``no_grad`` and ``enable_grad``."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class _State:
    enabled = True


def is_grad_enabled() -> bool:
    """True when ops record the graph for backward."""
    return _State.enabled


class _GradMode:
    mode = True

    def __enter__(self) -> None:
        self._prev = _State.enabled
        _State.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        _State.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator: ops inside record no graph (as ``torch.no_grad``)."""

    mode = False


class enable_grad(_GradMode):
    """Context manager and decorator: ops inside record the graph (as ``torch.enable_grad``)."""

    mode = True
