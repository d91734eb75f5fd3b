"""Forward hooks of ``Module`` (as PyTorch's): functions called around each ``forward``."""
from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_ids = itertools.count()


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` unregisters the hook (also
    on leaving a ``with handle:`` block). Removing twice does nothing."""

    def __init__(self, hooks: OrderedDict[int, Callable]) -> None:
        self.id = next(_ids)
        self._hooks = weakref.ref(hooks)

    def remove(self) -> None:
        hooks = self._hooks()
        if hooks is not None:
            hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def add_hook(hooks: OrderedDict[int, Callable], hook: Callable, prepend: bool) -> RemovableHandle:
    """Register ``hook`` in ``hooks`` (first if ``prepend``) and return its handle."""
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def call_with_hooks(module: Any, args: tuple, kwargs: dict) -> Any:
    """``module.forward(*args, **kwargs)`` with its pre-hooks before and its hooks after.

    A pre-hook ``hook(module, args)`` may return new positional arguments (a tuple, or one
    value that becomes a 1-tuple); a hook ``hook(module, args, output)`` may return a new
    output. ``None`` keeps what was there.
    """
    for hook in tuple(module._forward_pre_hooks.values()):
        result = hook(module, args)
        if result is not None:
            args = result if isinstance(result, tuple) else (result,)
    output = module.forward(*args, **kwargs)
    for hook in tuple(module._forward_hooks.values()):
        result = hook(module, args, output)
        if result is not None:
            output = result
    return output
