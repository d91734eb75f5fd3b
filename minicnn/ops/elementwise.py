"""Elementwise ops: arithmetic, exp/log/sqrt/abs, clamp, where, casts and comparisons.

Binary ops broadcast as NumPy does; their gradients are summed back to each input's shape by
``sum_to``. Python numbers take the tensor's float dtype (``x + 1`` stays float32).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import DEFAULT_DTYPE, Tensor, infer_array
from minicnn.ops.broadcast import as_tensor_like, sum_to
from minicnn.ops.checks import DtypeError, describe, is_real
from minicnn.ops.ieee import quiet


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors of one kind.

    NOTE: as PyTorch, an integer or bool operand takes the float operand's dtype
    (int64 tensor + 1.5 is float32; NumPy alone would give float64).
    """
    a, b = (a, as_tensor_like(b, a)) if isinstance(a, Tensor) else (as_tensor_like(a, b), b)
    if a.dtype.kind in "biu" and b.dtype.kind == "f":
        a = Tensor(a.data.astype(b.dtype))
    elif b.dtype.kind in "biu" and a.dtype.kind == "f":
        b = Tensor(b.data.astype(a.dtype))
    return a, b


class Add(Function):
    """y = a + b;  ga = gy,  gb = gy (each summed to its input's shape)."""

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, gy: Any) -> tuple:
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    """y = a - b;  ga = gy,  gb = -gy."""

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, gy: Any) -> tuple:
        gb = sum_to(-gy, self.shapes[1]) if self.needs_input_grad[1] else None
        return sum_to(gy, self.shapes[0]), gb


class Mul(Function):
    """y = a * b;  ga = gy * b,  gb = gy * a."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a = a if self.needs_input_grad and self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad and self.needs_input_grad[0] else None
        self.shapes = a.shape, b.shape
        return a * b

    def backward(self, gy: Any) -> tuple:
        ga = sum_to(gy * self.b, self.shapes[0]) if self.needs_input_grad[0] else None
        gb = sum_to(gy * self.a, self.shapes[1]) if self.needs_input_grad[1] else None
        return ga, gb


@quiet
class Div(Function):
    """y = a / b;  ga = gy / b,  gb = -gy * a / b**2 = -gy * y / b."""

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = a.shape, b.shape
        y = a / b
        self.b, self.y = b, y
        return y

    def backward(self, gy: Any) -> tuple:
        ga = sum_to(gy / self.b, self.shapes[0]) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            gb = sum_to(-gy * self.y / self.b, self.shapes[1])
        return ga, gb


class Neg(Function):
    """y = -x;  gx = -gy."""

    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, gy: Any) -> Any:
        return -gy


@quiet
class PowScalar(Function):
    """y = x ** c for a number c;  gx = gy * c * x ** (c - 1)  (0 when c == 0, as PyTorch)."""

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: Any) -> Any:
        self.x = x
        return x ** self.c

    def backward(self, gy: Any) -> Any:
        if self.c == 0:
            return gy * 0
        return gy * (self.c * self.x ** (self.c - 1))


@quiet
class Pow(Function):
    """y = a ** b;  ga = gy * b * a ** (b - 1),  gb = gy * y * log(a).

    NOTE: gb is 0 where a == 0 and b >= 0 (the limit PyTorch takes), not NaN; likewise ga is 0
    where b == 0, not 0 * 0 ** -1 = NaN at a == 0.
    """

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, gy: Any) -> tuple:
        xp = backend.get_array_module(gy)
        a, b = self.a, self.b
        ga = None
        if self.needs_input_grad[0]:
            # a ** (b - 1) is not formed where b == 0 (0 ** -1 = inf): the term is 0 * a there.
            ga = sum_to(gy * b * a ** xp.where(b == 0, 1, b - 1), a.shape)
        gb = None
        if self.needs_input_grad[1]:
            zero = (a == 0) & (b >= 0)
            log_a = xp.log(xp.where(zero, 1, a))
            gb = sum_to(xp.where(zero, 0, gy * self.y * log_a), b.shape)
        return ga, gb


@quiet
class Exp(Function):
    """y = exp(x);  gx = gy * y."""

    def forward(self, x: Any) -> Any:
        self.y = backend.get_array_module(x).exp(x)
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy * self.y


@quiet
class Log(Function):
    """y = log(x);  gx = gy / x."""

    def forward(self, x: Any) -> Any:
        self.x = x
        return backend.get_array_module(x).log(x)

    def backward(self, gy: Any) -> Any:
        return gy / self.x


@quiet
class Sqrt(Function):
    """y = sqrt(x);  gx = gy / (2 y)."""

    def forward(self, x: Any) -> Any:
        self.y = backend.get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy / (2 * self.y)


class Abs(Function):
    """y = |x|;  gx = gy * sign(x).  NOTE: abs'(0) = 0, as PyTorch."""

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        self.sign = xp.sign(x)
        return xp.abs(x)

    def backward(self, gy: Any) -> Any:
        return gy * self.sign


class Clamp(Function):
    """y = min(max(x, lo), hi);  gx = gy where lo < x < hi, else 0.

    NOTE: the boundaries themselves get gradient 0, as PyTorch 2.14 (its ``clamp_min`` and
    ``clamp_max`` with number bounds use ``x > lo`` and ``x < hi``; older releases gave 1).
    """

    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo, self.hi = lo, hi

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        y = x
        inside = None
        if self.lo is not None:
            inside = x > self.lo
            y = xp.maximum(y, xp.asarray(self.lo, dtype=x.dtype))
        if self.hi is not None:
            below = x < self.hi
            inside = below if inside is None else inside & below
            y = xp.minimum(y, xp.asarray(self.hi, dtype=x.dtype))
        self.inside = inside
        return y if y is not x else x.copy()

    def backward(self, gy: Any) -> Any:
        return gy if self.inside is None else gy * self.inside


class Where(Function):
    """y = a where cond else b;  ga = gy where cond else 0,  gb = gy where not cond else 0.

    The condition is an input (never differentiated), so that its version is recorded and an
    in-place change of it before backward raises instead of moving the gradient.
    """

    def forward(self, cond: Any, a: Any, b: Any) -> Any:
        self.cond = cond
        self.shapes = a.shape, b.shape
        return backend.get_array_module(a, b).where(cond, a, b)

    def backward(self, gy: Any) -> tuple:
        xp = backend.get_array_module(gy)
        zero = xp.zeros((), dtype=gy.dtype)
        ga = sum_to(xp.where(self.cond, gy, zero), self.shapes[0]) \
            if self.needs_input_grad[1] else None
        gb = sum_to(xp.where(self.cond, zero, gy), self.shapes[1]) \
            if self.needs_input_grad[2] else None
        return None, ga, gb


@quiet
class ToCopy(Function):
    """y = x on another device and/or dtype;  gx = gy moved back to x's device and dtype."""

    def __init__(self, dtype: Any, device: backend.Device | None) -> None:
        self.dtype, self.device = dtype, device

    def forward(self, x: Any) -> Any:
        self.src_dtype, self.src_device = x.dtype, backend.device_of(x)
        y = x if self.device is None else backend.to_device(x, self.device)
        return y if self.dtype is None else y.astype(self.dtype, copy=False)

    def backward(self, gy: Any) -> Any:
        return backend.to_device(gy, self.src_device).astype(self.src_dtype, copy=False)


# ------------------------------------------------------------------- PyTorch-named functions
def add(a: Tensor | Any, b: Tensor | Any) -> Tensor:
    """a + b, broadcasting."""
    return Add().apply(*_operands(a, b))


def sub(a: Tensor | Any, b: Tensor | Any) -> Tensor:
    """a - b, broadcasting."""
    return Sub().apply(*_operands(a, b))


def mul(a: Tensor | Any, b: Tensor | Any) -> Tensor:
    """a * b, broadcasting."""
    return Mul().apply(*_operands(a, b))


def div(a: Tensor | Any, b: Tensor | Any) -> Tensor:
    """a / b, broadcasting (true division; integer / integer is float32, as PyTorch)."""
    a, b = _operands(a, b)
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        a, b = a.to(DEFAULT_DTYPE), b.to(DEFAULT_DTYPE)
    return Div().apply(a, b)


def neg(x: Tensor) -> Tensor:
    """-x."""
    return Neg().apply(x)


def pow(a: Tensor | Any, b: Tensor | Any) -> Tensor:
    """a ** b: a number exponent uses the scalar rule, a tensor exponent the general one."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return PowScalar(b).apply(a)
    return Pow().apply(*_operands(a, b))


def exp(x: Tensor) -> Tensor:
    """exp(x) elementwise."""
    return Exp().apply(x)


def log(x: Tensor) -> Tensor:
    """Natural logarithm elementwise."""
    return Log().apply(x)


def sqrt(x: Tensor) -> Tensor:
    """Square root elementwise."""
    return Sqrt().apply(x)


def abs(x: Tensor) -> Tensor:
    """|x| elementwise."""
    return Abs().apply(x)


def clamp(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """x limited to [min, max] (either bound may be None; numbers)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min or max must not be None")
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and not is_real(bound):
            raise TypeError(f"clamp: {name} must be a real number or None, got "
                            f"{describe(bound)}")
    return Clamp(min, max).apply(x)


def where(condition: Tensor | Any, a: Tensor | Any, b: Tensor | Any) -> Tensor:
    """a where condition is true, else b (all three broadcast together); ``condition`` a
    bool tensor (or array, or list of bools)."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("where: at least one of a or b must be a Tensor")
    a, b = _operands(a, b)
    cond = condition if isinstance(condition, Tensor) else \
        Tensor(backend.to_device(infer_array(condition), backend.device_of(a.data)))
    if cond.dtype != np.bool_:
        raise DtypeError(f"where: expected condition to be a bool tensor, got dtype {cond.dtype}")
    return Where().apply(cond, a, b)


def to_copy(x: Tensor, dtype: Any = None, device: Any = None) -> Tensor:
    """x on ``device`` with ``dtype`` (either may be None); x itself when nothing changes."""
    target = None if device is None else backend.get_device(device) \
        if not isinstance(device, backend.Device) else device
    if target is not None and target is backend.device_of(x.data):
        target = None
    if dtype is not None and np.dtype(dtype) == x.dtype:
        dtype = None
    if dtype is None and target is None:
        return x
    if dtype is not None and np.dtype(dtype).kind not in "fc":
        return Tensor(ToCopy(dtype, target).forward(x.data))  # integer results carry no grad
    return ToCopy(dtype, target).apply(x)


def _compare(op: str) -> Any:
    def compare(a: Tensor | Any, b: Tensor | Any) -> Tensor:
        a, b = _operands(a, b)
        return Tensor(getattr(a.data, op)(b.data))

    compare.__name__ = op.strip("_")
    compare.__doc__ = f"Elementwise ``a {op.strip('_')} b`` as a bool tensor (no gradient)."
    return compare


eq, ne, lt, le, gt, ge = (_compare(op) for op in
                          ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"))
