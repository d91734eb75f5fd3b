"""A strict stand-in for a CUDA device: NumPy memory that behaves as CuPy does where it matters.

CI has no GPU, so the ``cuda`` device of the engine's tests is this stand-in
(``tests/conftest.py`` registers it through ``minicnn.backend.register_device``). It proves that
the engine's code paths are device-clean:

- **It refuses implicit conversion to NumPy**, with CuPy's own TypeError
  (``cupy/_core/core.pyx``, ``ndarray.__array__``): ``np.asarray(x)``, ``np.array(x)``,
  ``np.stack([x, ...])`` and any other NumPy function called on it (``__array_function__``),
  any NumPy ufunc (``np.exp(x)``: ``__array_ufunc__ = None``), arithmetic with a host
  ``numpy.ndarray`` (``x + host``: CuPy's ``Unsupported type``) and assigning a host array into
  it (``x[...] = host``).
- **It counts every host<->device transfer** in ``TRANSFERS``: the device's ``to_device`` and
  ``to_host`` (what ``.to()``, ``.numpy()`` and ``.item()`` go through), ``.get()``, ``.item()``,
  ``.tolist()``, ``float()``/``int()``/``bool()`` of a one-element array (CuPy allows these
  through ``.get()``: hidden syncs, so counted), printing, ``xp.asarray`` of host data (CuPy
  copies it up), host index arrays (copied up by CuPy) and boolean-mask indexing (CuPy reads the
  number of True values back to size its result).
- **It has its own array module** ``xp`` with NumPy's and CuPy's function names; each function
  unwraps stand-in arrays, calls NumPy, and wraps the results (0-d arrays, not NumPy scalars,
  as CuPy returns from reductions and element access).
- It has no ``__cuda_array_interface__``, so ``minicnn.kernels`` runs the readable
  array-module reference code on it (the numba.cuda kernels are tested under Numba's CUDA
  simulator in ``tests/kernels/test_cuda_kernels.py``).

Stricter than CuPy, on purpose: CuPy dispatches ``np.exp(x)`` and ``np.concatenate`` to itself
and copies a host array assigned through an integer-array index; the engine must say ``xp``
and move host data explicitly, so here those raise.

    with standin.registered():            # the 'cuda' device is the stand-in
        x = minicnn.randn(3, device="cuda")
        with standin.TRANSFERS.counting() as log:
            y = (x * 2).relu()
        assert log.total == 0
"""
from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
from standin_array import (
    IMPLICIT_CONVERSION,
    TRANSFERS,
    StandinArray,
    TransferLog,
    index_key,
    to_device,
    to_host,
    unwrap,
    wrap,
)

from minicnn import backend

__all__ = ["DEVICE", "IMPLICIT_CONVERSION", "TRANSFERS", "StandinArray", "TransferLog",
           "registered", "xp"]


# ------------------------------------------------------------------------------------------
# The array module
# ------------------------------------------------------------------------------------------

def _function(fn: Any, name: str) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        result = fn(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()})
        return out if isinstance(out, StandinArray) else wrap(result)

    wrapped.__name__ = name
    wrapped.__qualname__ = f"standin_xp.{name}"
    return wrapped


class _Ufunc:
    """A NumPy ufunc on stand-in arrays: call it, or ``.at`` / ``.reduce`` / ``.outer``."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout
        self.reduce = _function(ufunc.reduce, ufunc.__name__ + ".reduce")
        self.outer = _function(ufunc.outer, ufunc.__name__ + ".outer")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        result = self._ufunc(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()})
        return out if isinstance(out, StandinArray) else wrap(result)

    def at(self, a: StandinArray, indices: Any, b: Any = None) -> None:
        """Unbuffered in-place ``a[indices] op= b`` (CuPy: ``cupy.add.at``)."""
        args = (unwrap(a), index_key(indices)) + (() if b is None else (unwrap(b),))
        self._ufunc.at(*args)

    def __repr__(self) -> str:
        return f"<standin ufunc {self.__name__!r}>"


def _asarray(a: Any, dtype: Any = None, order: Any = None, *, copy: Any = None) -> StandinArray:
    """``a`` on the device: a stand-in array as it is (cast if ``dtype``), host data copied up."""
    if isinstance(a, StandinArray):
        if copy:
            return StandinArray(np.array(a._a, dtype=dtype, copy=True))
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    host = np.array(a, dtype=dtype, copy=True)
    TRANSFERS.record("h2d", "asarray", host.shape)
    return StandinArray(host)


def _array(a: Any, dtype: Any = None, copy: bool = True, **kwargs: Any) -> StandinArray:
    return _asarray(a, dtype, copy=copy)


def _ascontiguousarray(a: Any, dtype: Any = None) -> StandinArray:
    arr = _asarray(a, dtype)
    return StandinArray(np.ascontiguousarray(arr._a))


def _asnumpy(a: Any) -> np.ndarray:
    """CuPy's ``asnumpy``: a host copy (one device-to-host transfer)."""
    return a.get() if isinstance(a, StandinArray) else np.asarray(a)


def _make_module() -> types.ModuleType:
    xp = types.ModuleType("standin_xp", "The stand-in device's array module (NumPy's names).")
    ufuncs = ("abs", "absolute", "add", "arctan", "bitwise_and", "bitwise_or", "ceil", "cos",
              "cosh", "divide", "equal", "exp", "exp2", "expm1", "floor", "floor_divide", "fmax",
              "fmin", "greater", "greater_equal", "invert", "isfinite", "isinf", "isnan", "less",
              "less_equal", "log", "log10", "log1p", "log2", "logical_and", "logical_not",
              "logical_or", "logical_xor", "maximum", "minimum", "mod", "multiply", "negative",
              "not_equal", "power", "reciprocal", "remainder", "rint", "sign", "sin", "sinh",
              "sqrt", "square", "subtract", "tan", "tanh", "true_divide")
    for name in ufuncs:
        setattr(xp, name, _Ufunc(getattr(np, name)))
    functions = ("allclose", "amax", "amin", "arange", "argmax", "argmin", "argsort", "argwhere",
                 "array_equal", "broadcast_arrays", "broadcast_to", "clip", "concatenate",
                 "count_nonzero", "cumsum", "diag", "dot", "einsum", "empty", "empty_like",
                 "expand_dims", "eye", "flip", "full", "full_like", "isclose", "linspace", "max",
                 "mean", "min", "moveaxis", "ones", "ones_like", "outer", "pad", "prod",
                 "put_along_axis", "ravel", "repeat", "reshape", "sort", "split", "squeeze",
                 "stack", "std", "sum", "swapaxes", "take", "take_along_axis", "tensordot",
                 "tile", "transpose", "tril", "triu", "var", "where", "zeros", "zeros_like",
                 "matmul", "bincount")
    for name in functions:
        fn = getattr(np, name)
        setattr(xp, name, _Ufunc(fn) if isinstance(fn, np.ufunc) else _function(fn, name))
    for name in ("bool_", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "uint16", "uint32", "uint64", "complex64", "complex128", "dtype",
                 "finfo", "iinfo", "inf", "nan",
                 "pi", "e", "newaxis", "result_type", "can_cast", "promote_types", "isscalar",
                 "ndim", "shape", "size"):
        setattr(xp, name, getattr(np, name))
    xp.ndarray = StandinArray
    xp.asarray = _asarray
    xp.array = _array
    xp.ascontiguousarray = _ascontiguousarray
    xp.asnumpy = _asnumpy
    xp.get_array_module = lambda *arrays: xp

    linalg = types.ModuleType("standin_xp.linalg")
    for name in ("norm", "inv", "det", "solve", "svd", "qr", "cholesky", "eigh"):
        setattr(linalg, name, _function(getattr(np.linalg, name), f"linalg.{name}"))
    xp.linalg = linalg

    random = types.ModuleType("standin_xp.random")
    random.default_rng = lambda seed=None: _Generator(np.random.default_rng(seed))
    random.Generator = _Generator
    xp.random = random
    return xp


class _Generator:
    """``xp.random.default_rng(seed)``: a generator whose draws land on the device."""

    def __init__(self, generator: np.random.Generator) -> None:
        self._g = generator
        for name in ("random", "standard_normal", "normal", "uniform", "integers",
                     "permutation", "choice", "binomial"):
            if hasattr(generator, name):
                setattr(self, name, _function(getattr(generator, name), f"random.{name}"))


xp = _make_module()


# ------------------------------------------------------------------------------------------
# The device
# ------------------------------------------------------------------------------------------

DEVICE = backend.Device("cuda", StandinArray, xp, to_device, to_host)


@contextlib.contextmanager
def registered(name: str = "cuda") -> Iterator[backend.Device]:
    """The stand-in registered as device ``name`` inside the block (the previous device, e.g.
    real CuPy, restored after); the transfer log starts empty."""
    device = DEVICE if name == "cuda" else backend.Device(name, StandinArray, xp, to_device,
                                                          to_host)
    previous = backend.register_device(device)
    TRANSFERS.clear()
    try:
        yield device
    finally:
        backend.unregister_device(name, previous)
        TRANSFERS.clear()
