"""Matrix products of 2-D arrays: ``a @ b``, and the same cut into blocks on minicnn's threads.

The rule: ``out[i, j] = sum_k a[i, k] * b[k, j]``.

Implementations: ``matmul_reference`` (``a @ b``, any xp, any number of axes) and, for 2-D
NumPy arrays, ``matmul_blocks``. BLAS runs single-threaded in minicnn (``minicnn.parallel``),
so a product large enough to be worth it (``MIN_FLOPS``) is cut into 2 or 4 blocks of at
least 128 output columns (or 2 blocks of rows), each one BLAS call on its own thread (NumPy
releases the GIL inside BLAS); every output element is then one dot product over the whole
inner dimension. A small output over a long inner dimension (the crack CNN's 16 x 100352 ->
64 layer) is cut along the inner dimension instead: 2 to 4 partial products, added in block
order. The blocks depend only on the shapes. The output is a reused buffer of
``minicnn.memory``. (Not Numba: it fills the ``numba`` slot of ``implementation``, the fast
CPU one.)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import memory
from minicnn.kernels import implementation
from minicnn.kernels.blas import gemm
from minicnn.parallel import chunks, parallel_for

MIN_FLOPS = 1 << 23  # below this, one call: a block's overhead (~20 us) would not pay
MIN_INNER = 4096  # inner-dimension blocks of at least this length


def matmul_reference(a: Any, b: Any) -> Any:
    """``a @ b``."""
    return a @ b


def matmul_blocks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D arrays (any strides NumPy's BLAS path accepts, e.g. transposes), in
    column or row blocks on the thread pool, into a reused buffer."""
    M, K = a.shape
    N = b.shape[1]
    flops = 2 * M * N * K
    out = memory.empty((M, N), np.result_type(a.dtype, b.dtype))
    if flops < MIN_FLOPS:
        return gemm(a, b, out)
    # NOTE: a column block re-reads all of ``a``, a row block all of ``b``: narrow blocks (a
    # few dozen columns next to a long inner dimension) are slower than one call. So: column
    # blocks of >= 128 columns, else row blocks of >= 32 rows, else inner blocks of >= 4096,
    # else one call.
    if N >= 256:
        blocks = 2 if flops < 8 * MIN_FLOPS or N < 512 else 4
        cols = chunks(N, -(-N // blocks))

        def column_block(i: int) -> None:
            j0, j1 = cols[i]
            gemm(a, b[:, j0:j1], out[:, j0:j1])

        parallel_for(column_block, len(cols))
    elif M >= 64:
        rows = chunks(M, -(-M // 2))

        def row_block(i: int) -> None:
            i0, i1 = rows[i]
            gemm(a[i0:i1], b, out[i0:i1])

        parallel_for(row_block, len(rows))
    elif K >= 2 * MIN_INNER:
        # NOTE: each block computes its part of out^T = b^T @ a^T (N, M): for the crack CNN's
        # layer (M 16, N 64, b = W^T) the faster GEMM layout (1.4x in OpenBLAS).
        inner = chunks(K, max(MIN_INNER, -(-K // 4)))
        parts = np.empty((len(inner), N, M), out.dtype)

        def inner_block(i: int) -> None:
            k0, k1 = inner[i]
            gemm(b[k0:k1].T, a[:, k0:k1].T, parts[i])

        parallel_for(inner_block, len(inner))
        np.sum(parts, axis=0, out=out.T)
    else:
        gemm(a, b, out)
    return out


def matmul(a: Any, b: Any) -> Any:
    """``a @ b``: in blocks on the thread pool for 2-D NumPy arrays, else NumPy's or CuPy's
    ``@`` (which also broadcasts leading axes)."""
    if implementation(a) == "numba" and a.ndim == 2 and b.ndim == 2 \
            and type(b) is np.ndarray:
        return matmul_blocks(a, b)
    return matmul_reference(a, b)
