"""The one matrix product the CPU kernels call: ``out = a @ b`` (or ``out += a @ b``) on 2-D
NumPy arrays, through NumPy's BLAS (OpenBLAS) or, when installed, Intel's MKL.

Why two: PyTorch's CPU wheels link MKL; NumPy's wheels bundle OpenBLAS, whose single-precision
GEMM is 1.1-2x slower than MKL's at the course's shapes on an AVX-512 machine (thin products,
e.g. the first convolution's K = 9, gain the most; numbers in benchmarks/README.md). So the
optional extra ``pip install minicnn[mkl]`` (Intel's ``mkl`` wheel, about 230 MB) lets the
CPU kernels call the same BLAS as PyTorch. Without it, or with ``MINICNN_BLAS=numpy``, every
product goes through ``np.matmul``.

MKL is reached through ``ctypes`` (``cblas_sgemm`` / ``cblas_dgemm`` of ``libmkl_rt``; ctypes
releases the GIL during the call, so products run concurrently on minicnn's thread pool) with
MKL's sequential threading layer: minicnn's pool does the threading, as it does with
OpenBLAS held at one thread (``minicnn.parallel``).

NOTE: PyTorch beside it. ``libmkl_rt`` loads MKL's layers into the process's global symbol
scope, and PyTorch's ``libtorch_cpu`` links its own (older) MKL statically with its symbols
exported: a torch imported *after* MKL was loaded binds its MKL internals to ours (measured
with ``LD_DEBUG=bindings``: 4,812 symbols; torch then even starts with one thread). Imported
*before*, torch has bound everything to itself (Python loads extensions with ``RTLD_NOW``) and
the two never meet (tests/kernels/test_blas.py checks both orders). So MKL is loaded only
where torch is already imported or not installed; otherwise the products stay with NumPy
(import torch first to have both).

Where the library is looked for: ``MINICNN_MKL`` (a path to ``libmkl_rt.so*``), else
``sys.prefix/lib`` (where the ``mkl`` wheel puts it). ``MINICNN_BLAS`` = ``auto`` (default: MKL
when it can be used), ``mkl`` (an error if it cannot) or ``numpy``, resolved at the first
product (or ``backend()`` call); ``set_backend`` changes it at run time.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import sys
from typing import Any

import numpy as np

BACKENDS = ("auto", "mkl", "numpy")
# NOTE: below about 2 MFLOP (e.g. a 64 x 784 -> 10 layer) the ctypes call and MKL's own
# dispatch cost more than NumPy's whole product (23 us against 12): NumPy takes those.
MKL_MIN_FLOPS = 1 << 21
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SEQUENTIAL = 1  # MKL_THREADING_SEQUENTIAL

_mkl: dict[Any, Any] | None = None  # {dtype: cblas_?gemm} once loaded
_mkl_error = ""
_backend: str | None = None  # resolved from _requested at the first product


def _library_path() -> str | None:
    path = os.environ.get("MINICNN_MKL", "").strip()
    if path:
        return path
    found = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    return found[0] if found else None


def _load_mkl() -> dict[Any, Any] | None:
    """``{np.float32: cblas_sgemm, np.float64: cblas_dgemm}`` from MKL, or None (the reason
    is kept for ``set_backend("mkl")``'s error)."""
    global _mkl, _mkl_error
    if _mkl is not None:
        return _mkl
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is not None:
        # not kept in _mkl_error: once torch is imported, MKL can be loaded
        _mkl_error = ("PyTorch is installed but not imported yet: imported after MKL it would "
                      "bind its own MKL to this one (import torch before minicnn's first "
                      "matrix product, or set MINICNN_BLAS=numpy)")
        return None
    path = _library_path()
    if path is None:
        _mkl_error = (f"no libmkl_rt.so* in {os.path.join(sys.prefix, 'lib')} and MINICNN_MKL "
                      "is not set (pip install minicnn[mkl])")
        return None
    try:
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
        # NOTE: before any other MKL call: one thread per call, minicnn's pool threads.
        lib.MKL_Set_Threading_Layer(ctypes.c_int(_SEQUENTIAL))
    except (OSError, AttributeError) as e:
        _mkl_error = f"cannot load MKL from {path}: {e}"
        return None
    c_int, vp = ctypes.c_int, ctypes.c_void_p
    functions = {}
    for dtype, name, scalar in ((np.float32, "cblas_sgemm", ctypes.c_float),
                                (np.float64, "cblas_dgemm", ctypes.c_double)):
        f = getattr(lib, name)
        f.restype = None
        f.argtypes = [c_int, c_int, c_int, c_int, c_int, c_int, scalar, vp, c_int, vp, c_int,
                      scalar, vp, c_int]
        functions[np.dtype(dtype)] = f
    _mkl = functions
    return _mkl


def set_backend(name: str) -> None:
    """Use ``'mkl'``, ``'numpy'`` or ``'auto'`` (MKL if it can be loaded) from now on."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"BLAS backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "numpy":
        _backend = "numpy"
        return
    found = _load_mkl() is not None
    if name == "mkl" and not found:
        raise RuntimeError(f"BLAS backend 'mkl' asked for, but {_mkl_error}")
    _backend = "mkl" if found else "numpy"


def backend() -> str:
    """The BLAS the CPU kernels' products use now: ``'mkl'`` or ``'numpy'``."""
    if _backend is None:
        set_backend(_requested)
    return _backend


def _operand(a: np.ndarray) -> tuple[int, int] | None:
    """``(transpose flag, leading dimension)`` of a 2-D operand for row-major CBLAS, or None
    if neither axis has unit stride (NumPy then copies)."""
    rows, cols = a.shape
    s0, s1 = (s // a.itemsize for s in a.strides)
    if (s1 == 1 or cols == 1) and s0 >= max(1, cols):
        return _NO_TRANS, max(s0, cols, 1)
    if (s0 == 1 or rows == 1) and s1 >= max(1, rows):
        return _TRANS, max(s1, rows, 1)
    return None


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> np.ndarray:
    """``out = a @ b`` (``out += a @ b`` if ``accumulate``) for 2-D ``a`` (M, K), ``b`` (K, N)
    and ``out`` (M, N) of one floating dtype; ``out`` may be a strided view with unit-stride
    rows (e.g. a block of columns), ``a`` and ``b`` may be transposed views. Returns ``out``.
    MKL (when it is the backend) computes products of ``MKL_MIN_FLOPS`` or more.
    """
    gemm_fn = _mkl.get(out.dtype) if (_backend or backend()) == "mkl" else None
    if gemm_fn is not None and a.dtype == b.dtype == out.dtype \
            and out.size * a.shape[1] * 2 >= MKL_MIN_FLOPS:
        A, B = _operand(a), _operand(b)
        M, N = out.shape
        ldc = out.strides[0] // out.itemsize
        if A and B and (out.strides[1] == out.itemsize or N == 1) and ldc >= max(1, N):
            gemm_fn(_ROW_MAJOR, A[0], B[0], M, N, a.shape[1], 1.0, a.ctypes.data, A[1],
                    b.ctypes.data, B[1], 1.0 if accumulate else 0.0, out.ctypes.data, ldc)
            return out
    if accumulate:
        out += a @ b
    else:
        np.matmul(a, b, out=out)
    return out


_requested = os.environ.get("MINICNN_BLAS", "").strip() or "auto"
if _requested not in BACKENDS:
    raise ValueError(f"MINICNN_BLAS must be one of {', '.join(BACKENDS)}, got {_requested!r}")
