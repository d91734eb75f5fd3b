"""The strict stand-in's device array, ``StandinArray``, and its transfer log (see
``standin.py`` for what the stand-in is and why).

CuPy's rules where they matter: no implicit conversion to NumPy, every host<->device transfer
counted in ``TRANSFERS``, 0-d arrays (not NumPy scalars) from reductions and element access.
"""
from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IMPLICIT_CONVERSION = ("Implicit conversion to a NumPy array is not allowed. "
                       "Please use `.get()` to construct a NumPy array explicitly.")


# ------------------------------------------------------------------------------------------
# Transfer counting
# ------------------------------------------------------------------------------------------

@dataclass
class TransferLog:
    """Every host<->device transfer as ``(direction, what, shape)``, direction 'h2d' or 'd2h'."""

    events: list[tuple[str, str, tuple]] = field(default_factory=list)

    def record(self, direction: str, what: str, shape: tuple = ()) -> None:
        self.events.append((direction, what, tuple(shape)))

    @property
    def h2d(self) -> int:
        return sum(1 for d, _, _ in self.events if d == "h2d")

    @property
    def d2h(self) -> int:
        return sum(1 for d, _, _ in self.events if d == "d2h")

    @property
    def total(self) -> int:
        return len(self.events)

    def count(self, what: str) -> int:
        return sum(1 for _, w, _ in self.events if w == what)

    def clear(self) -> None:
        self.events.clear()

    @contextlib.contextmanager
    def counting(self) -> Iterator[TransferLog]:
        """A fresh log of the transfers made inside the ``with`` block."""
        saved = list(self.events)
        self.events.clear()
        inner = TransferLog()
        try:
            yield inner
        finally:
            inner.events.extend(self.events)
            self.events[:] = saved + self.events

    def __str__(self) -> str:
        return "\n".join(f"{d} {w} {s}" for d, w, s in self.events) or "(no transfers)"


TRANSFERS = TransferLog()


# ------------------------------------------------------------------------------------------
# Wrapping and unwrapping
# ------------------------------------------------------------------------------------------

_SCALARS = (bool, int, float, complex, np.generic)


def _unsupported(value: Any) -> TypeError:
    return TypeError(f"Unsupported type {type(value)}: a host numpy.ndarray mixed with a "
                     "device array (move it with backend.to_device first)")


def wrap(value: Any) -> Any:
    """NumPy results as device arrays (NumPy scalars as 0-d arrays, as CuPy returns them)."""
    if type(value) is np.ndarray:
        return StandinArray(value)
    if isinstance(value, np.generic):
        return StandinArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def unwrap(value: Any) -> Any:
    """Arguments for NumPy: stand-in arrays to their memory; a host ndarray is refused."""
    if isinstance(value, StandinArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise _unsupported(value)
    if isinstance(value, (tuple, list)):
        return type(value)(unwrap(v) for v in value)
    return value


def _operand(value: Any) -> Any:
    """The other operand of an operator: a stand-in's memory, a scalar, or NotImplemented."""
    if isinstance(value, StandinArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise _unsupported(value)
    if isinstance(value, _SCALARS):
        return value
    return NotImplemented  # e.g. a minicnn Tensor: its reflected operator takes over


def index_key(key: Any) -> Any:
    """An indexing key for NumPy; host index arrays and lists are copied up (as CuPy does)."""
    if isinstance(key, tuple):
        return tuple(index_key(k) for k in key)
    if isinstance(key, StandinArray):
        return key._a
    if isinstance(key, (np.ndarray, list)):
        arr = np.asarray(key)
        TRANSFERS.record("h2d", "index", arr.shape)
        return arr
    return key


def _has_mask(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype == np.bool_ for k in keys)


# ------------------------------------------------------------------------------------------
# The array
# ------------------------------------------------------------------------------------------

class StandinArray:
    """A device array of the stand-in: NumPy memory behind CuPy's rules (see the module doc).

    Made only by the stand-in's array module and ``to_device``; ``StandinArray(a)`` wraps the
    NumPy array ``a`` without copying and without counting (for the stand-in's own use).
    """

    __slots__ = ("__weakref__", "_a")  # CuPy arrays take weak references too
    __array_ufunc__ = None  # np.exp(x), np.add(x, y) raise; NumPy scalars defer to our operators
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # ---------------------------------------------------------------- refusals
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(IMPLICIT_CONVERSION)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        raise TypeError(f"numpy.{func.__name__} called on a device array: use the array "
                        f"module of the data (backend.get_array_module). {IMPLICIT_CONVERSION}")

    # ---------------------------------------------------------------- properties
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StandinArray(self._a.T))
    real = property(lambda self: wrap(self._a.real))
    imag = property(lambda self: wrap(self._a.imag))

    @property
    def base(self) -> Any:
        base = self._a.base
        return None if base is None else wrap(base) if isinstance(base, np.ndarray) else base

    @property
    def device(self) -> str:
        return "standin:0"

    # ---------------------------------------------------------------- explicit transfers
    def get(self) -> np.ndarray:
        """A host copy (CuPy's ``ndarray.get``): one device-to-host transfer."""
        TRANSFERS.record("d2h", "get", self.shape)
        return self._a.copy()

    def item(self) -> Any:
        TRANSFERS.record("d2h", "item", self.shape)
        return self._a.item()

    def tolist(self) -> Any:
        TRANSFERS.record("d2h", "tolist", self.shape)
        return self._a.tolist()

    def _scalar(self, convert: Any) -> Any:
        TRANSFERS.record("d2h", convert.__name__, self.shape)
        return convert(self._a)  # NumPy's TypeError for more than one element

    def __float__(self) -> float:
        return self._scalar(float)

    def __int__(self) -> int:
        return self._scalar(int)

    def __complex__(self) -> complex:
        return self._scalar(complex)

    def __bool__(self) -> bool:
        if self.size > 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous. Use a.any() or a.all()")
        return self._scalar(bool)

    def __repr__(self) -> str:
        TRANSFERS.record("d2h", "repr", self.shape)
        return "standin:" + repr(self._a)

    def __str__(self) -> str:
        TRANSFERS.record("d2h", "str", self.shape)
        return str(self._a)

    def __format__(self, spec: str) -> str:
        TRANSFERS.record("d2h", "format", self.shape)
        return format(self._a, spec)

    def __reduce__(self) -> Any:  # pickling goes through the host, as CuPy's
        return (to_device, (self.get(),))

    def __copy__(self) -> StandinArray:
        return StandinArray(self._a.copy())

    def __deepcopy__(self, memo: Any) -> StandinArray:
        return StandinArray(self._a.copy())

    # ---------------------------------------------------------------- containers
    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self) -> Iterator[StandinArray]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def __getitem__(self, key: Any) -> Any:
        key = index_key(key)
        if _has_mask(key):
            TRANSFERS.record("d2h", "mask", ())  # CuPy reads the count of True back
        return wrap(self._a[key])

    def __setitem__(self, key: Any, value: Any) -> None:
        key = index_key(key)
        if isinstance(value, StandinArray):
            value = value._a
        elif isinstance(value, np.ndarray) and value.ndim > 0:
            raise TypeError("assigning a host numpy.ndarray into a device array is an implicit "
                            "host-to-device copy (CuPy: 'non-scalar numpy.ndarray cannot be "
                            "used for fill'): move it with backend.to_device first")
        elif isinstance(value, (list, tuple)):
            value = np.asarray(value)
            TRANSFERS.record("h2d", "setitem", value.shape)
        if _has_mask(key):
            TRANSFERS.record("d2h", "mask", ())
        self._a[key] = value


def _binary(name: str, reflected: bool = False) -> Any:
    fn = getattr(operator, name + "_" if name in ("and", "or") else name)

    def op(self: StandinArray, other: Any) -> Any:
        other = _operand(other)
        if other is NotImplemented:
            return NotImplemented
        return wrap(fn(other, self._a) if reflected else fn(self._a, other))

    op.__name__ = f"__r{name}__" if reflected else f"__{name}__"
    return op


def _inplace(name: str) -> Any:
    fn = getattr(operator, f"i{name}")

    def op(self: StandinArray, other: Any) -> Any:
        other = _operand(other)
        if other is NotImplemented:
            return NotImplemented
        fn(self._a, other)  # in place on the same memory
        return self

    op.__name__ = f"__i{name}__"
    return op


def _unary(name: str) -> Any:
    fn = getattr(operator, name)
    return lambda self: StandinArray(fn(self._a))


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):
    setattr(StandinArray, f"__{_name}__", _binary(_name))
    setattr(StandinArray, f"__r{_name}__", _binary(_name, reflected=True))
    setattr(StandinArray, f"__i{_name}__", _inplace(_name))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(StandinArray, f"__{_name}__", _binary(_name))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(StandinArray, f"__{_name}__", _unary(_name))


def _method(name: str) -> Any:
    def method(self: StandinArray, *args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        result = getattr(self._a, name)(*unwrap(args),
                                        **{k: unwrap(v) for k, v in kwargs.items()})
        return out if isinstance(out, StandinArray) else wrap(result)

    method.__name__ = name
    return method


# The ndarray methods the engine may use; all exist on cupy.ndarray too.
for _name in ("all", "any", "argmax", "argmin", "argsort", "astype", "clip", "copy", "cumsum",
              "diagonal", "dot", "fill", "flatten", "max", "mean", "min", "prod", "ravel",
              "repeat", "reshape", "round", "sort", "squeeze", "std", "sum", "swapaxes", "take",
              "trace", "transpose", "var", "view"):
    setattr(StandinArray, _name, _method(_name))


def _nonzero(self: StandinArray) -> tuple:
    TRANSFERS.record("d2h", "nonzero", ())  # CuPy reads the count back to size the result
    return wrap(self._a.nonzero())


StandinArray.nonzero = _nonzero  # type: ignore[attr-defined]


def to_device(host: np.ndarray) -> StandinArray:
    """Host to device: a copy (device memory never aliases host memory), counted."""
    host = np.asarray(host)
    TRANSFERS.record("h2d", "to_device", host.shape)
    return StandinArray(np.array(host, copy=True))


def to_host(array: StandinArray) -> np.ndarray:
    """Device to host: a copy, counted."""
    TRANSFERS.record("d2h", "to_host", array.shape)
    return array._a.copy()
