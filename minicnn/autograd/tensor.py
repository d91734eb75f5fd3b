"""``Tensor``: an array (NumPy or CuPy), its gradient, and the function that created it."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd import grad_mode

DEFAULT_DTYPE = np.dtype(np.float32)


def _is_array(data: Any) -> bool:
    return type(data) is np.ndarray or backend.device_of(data) is not backend.CPU


def infer_array(data: Any, dtype: Any = None) -> Any:
    """An array from Python data: floats default to float32, ints to int64 (as PyTorch)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.generic):
        data = np.asarray(data)
    if _is_array(data):
        return data if dtype is None else data.astype(dtype, copy=False)
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [d.data if isinstance(d, Tensor) else d for d in data]
    arr = np.asarray(data)
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind == "f":
        return arr.astype(DEFAULT_DTYPE, copy=False)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind in "bc":
        return arr
    raise TypeError(f"cannot make a tensor from {type(data).__name__} of dtype {arr.dtype}")


class VersionCounter:
    """How many times a storage was changed in place: one counter shared by a tensor and
    every view of its array (slices, reshapes, transposes, ``detach()``), as PyTorch's."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``data`` is the raw array (NumPy on the CPU, CuPy on a GPU); ``grad`` the accumulated
    gradient (a Tensor, leaves only unless ``retain_grad()``); ``creator`` the Function that made
    it (``None`` for leaves); ``generation`` its depth in the graph.

    Every in-place change made through the Tensor (``t[i] = v``, ``fill_``, ``add_``, ``+=``,
    optimiser steps, ``load_state_dict``...) increments ``_version``, a counter shared with the
    views of the same array; backward raises if a value saved for it has changed since.

    NOTE: ``data`` is the raw array, as PyTorch's ``.data``: writing into it
    (``t.data[0] = 1``) is not tracked and can silently change a value saved for backward.
    Assigning a new array (``t.data = a``) leaves the saved values intact.
    """

    __slots__ = ("data", "grad", "requires_grad", "creator", "generation", "retains_grad",
                 "_vc", "_view_of", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to Tensor's reflected operators
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if type(data) is not np.ndarray:
            data = infer_array(data)
        if requires_grad and data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients, got {data.dtype}"
            )
        self.data = data
        self.grad: Tensor | None = None
        self.requires_grad = requires_grad
        self.creator = None
        self.generation = 0
        self.retains_grad = False
        self._vc = VersionCounter()
        # (base tensor, base's creator when this view was made), or None if not a view
        self._view_of: tuple[Tensor, Any] | None = None

    # ----------------------------------------------------------------- attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return backend.device_of(self.data).name

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def grad_fn(self) -> Any:
        return self.creator

    @property
    def _version(self) -> int:
        """The number of in-place changes of this tensor's storage (shared with its views)."""
        return self._vc.value

    @property
    def _base(self) -> Tensor | None:
        """The tensor whose array this one is a view of (None if it is not a view)."""
        return None if self._view_of is None else self._view_of[0]

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient: Tensor | Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf), times ``gradient``, into every leaf's ``.grad``.

        ``gradient`` defaults to 1 for a one-element tensor and is required otherwise.
        The graph's saved values are freed afterwards unless ``retain_graph`` is True.
        """
        from minicnn.autograd.engine import run_backward

        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        xp = backend.get_array_module(self.data)
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; this tensor has "
                    f"shape {self.shape}: pass backward(gradient) of that shape"
                )
            gy = xp.ones_like(self.data)
        else:
            gy = gradient.data if isinstance(gradient, Tensor) else infer_array(gradient)
            if tuple(gy.shape) != self.shape:
                raise RuntimeError(
                    f"Mismatch in shape: gradient has a shape of {tuple(gy.shape)} and the "
                    f"tensor has a shape of {self.shape}"
                )
            gy = xp.asarray(gy, dtype=self.dtype) if gy.dtype != self.dtype else gy
        run_backward(self, gy, retain_graph=retain_graph)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor during backward."""
        self.retains_grad = True

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype.kind not in "fc":
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients, got {self.dtype}"
            )
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        """The same data, cut from the graph; it shares this tensor's version counter (an
        in-place change of either is seen by a backward that saved the other)."""
        out = Tensor(self.data)
        out._vc = self._vc
        return out

    # ----------------------------------------------------------------- conversions
    def item(self) -> Any:
        """The value of a one-element tensor as a Python number (a device-to-host sync)."""
        if self.data.size != 1:
            raise ValueError(
                f"a Tensor with {self.data.size} elements cannot be converted to Scalar"
            )
        return backend.to_host(self.data).item()

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied to the host if it lives on a device)."""
        if self.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy()"
            )
        return backend.to_host(self.data)

    def tolist(self) -> Any:
        return backend.to_host(self.data).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def double(self) -> Tensor:
        return self.to(np.float64)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    # ----------------------------------------------------------------- in place
    def _check_inplace(self) -> None:
        """Refuse, as PyTorch, to change in place a leaf that requires grad while the graph is
        recorded (its gradient would be that of a value that no longer exists)."""
        if self.requires_grad and self.creator is None and grad_mode._State.enabled:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation "
                f"(a tensor of shape {self.shape}); wrap the change in minicnn.no_grad()"
            )

    # ----------------------------------------------------------------- printing
    def __repr__(self) -> str:
        body = np.array2string(backend.to_host(self.data), separator=", ", prefix="tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (DEFAULT_DTYPE, np.dtype(np.int64), np.dtype(np.bool_)):
            extras.append(f"dtype={self.dtype}")
        if self.creator is not None:
            extras.append(f"grad_fn={self.creator!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"


def index_key(key: Any) -> Any:
    """An indexing key with Tensors replaced by their arrays."""
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, tuple):
        return tuple(k.data if isinstance(k, Tensor) else k for k in key)
    return key


def increment_version(*tensors: Tensor) -> None:
    """Record an in-place change of each tensor's storage (as
    ``torch.autograd.graph.increment_version``): for code that writes into ``t.data``
    directly, so that a backward that saved the old values raises instead of using the new."""
    for t in tensors:
        t._vc.value += 1


def storage_root(a: Any) -> Any:
    """The object that owns ``a``'s memory: ``a.base`` followed to its end (``a`` itself for an
    array that owns its memory). Two arrays with the same root are views of one storage."""
    while True:
        b = getattr(a, "base", None)
        if b is None or b is a:  # NOTE: a NumPy dtype is its own base
            return a
        a = b


def share_storage(view: Tensor, base: Tensor) -> None:
    """Make ``view`` (whose array is a view of ``base``'s) share ``base``'s version counter
    and remember ``base`` (and its creator at this moment) as the tensor it views."""
    view._vc = base._vc
    view._view_of = base._view_of or (base, base.creator)


def zero_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Reset each tensor's ``.grad``: to None, or to a fresh zero array (the old gradient array
    is never written into: it may be shared)."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad = Tensor(backend.get_array_module(p.grad.data).zeros_like(p.grad.data))
