"""``Optimizer``: parameter groups, per-parameter state, zero_grad and state_dict.

Optimisers update ``p.data`` in place with the array module of the data (NumPy or CuPy) and
never write into ``p.grad.data`` (a gradient array may be shared); parameters whose ``grad``
is None are skipped. The per-parameter state (momentum buffers, moments) is raw arrays kept on
the parameter's device and in its dtype: after ``model.to(...)`` they follow the parameter at
the next ``step()``.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from minicnn import backend
from minicnn.autograd.grad_mode import enable_grad
from minicnn.autograd.tensor import Tensor, zero_grads


class _RequiredParameter:
    """Marks a hyper-parameter without a default (e.g. a group's ``lr``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Tensor) \
        and not isinstance(value, (int, float))


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

        Groups must match in number and size (parameters are matched by position).
        """
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"])
               for g, s in zip(self.param_groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = {i: p for s, g in zip(saved_groups, self.param_groups)
                  for i, p in zip(s["params"], g["params"])}
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, values in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = {name: self._cast(p, name, v) for name, v in values.items()}
            else:
                state[k] = copy.deepcopy(values)
        self.state = state
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
        self.param_groups = saved_groups

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
