"""Tensor's operators and methods, each delegating to its functional op (as in PyTorch)."""
from __future__ import annotations

from typing import Any

from minicnn import backend
from minicnn.autograd.tensor import Tensor
from minicnn.ops import activation as A
from minicnn.ops import elementwise as E
from minicnn.ops import linalg as L
from minicnn.ops import reduction as R
from minicnn.ops import shape as S


def _reflected(op: Any) -> Any:
    return lambda self, other: op(other, self)


def to(self: Tensor, *args: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """This tensor on another device and/or with another dtype (differentiable).

    ``t.to('cuda')``, ``t.to(minicnn.float64)``, ``t.to('cpu', minicnn.float32)``.
    """
    for a in args:
        if isinstance(a, (str, backend.Device)):
            device = a
        elif isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        else:
            dtype = a
    return E.to_copy(self, dtype=dtype, device=device)


_METHODS: dict[str, Any] = {
    # operators
    "__add__": E.add, "__radd__": _reflected(E.add),
    "__sub__": E.sub, "__rsub__": _reflected(E.sub),
    "__mul__": E.mul, "__rmul__": _reflected(E.mul),
    "__truediv__": E.div, "__rtruediv__": _reflected(E.div),
    "__pow__": E.pow, "__rpow__": _reflected(E.pow),
    "__matmul__": L.matmul, "__rmatmul__": _reflected(L.matmul),
    "__neg__": E.neg, "__pos__": lambda self: self, "__abs__": E.abs,
    "__getitem__": S.getitem,
    "__eq__": E.eq, "__ne__": E.ne, "__lt__": E.lt, "__le__": E.le, "__gt__": E.gt, "__ge__": E.ge,
    # methods
    "add": E.add, "sub": E.sub, "mul": E.mul, "div": E.div, "pow": E.pow, "neg": E.neg,
    "exp": E.exp, "log": E.log, "sqrt": E.sqrt, "abs": E.abs, "clamp": E.clamp,
    "eq": E.eq, "ne": E.ne, "lt": E.lt, "le": E.le, "gt": E.gt, "ge": E.ge,
    "relu": A.relu, "sigmoid": A.sigmoid, "tanh": A.tanh,
    "softmax": A.softmax, "log_softmax": A.log_softmax,
    "sum": R.sum, "mean": R.mean, "max": R.max, "min": R.min,
    "argmax": R.argmax, "argmin": R.argmin,
    "reshape": S.reshape, "view": S.view, "permute": S.permute, "transpose": S.transpose,
    "flatten": S.flatten, "squeeze": S.squeeze, "unsqueeze": S.unsqueeze,
    "matmul": L.matmul, "to": to,
    "t": lambda self: S.transpose(self, 0, 1) if self.ndim == 2 else self,
    "clone": lambda self: E.mul(self, 1),
    "contiguous": lambda self: self,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
