"""The one matrix product the CPU kernels call: ``out = a @ b`` (or ``out += a @ b``) on 2-D
NumPy arrays, through NumPy's BLAS (OpenBLAS, held at one thread: ``minicnn.parallel``).

NOTE: Intel's MKL (the BLAS PyTorch links) was tried here through ctypes and made training
steps 6-10 % faster on an AVX-512 machine, but its loader exports MKL's symbols process-wide,
where a PyTorch imported afterwards binds its own statically linked MKL to them (and starts
with one thread); with a 230 MB dependency to guard that, it was dropped
(benchmarks/README.md, "What was changed in the second round").
"""
from __future__ import annotations

import numpy as np


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> np.ndarray:
    """``out = a @ b`` (``out += a @ b`` if ``accumulate``) for 2-D ``a`` (M, K), ``b`` (K, N)
    and ``out`` (M, N) of one floating dtype; ``out`` may be a strided view (e.g. a block of
    columns), ``a`` and ``b`` transposed views. Returns ``out``."""
    if accumulate:
        out += a @ b
    else:
        np.matmul(a, b, out=out)
    return out
