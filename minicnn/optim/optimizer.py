"""``Optimizer``: parameter groups, per-parameter state, zero_grad and state_dict.

Optimisers update ``p.data`` in place with the array module of the data (NumPy or CuPy) and
never write into ``p.grad.data`` (a gradient array may be shared); parameters whose ``grad``
is None are skipped. The per-parameter state (momentum buffers, moments) is raw arrays kept on
the parameter's device and in its dtype: after ``model.to(...)`` they follow the parameter at
the next ``step()``.

Two things are done here once for every subclass (``__init_subclass__``), so that a subclass
needs no code for them: its constructor's hyper-parameters are type-checked before it runs
(``lr='0.1'`` is a TypeError naming ``lr``), and its ``step`` increments the version of every
parameter it may have changed (those with a gradient), so that a backward through a graph
that saved a parameter before the step raises instead of using the new values.
"""
from __future__ import annotations

import copy
import functools
import inspect
import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.grad_mode import enable_grad
from minicnn.autograd.tensor import Tensor, increment_version, zero_grads


class _RequiredParameter:
    """Marks a hyper-parameter without a default (e.g. a group's ``lr``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Tensor) \
        and not isinstance(value, (int, float))


# The hyper-parameters checked by type wherever they appear (constructors, param groups).
REAL_HYPERPARAMETERS = {"lr", "momentum", "dampening", "weight_decay", "eps", "alpha",
                        "lr_decay", "rho", "initial_accumulator_value"}
BOOL_HYPERPARAMETERS = {"nesterov", "amsgrad", "maximize", "decoupled_weight_decay",
                        "centered", "foreach", "capturable", "differentiable", "fused"}


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_hyperparameter(owner: str, name: str, value: Any, where: str = "") -> None:
    """TypeError unless ``value`` has the type of hyper-parameter ``name``: a real number (not
    a bool), a bool, or for ``betas`` a pair of real numbers. Other names are not checked."""
    if name in REAL_HYPERPARAMETERS and not _is_real(value):
        expected = "a real number"
    elif name in BOOL_HYPERPARAMETERS and value is not None and \
            not isinstance(value, (bool, np.bool_)):
        expected = "a bool"
    elif name == "betas" and not (isinstance(value, (tuple, list)) and len(value) == 2
                                  and all(_is_real(b) for b in value)):
        expected = "a pair of real numbers"
    else:
        return
    raise TypeError(f"{owner}: {name}{where} must be {expected}, got "
                    f"{type(value).__name__} {value!r}")


def _checking_init(init: Callable) -> Callable:
    """``init`` preceded by the type checks of the hyper-parameters it is given."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{type(self).__name__}: {exc}") from None
        for name, value in bound.arguments.items():
            check_hyperparameter(type(self).__name__, name, value)
        init(self, *args, **kwargs)

    return wrapper


def _versioning_step(step: Callable) -> Callable:
    """``step`` followed by a version increment of every parameter that has a gradient."""
    if getattr(step, "_increments_versions", False):
        return step

    @functools.wraps(step)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        try:
            return step(self, *args, **kwargs)
        finally:
            # NOTE: in ``finally``: a step that fails half-way may have changed some already.
            increment_version(*(p for group in self.param_groups for p in group["params"]
                                if p.grad is not None))

    wrapper._increments_versions = True  # type: ignore[attr-defined]
    return wrapper


def _check_state_value(owner: str, index: Any, name: str, value: Any, p: Tensor) -> None:
    """A saved state entry must be None, a number, or a numeric array of ``p``'s shape (a 0-d
    array only for a counter such as ``step``, or for a 0-d parameter)."""
    if isinstance(value, Tensor):
        value = value.data
    if value is None or _is_real(value) or isinstance(value, (bool, np.bool_)):
        return
    if not _is_array(value):
        raise TypeError(f"{owner}: state '{name}' of parameter {index} must be an array or a "
                        f"number, got {type(value).__name__}")
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: state '{name}' of parameter {index} has dtype "
                        f"{value.dtype}, not a numeric one")
    shape = tuple(value.shape)
    if shape != p.shape and not (shape == () and name == "step"):
        raise ValueError(f"{owner}: state '{name}' of parameter {index} has shape {shape}, but "
                         f"the parameter has shape {p.shape}")


def _copy_value(value: Any) -> Any:
    """A copy of a state value: arrays with ``.copy()``, the rest deep-copied."""
    if _is_array(value):
        return value.copy()
    return copy.deepcopy(value)


class Optimizer:
    """Base class: holds ``param_groups`` (a list of dicts, each with 'params' and its own
    hyper-parameters, defaults filled from ``defaults``) and ``state`` (a dict from Parameter
    to that parameter's dict of arrays and counters).

    ``params`` is an iterable of Parameters, or of dicts such as
    ``[{'params': model[0].parameters()}, {'params': model[2].parameters(), 'lr': 1e-2}]``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _checking_init(cls.__dict__["__init__"])  # type: ignore[method-assign]
        if "step" in cls.__dict__:
            cls.step = _versioning_step(cls.__dict__["step"])  # type: ignore[method-assign]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            # NOTE: stricter than PyTorch, which accepts a set here: a set's order changes
            # between runs, and so would the state_dict's parameter indices.
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(dict(group))

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (e.g. layers unfrozen during fine-tuning) with its own
        hyper-parameters; missing ones take the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry (the parameters)")
        for name, value in param_group.items():
            check_hyperparameter(type(self).__name__, name, value)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + type(p).__name__)
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        param_group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter: to None (default), or to a fresh zero array
        (the old gradient array is never written into)."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given (the
        closure re-evaluates the model and returns the loss)."""
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _state_array(self, p: Tensor, state: dict[str, Any], key: str) -> Any:
        """``state[key]`` moved to ``p``'s device and dtype if ``p`` moved since (in place)."""
        a = state[key]
        device = backend.device_of(p.data)
        if backend.device_of(a) is not device or a.dtype != p.dtype:
            a = backend.to_device(a, device).astype(p.dtype, copy=False)
            state[key] = a
        return a

    # ----------------------------------------------------------------- state dict
    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [indices]}]},
        parameters numbered in group order as in PyTorch.

        NOTE: unlike PyTorch, whose state_dict references the live state tensors, the arrays
        here are copies: a snapshot that later steps do not change.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {mapping[id(p)]: {k: _copy_value(v) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in mapping}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``: hyper-parameters from its groups, and state arrays
        copied onto each parameter's device and (for floating arrays) dtype.

        Groups must match in number and size (parameters are matched by position), each saved
        group must hold this optimizer's hyper-parameters (an Adam state does not load into
        an SGD), and each state array must have its parameter's shape. Everything is checked
        before anything changes: on an error the optimizer is left as it was.
        """
        saved_groups = self._check_state_dict(state_dict)
        id_map = {i: p for s, g in zip(saved_groups, self.param_groups)
                  for i, p in zip(s["params"], g["params"])}
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, values in state_dict["state"].items():
            p = id_map[k]
            state[p] = {name: self._cast(p, name, v) for name, v in values.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
        self.state = state
        self.param_groups = saved_groups

    def _check_state_dict(self, state_dict: Any) -> list[dict[str, Any]]:
        """A deep copy of ``state_dict['param_groups']`` once everything in ``state_dict`` is
        found to fit this optimizer; otherwise a TypeError or ValueError saying what does not.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{owner}: expected a dict with 'state' and 'param_groups', got "
                            f"{type(state_dict).__name__}")
        missing = [k for k in ("state", "param_groups") if k not in state_dict]
        if missing:
            raise ValueError(f"{owner}: the state dict has no {' and no '.join(missing)} entry "
                             f"(keys: {sorted(map(str, state_dict))})")
        groups, state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or \
                not all(isinstance(g, dict) and isinstance(g.get("params"), (list, tuple))
                        for g in groups):
            raise TypeError(f"{owner}: 'param_groups' must be a list of dicts, each with a "
                            f"'params' list of indices, got {groups!r:.200}")
        if not isinstance(state, dict):
            raise TypeError(f"{owner}: 'state' must be a dict from parameter index to that "
                            f"parameter's state, got {type(state).__name__}")
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups "
                             f"({len(groups)}) than the optimizer ({len(self.param_groups)})")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                f"optimizer's group: sizes {[len(s['params']) for s in groups]}, expected "
                f"{[len(g['params']) for g in self.param_groups]}")
        for i, saved in enumerate(groups):
            lacking = [k for k in self.defaults if k not in saved]
            if lacking:
                unknown = sorted(k for k in saved if k not in self.defaults and k != "params")
                raise ValueError(
                    f"{owner}: parameter group {i} of the state dict has no "
                    f"{', '.join(lacking)} (hyper-parameters of {type(self).__name__}) but has "
                    f"{', '.join(unknown) or 'nothing else'}: it was saved by another "
                    "optimizer")
            for name, value in saved.items():
                if name != "params":
                    check_hyperparameter(owner, name, value, f" (in parameter group {i})")
        params = {i: p for s, g in zip(groups, self.param_groups)
                  for i, p in zip(s["params"], g["params"])}
        for k, values in state.items():
            if k not in params:
                raise ValueError(f"{owner}: the state dict holds a state for parameter {k!r}, "
                                 f"but its groups number the parameters {sorted(params)}")
            if not isinstance(values, dict):
                raise TypeError(f"{owner}: the state of parameter {k} must be a dict, got "
                                f"{type(values).__name__}")
            for name, value in values.items():
                _check_state_value(owner, k, name, value, params[k])
        return copy.deepcopy(list(groups))

    @staticmethod
    def _cast(p: Tensor, name: str, value: Any) -> Any:
        if isinstance(value, Tensor):
            value = value.data
        if not _is_array(value):
            return copy.deepcopy(value)
        value = backend.to_device(value, backend.device_of(p.data)).copy()
        if value.dtype.kind == "f" and p.dtype.kind == "f" and name != "step":
            value = value.astype(p.dtype, copy=False)
        return value
