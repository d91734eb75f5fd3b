"""Tensor's operators and methods, each delegating to its functional op (as in PyTorch), and
the in-place methods (``t[i] = v``, ``fill_``, ``add_``, ``+=``, ...).

In-place methods follow PyTorch: the change is made in the tensor's own array (its views see
it), its version counter is incremented (a backward that saved the old values raises), a leaf
that requires grad is refused outside ``no_grad``, and when the graph is recorded (the tensor
or the value requires grad) the change is differentiable: the tensor's ``creator`` becomes the
op that computed its new values from its old ones.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd import grad_mode
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor, increment_version, index_key, infer_array
from minicnn.ops import activation as A
from minicnn.ops import elementwise as E
from minicnn.ops import linalg as L
from minicnn.ops import reduction as R
from minicnn.ops import shape as S
from minicnn.ops.broadcast import as_tensor_like, sum_to


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


def _copied_key(key: Any) -> Any:
    """``key`` with each index or mask given as a Tensor replaced by a copy of it.

    GetItem and SetItem keep the key for backward, where an in-place change of that tensor
    would otherwise misplace the gradient without any error (PyTorch raises instead; the
    gradient here is that of the graph as built)."""
    parts = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, Tensor) for k in parts):
        parts = tuple(Tensor(k.data.copy()) if isinstance(k, Tensor) else k for k in parts)
        key = parts if isinstance(key, tuple) else parts[0]
    return key


def _getitem(self: Tensor, key: Any) -> Tensor:
    """self[key] (an index or mask given as a Tensor is copied first: ``_copied_key``)."""
    return S.getitem(self, _copied_key(key))


# ------------------------------------------------------------------- in place
class SetItem(Function):
    """y = x with y[key] = v (v broadcast to the slot x[key]);
    gx = gy with gx[key] = 0,  gv = gy[key] summed to v's shape.

    The differentiable form of ``x[key] = v`` (PyTorch's ``index_put_`` / ``copy_``).
    """

    def __init__(self, key: Any) -> None:
        self.key = key

    def forward(self, x: Any, v: Any) -> Any:
        self.v_shape = v.shape
        y = x.copy()
        y[self.key] = _fit(v, y[self.key].ndim)
        return y

    def backward(self, gy: Any) -> tuple:
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = gy.copy()
            gx[self.key] = 0
        if self.needs_input_grad[1]:
            g = gy[self.key]  # (slot shape): v was broadcast to it
            # NOTE: NumPy also lets v have extra leading 1-axes the slot lacks: reshape then.
            gv = sum_to(g, self.v_shape) if g.ndim >= len(self.v_shape) else \
                g.reshape(self.v_shape)
        return gx, gv


def _fit(v: Any, ndim: int) -> Any:
    """``v`` without the leading 1-axes beyond ``ndim`` (PyTorch assigns a (1,) tensor into
    a 0-d slot; NumPy refuses)."""
    lead = getattr(v, "ndim", 0) - ndim
    if lead > 0 and all(n == 1 for n in v.shape[:lead]):
        return v.reshape(v.shape[lead:])
    return v


def _recording(self: Tensor, *values: Any) -> bool:
    """True when an in-place change of ``self`` by ``values`` must enter the graph."""
    if not grad_mode.is_grad_enabled():
        return False
    if not (self.requires_grad or any(isinstance(v, Tensor) and v.requires_grad
                                      for v in values)):
        return False
    if self._view_of is not None:
        raise RuntimeError(
            f"a differentiable in-place change of a view (shape {self.shape}) of another "
            f"tensor (shape {self._view_of[0].shape}) is not supported by minicnn (PyTorch "
            "rewrites the base's graph): change the base tensor itself, or build the result "
            "out of place (minicnn.where, minicnn.cat)"
        )
    return True


def _old_values(self: Tensor, copy: bool) -> Tensor:
    """A tensor standing for ``self`` before the change: the same place in the graph, and a
    copy of its values when the op that computes the new ones may save them."""
    old = Tensor(self.data.copy() if copy else self.data, requires_grad=self.requires_grad)
    old.creator, old.generation = self.creator, self.generation
    return old


def _rebase(self: Tensor, new: Tensor) -> None:
    """Make ``new``'s creator the creator of ``self`` (whose array now holds new's values)."""
    if new.creator is not None:
        self.creator, self.generation = new.creator, new.generation
        self.requires_grad = True


def _write(self: Tensor, new: Any, op: str) -> None:
    """``self.data[...] = new`` after checking that the result fits (nothing written if not)."""
    if tuple(new.shape) != self.shape:
        raise RuntimeError(f"{op}: output with shape {self.shape} doesn't match the broadcast "
                           f"shape {tuple(new.shape)}")
    if not np.can_cast(new.dtype, self.dtype, casting="same_kind"):
        raise RuntimeError(f"{op}: result type {new.dtype} can't be cast to the desired output "
                           f"type {self.dtype}")
    self.data[...] = new


def _inplace(self: Tensor, op: str, compute: Callable[[Tensor], Tensor],
             *values: Any) -> Tensor:
    """Replace ``self``'s values by ``compute(self)`` in place (see the module doc)."""
    self._check_inplace()
    record = _recording(self, *values)
    new = compute(_old_values(self, copy=True) if record else self)
    _write(self, new.data, op)
    increment_version(self)
    if record:
        _rebase(self, new)
    return self


def _binary_inplace(fn: Callable[[Any, Any], Tensor], name: str) -> Callable:
    def method(self: Tensor, other: Any) -> Tensor:
        return _inplace(self, name, lambda old: fn(old, other), other)

    method.__name__ = name
    method.__doc__ = f"In place: ``self = {fn.__name__}(self, other)`` (see the module doc)."
    return method


def _unary_inplace(fn: Callable[[Tensor], Tensor], name: str) -> Callable:
    def method(self: Tensor) -> Tensor:
        return _inplace(self, name, fn)

    method.__name__ = name
    method.__doc__ = f"In place: ``self = {fn.__name__}(self)`` (see the module doc)."
    return method


def _scaled(other: Any, alpha: float) -> Any:
    """alpha * other (other itself when alpha is 1)."""
    if alpha == 1:
        return other
    return E.mul(other, alpha) if isinstance(other, Tensor) else other * alpha


def add_(self: Tensor, other: Any, *, alpha: float = 1) -> Tensor:
    """In place: self = self + alpha * other."""
    return _inplace(self, "add_", lambda old: E.add(old, _scaled(other, alpha)), other)


def sub_(self: Tensor, other: Any, *, alpha: float = 1) -> Tensor:
    """In place: self = self - alpha * other."""
    return _inplace(self, "sub_", lambda old: E.sub(old, _scaled(other, alpha)), other)


def clamp_(self: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """In place: self = min(max(self, min), max)."""
    return _inplace(self, "clamp_", lambda old: E.clamp(old, min, max))


def _value_tensor(self: Tensor, value: Any) -> Tensor:
    """``value`` as a Tensor of ``self``'s dtype on its device (differentiable cast)."""
    value = as_tensor_like(value, self)
    return E.to_copy(value, dtype=self.dtype, device=backend.device_of(self.data))


def _setitem(self: Tensor, key: Any, value: Any) -> None:
    """``self[key] = value``, in place (differentiable when the graph is recorded)."""
    self._check_inplace()
    if _recording(self, value):
        key = index_key(_copied_key(key))
        new = SetItem(key).apply(_old_values(self, copy=False), _value_tensor(self, value))
        self.data[...] = new.data
        increment_version(self)
        _rebase(self, new)
        return
    key = index_key(key)
    if isinstance(value, Tensor):
        value = value.data
    elif isinstance(value, (np.ndarray, list, tuple)):
        # NOTE: host values assigned into a device tensor are moved explicitly (CuPy
        # refuses a host array there); a number is passed as it is, with no copy.
        value = backend.to_device(np.asarray(value), backend.device_of(self.data))
    if getattr(value, "ndim", 0):
        value = _fit(value, self.data[key].ndim)
    self.data[key] = value
    increment_version(self)


def fill_(self: Tensor, value: Any) -> Tensor:
    """In place: every element = ``value`` (a number or a 0-d tensor)."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                           f"{value.ndim} dimensions")
    _setitem(self, Ellipsis, value)
    return self


def zero_(self: Tensor) -> Tensor:
    """In place: every element = 0."""
    return fill_(self, 0)


def copy_(self: Tensor, src: Tensor | Any) -> Tensor:
    """In place: self's values = ``src``'s (broadcast to self's shape, cast to its dtype, moved
    to its device); differentiable with respect to ``src`` when the graph is recorded."""
    arr = src.data if isinstance(src, Tensor) else infer_array(src)
    try:
        fits = np.broadcast_shapes(tuple(arr.shape), self.shape) == self.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"copy_: the source of shape {tuple(arr.shape)} cannot be broadcast "
                         f"to this tensor's shape {self.shape}")
    if not isinstance(src, Tensor):
        src = Tensor(backend.to_device(arr, backend.device_of(self.data)))
    _setitem(self, Ellipsis, src)
    return self


_METHODS: dict[str, Any] = {
    # operators
    "__add__": E.add, "__radd__": _reflected(E.add),
    "__sub__": E.sub, "__rsub__": _reflected(E.sub),
    "__mul__": E.mul, "__rmul__": _reflected(E.mul),
    "__truediv__": E.div, "__rtruediv__": _reflected(E.div),
    "__pow__": E.pow, "__rpow__": _reflected(E.pow),
    "__matmul__": L.matmul, "__rmatmul__": _reflected(L.matmul),
    "__neg__": E.neg, "__pos__": lambda self: self, "__abs__": E.abs,
    "__getitem__": _getitem,
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
    # in place
    "__setitem__": _setitem, "fill_": fill_, "zero_": zero_, "copy_": copy_,
    "add_": add_, "sub_": sub_, "clamp_": clamp_,
    "mul_": _binary_inplace(E.mul, "mul_"), "div_": _binary_inplace(E.div, "div_"),
    "pow_": _binary_inplace(E.pow, "pow_"),
    "neg_": _unary_inplace(E.neg, "neg_"), "abs_": _unary_inplace(E.abs, "abs_"),
    "exp_": _unary_inplace(E.exp, "exp_"), "log_": _unary_inplace(E.log, "log_"),
    "sqrt_": _unary_inplace(E.sqrt, "sqrt_"), "relu_": _unary_inplace(A.relu, "relu_"),
    "sigmoid_": _unary_inplace(A.sigmoid, "sigmoid_"), "tanh_": _unary_inplace(A.tanh, "tanh_"),
    "__iadd__": add_, "__isub__": sub_,
    "__imul__": _binary_inplace(E.mul, "__imul__"),
    "__itruediv__": _binary_inplace(E.div, "__itruediv__"),
    "__ipow__": _binary_inplace(E.pow, "__ipow__"),
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
