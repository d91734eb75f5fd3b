"""Shape ops: reshape/view, permute/transpose, flatten, (un)squeeze, indexing, cat and stack."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor, index_key
from minicnn.ops.checks import check_dim, check_shape


class Reshape(Function):
    """y = x with a new shape (same elements in row-major order);  gx = gy reshaped back."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy: Any) -> Any:
        return gy.reshape(self.x_shape)


class Permute(Function):
    """y = x with its axes reordered, y.shape[i] = x.shape[axes[i]];  gx = gy permuted back."""

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes

    def forward(self, x: Any) -> Any:
        return x.transpose(self.axes)

    def backward(self, gy: Any) -> Any:
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return gy.transpose(inverse)


class GetItem(Function):
    """y = x[key] (basic or integer-array indexing);  gx = zeros with gy added at x[key].

    NOTE: integer-array keys may repeat an element; its gradients are summed (``add.at``).
    """

    def __init__(self, key: Any) -> None:
        self.key = key

    def forward(self, x: Any) -> Any:
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return x[self.key]

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=self.x_dtype)
        keys = self.key if isinstance(self.key, tuple) else (self.key,)
        if any(hasattr(k, "dtype") or isinstance(k, (list, tuple)) for k in keys):
            xp.add.at(gx, self.key, gy)
        else:
            gx[self.key] = gy
        return gx


class Cat(Function):
    """y = the inputs joined along ``dim``;  gx_i = the slice of gy that came from input i."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, *xs: Any) -> Any:
        xp = backend.get_array_module(*xs)
        sizes = [x.shape[self.dim] for x in xs]
        self.bounds = [sum(sizes[:i + 1]) for i in range(len(sizes) - 1)]
        return xp.concatenate(xs, axis=self.dim)

    def backward(self, gy: Any) -> tuple:
        return tuple(backend.get_array_module(gy).split(gy, self.bounds, axis=self.dim))


class Stack(Function):
    """y = the inputs stacked along a new axis ``dim``;  gx_i = gy taken at index i of ``dim``."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, *xs: Any) -> Any:
        return backend.get_array_module(*xs).stack(xs, axis=self.dim)

    def backward(self, gy: Any) -> tuple:
        return tuple(gy.take(i, axis=self.dim) for i in range(gy.shape[self.dim]))


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """x with a new shape (one entry may be -1); ``reshape(x, 2, 3)`` or ``reshape(x, (2, 3))``."""
    return _reshape(x, check_shape(shape, "reshape"))


def view(x: Tensor, *shape: Any) -> Tensor:
    """``reshape`` (NOTE: a copy where PyTorch's view would refuse a non-contiguous tensor)."""
    return _reshape(x, check_shape(shape, "view"))


def _reshape(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    if shape == x.shape:
        return x
    n = x.data.size
    known = 1
    for s in shape:
        known *= s if s != -1 else 1
    if shape.count(-1) > 1 or (-1 not in shape and known != n) or \
            (-1 in shape and (known == 0 or n % known)):
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
    return Reshape(shape).apply(x)


def permute(x: Tensor, *dims: Any) -> Tensor:
    """x with its axes reordered: ``y.shape[i] = x.shape[dims[i]]``."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    dims = tuple(check_dim(d, x.ndim, "dims", "permute") for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of {x.ndim} axes")
    return Permute(dims).apply(x)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """x with axes ``dim0`` and ``dim1`` swapped."""
    axes = list(range(x.ndim))
    d0 = check_dim(dim0, x.ndim, "dim0", "transpose")
    d1 = check_dim(dim1, x.ndim, "dim1", "transpose")
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute(tuple(axes)).apply(x)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """x with axes ``start_dim`` .. ``end_dim`` merged into one."""
    s = check_dim(start_dim, x.ndim, "start_dim", "flatten")
    e = check_dim(end_dim, x.ndim, "end_dim", "flatten")
    if x.ndim == 0:
        return reshape(x, 1)
    merged = 1
    for n in x.shape[s:e + 1]:
        merged *= n
    return reshape(x, x.shape[:s] + (merged,) + x.shape[e + 1:])


def squeeze(x: Tensor, dim: int | None = None) -> Tensor:
    """x without size-1 axes (only ``dim``, if given and of size 1)."""
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    dim = check_dim(dim, x.ndim, "dim", "squeeze")
    if x.ndim == 0 or x.shape[dim] != 1:
        return x
    return reshape(x, x.shape[:dim] + x.shape[dim + 1:])


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """x with a new size-1 axis at ``dim``."""
    dim = check_dim(dim, x.ndim + 1, "dim", "unsqueeze")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def getitem(x: Tensor, key: Any) -> Tensor:
    """x[key]: slices, ints, None, Ellipsis, integer arrays/tensors and boolean masks."""
    key = index_key(key)
    if isinstance(key, list):
        key = backend.get_array_module(x.data).asarray(key)
    return GetItem(key).apply(x)


def _check_joinable(tensors: Sequence[Tensor], name: str) -> None:
    if len(tensors) == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of tensors")
    if not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError(f"{name}: expected a sequence of Tensors")


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """The tensors joined along the existing axis ``dim``."""
    _check_joinable(tensors, "cat")
    return Cat(check_dim(dim, tensors[0].ndim, "dim", "cat")).apply(*tensors)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """The tensors (all of one shape) stacked along a new axis ``dim``."""
    _check_joinable(tensors, "stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise RuntimeError(f"stack expects each tensor to be equal size, got {sorted(shapes)}")
    return Stack(check_dim(dim, tensors[0].ndim + 1, "dim", "stack")).apply(*tensors)
