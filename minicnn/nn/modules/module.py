"""``Module``: the base class of layers and models, with PyTorch's registration design.

Parameters, buffers and child modules are registered by ``__setattr__`` into three ordered
dicts, so ``parameters()`` and ``state_dict()`` follow definition order (deterministic, and the
same order as the same model written in PyTorch).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import Tensor, zero_grads
from minicnn.nn.modules import hooks
from minicnn.nn.modules import state as _state
from minicnn.nn.modules.parameter import Parameter


def _addindent(s: str, num_spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * num_spaces + line for line in lines[1:])


def _parse_to(args: tuple, device: Any, dtype: Any) -> tuple[Any, Any]:
    """(device, dtype) from ``to``'s arguments: a device name/Device, a dtype, or a Tensor."""
    for a in args:
        if isinstance(a, (str, backend.Device)):
            device = a
        elif isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        else:
            dtype = a
    if device is not None and not isinstance(device, backend.Device):
        device = backend.get_device(device)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":
            raise TypeError(
                f"nn.Module.to only accepts floating point or complex dtypes, but got "
                f"desired dtype={dtype}"
            )
    return device, dtype


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign Parameters, sub-Modules and buffers
    (``register_buffer``) as attributes, and implement ``forward``. ``module(x)`` runs
    ``forward(x)``. ``training`` selects the behaviour of Dropout and BatchNorm; ``train()``
    and ``eval()`` set it for the whole tree.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_hooks or self._forward_pre_hooks:
            return hooks.call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------- hooks
    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any], *,
                              prepend: bool = False) -> hooks.RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward`` of this module (as
        PyTorch); a hook that returns a value replaces the output. ``prepend`` puts it before
        the hooks already registered. Returns a handle: ``handle.remove()`` unregisters it."""
        return hooks.add_hook(self._forward_hooks, hook, prepend)

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any], *,
                                  prepend: bool = False) -> hooks.RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward`` of this module (as PyTorch);
        a hook that returns a value replaces the positional arguments (a tuple, or one
        value). Returns a handle: ``handle.remove()`` unregisters it."""
        return hooks.add_hook(self._forward_pre_hooks, hook, prepend)

    # ----------------------------------------------------------------- registration
    def _check_name(self, name: Any, kind: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None: a declared but absent parameter) as ``name``."""
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(minicnn.nn.Parameter or None required)"
            )
        if param is not None and not param.is_leaf:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` as a buffer: state that is not learnt (e.g. BatchNorm's running
        mean). Persistent buffers are part of ``state_dict()``; all follow ``to()``."""
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(minicnn Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as the child ``name``."""
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(minicnn.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._parameters, self._buffers)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(minicnn.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(minicnn Tensor or None expected)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name: str, *dicts: Any) -> None:
        for d in dicts:
            d.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: parameters, buffers and children live here.
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = list(super().__dir__()) + list(self._parameters) + list(self._buffers)
        return sorted(set(keys + list(self._modules)))

    # ----------------------------------------------------------------- traversal
    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, get: Callable[[Module], Any], prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in get(module).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs, in registration order; shared ones once."""
        return self._named_members(lambda m: m._parameters, prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members(lambda m: m._buffers, prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The descendant at dotted path ``target`` ('' is this module)."""
        module = self
        for item in target.split(".") if target else []:
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = module._modules[item]
        return module

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every child (recursively) and then on this module; return self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Set the training flag of this module and all descendants; return self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """``train(False)``: Dropout passes inputs through, BatchNorm uses running stats."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (default) or to a fresh zero array."""
        zero_grads(self.parameters(), set_to_none)

    # ----------------------------------------------------------------- devices and dtypes
    def _apply_arrays(self, fn: Callable[[Any, bool], Any]) -> Module:
        """Replace, in place, the array of every parameter, gradient and buffer by
        ``fn(array, is_float)``; the Parameter and buffer objects themselves are kept."""
        for module in self.modules():
            for t in list(module._parameters.values()) + list(module._buffers.values()):
                if t is None:
                    continue
                is_float = t.data.dtype.kind in "fc"
                t.data = fn(t.data, is_float)
                if t.grad is not None:
                    t.grad.data = fn(t.grad.data, is_float)
        return self

    def to(self, *args: Any, device: Any = None, dtype: Any = None) -> Module:
        """Move every parameter and buffer to a device and/or cast floating ones to a dtype.

        ``model.to('cuda')``, ``model.to(minicnn.float64)``, ``model.to('cpu', float32)``.
        The change is in place: parameters stay the same objects (an optimizer built before
        still holds them), integer buffers keep their dtype. Returns self.
        """
        device, dtype = _parse_to(args, device, dtype)

        def convert(a: Any, is_float: bool) -> Any:
            if device is not None:
                a = backend.to_device(a, device)
            if dtype is not None and is_float and a.dtype != dtype:
                a = a.astype(dtype)
            return a

        return self._apply_arrays(convert)

    def cuda(self, device: Any = None) -> Module:
        return self.to("cuda" if device is None else device)

    def cpu(self) -> Module:
        return self.to("cpu")

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    def half(self) -> Module:
        return self.to(np.float16)

    # ----------------------------------------------------------------- state dict
    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted key, live Tensor) for every parameter and persistent buffer."""
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = prefix + "." if prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    yield dot + name, p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers_set:
                    yield dot + name, b

    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Every parameter and persistent buffer under its dotted name ('0.weight', 'bn.
        running_mean', ...), as detached Tensors sharing the module's arrays (as PyTorch).

        ``{k: v.numpy() for k, v in sd.items()}`` loads into the same torch architecture.
        """
        out = OrderedDict() if destination is None else destination
        for key, t in self._state_items():
            out[prefix + key] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: bool = True) -> _state.IncompatibleKeys:
        """Copy values (minicnn Tensors, NumPy arrays, or anything ``np.asarray`` accepts,
        e.g. CPU torch tensors) into this module's parameters and buffers, in place.

        Values are copied into the existing arrays, keeping their device and dtype, and each
        change increments the tensor's version. Everything is checked first: missing and
        unexpected keys (when ``strict``), shape mismatches and unusable values (None, text,
        non-integer values for an integer buffer) are reported together in one RuntimeError,
        and then nothing is loaded. Returns ``(missing_keys, unexpected_keys)``.
        """
        return _state.load_state_dict(self, state_dict, strict)

    # ----------------------------------------------------------------- printing
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The module's own settings, shown inside its ``repr`` (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"
