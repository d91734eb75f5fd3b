"""Reductions: sum, mean, max and min (with values and indices), argmax and argmin."""
from __future__ import annotations

from collections import namedtuple
from typing import Any

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.ops.broadcast import normalize_dim
from minicnn.ops.checks import DtypeError, check_bool, check_dim
from minicnn.ops.elementwise import mul
from minicnn.ops.ieee import quiet
from minicnn.ops.shape import reshape

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _expand_back(gy: Any, shape: tuple, dim: Any, keepdim: bool) -> Any:
    """gy of a reduction over ``dim`` broadcast back to the input ``shape``."""
    xp = backend.get_array_module(gy)
    if dim is not None and not keepdim:
        gy = xp.expand_dims(gy, dim)
    return xp.broadcast_to(gy, shape)


@quiet
class Sum(Function):
    """y = sum of x over ``dim`` (all axes when None);  gx = gy broadcast back to x's shape."""

    def __init__(self, dim: Any, keepdim: bool) -> None:
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x: Any) -> Any:
        self.shape = x.shape
        return x.sum(axis=self.dim, keepdims=self.keepdim)

    def backward(self, gy: Any) -> Any:
        return _expand_back(gy, self.shape, self.dim, self.keepdim)


@quiet
class Mean(Function):
    """y = sum of x over ``dim`` / n, n the number of summed elements;  gx = gy / n broadcast."""

    def __init__(self, dim: Any, keepdim: bool) -> None:
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x: Any) -> Any:
        self.shape = x.shape
        y = x.mean(axis=self.dim, keepdims=self.keepdim)
        # NOTE: not max(y.size, 1): this module's max is the op; y.size >= 1 when x.size > 0.
        self.n = x.size // y.size if x.size else 0
        return y

    def backward(self, gy: Any) -> Any:
        return _expand_back(gy / self.n, self.shape, self.dim, self.keepdim)


class MaxAll(Function):
    """y = max (or min) of all elements;  gx = gy / k at each of the k tied extrema, else 0.

    NOTE: a full reduction shares the gradient evenly among ties, as PyTorch's ``max()``.
    """

    def __init__(self, largest: bool) -> None:
        self.largest = largest

    def forward(self, x: Any) -> Any:
        if x.size == 0:
            raise RuntimeError("max(): expected a non-empty tensor")
        y = x.max() if self.largest else x.min()
        self.hit = x == y
        return backend.get_array_module(x).asarray(y)

    def backward(self, gy: Any) -> Any:
        return self.hit * (gy / self.hit.sum(dtype=gy.dtype))  # float32 stays float32


class MaxDim(Function):
    """y = max (or min) of x along ``dim``;  gx = gy at the returned index, 0 elsewhere.

    NOTE: along a dim the whole gradient goes to the one returned index (the first extremum),
    as PyTorch's ``max(dim)``.
    """

    def __init__(self, dim: int, keepdim: bool, largest: bool) -> None:
        self.dim, self.keepdim, self.largest = dim, keepdim, largest

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        idx = (x.argmax if self.largest else x.argmin)(axis=self.dim)
        self.shape = x.shape
        self.idx = xp.expand_dims(idx, self.dim)
        y = xp.take_along_axis(x, self.idx, axis=self.dim)
        return y if self.keepdim else y.squeeze(self.dim)

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        positions = xp.arange(self.shape[self.dim]).reshape(
            [-1 if a == self.dim else 1 for a in range(len(self.shape))]
        )
        gy = gy if self.keepdim else xp.expand_dims(gy, self.dim)
        return xp.where(positions == self.idx, gy, xp.zeros((), dtype=gy.dtype))


def _reduce_dim(dim: Any, keepdim: Any, ndim: int, op: str) -> Any:
    """``dim`` normalised (None: all axes; also for a 0-d tensor's dim 0 or -1, which leaves
    nothing more to reduce), after checking ``dim`` and ``keepdim``."""
    check_bool(keepdim, "keepdim", op)
    dim = normalize_dim(dim, ndim, op)
    return None if ndim == 0 else dim


def sum(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    return Sum(_reduce_dim(dim, keepdim, x.ndim, "sum"), keepdim).apply(x)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Arithmetic mean over ``dim`` (an int, a tuple, or None for all).

    NOTE: the mean of no elements is NaN (0 / 0), as PyTorch's, without NumPy's "Mean of
    empty slice" warning: for an empty ``x`` it is computed as ``sum * nan``, whose
    gradient (of an empty input) is empty.
    """
    if x.dtype.kind not in "fc":
        raise DtypeError(f"mean(): expected a floating point tensor, got {x.dtype}")
    dim = _reduce_dim(dim, keepdim, x.ndim, "mean")
    if x.data.size == 0:
        return mul(Sum(dim, keepdim).apply(x), float("nan"))
    return Mean(dim, keepdim).apply(x)


def _extremum(x: Tensor, dim: Any, keepdim: Any, largest: bool, op: str) -> Any:
    if dim is None:
        return MaxAll(largest).apply(x)
    check_bool(keepdim, "keepdim", op)
    dim = check_dim(dim, x.ndim, "dim", op)
    if x.ndim == 0:  # a 0-d tensor is its own extremum along dim 0, at index 0 (as PyTorch)
        return _extremum(reshape(x, 1), 0, False, largest, op)
    f = MaxDim(dim, keepdim, largest)
    values = f.apply(x)
    idx = f.idx if keepdim else f.idx.squeeze(dim)
    return ValuesIndices(values, Tensor(idx))


def max(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The largest element, or ``(values, indices)`` along ``dim``, as ``torch.max``."""
    return _extremum(x, dim, keepdim, True, "max")


def min(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The smallest element, or ``(values, indices)`` along ``dim``, as ``torch.min``."""
    return _extremum(x, dim, keepdim, False, "min")


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) largest element, over the flattened tensor or along ``dim``."""
    return _extremum(x.detach(), dim, keepdim, True, "argmax").indices if dim is not None \
        else Tensor(x.data.argmax().astype("int64"))


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) smallest element, over the flattened tensor or along ``dim``."""
    return _extremum(x.detach(), dim, keepdim, False, "argmin").indices if dim is not None \
        else Tensor(x.data.argmin().astype("int64"))
