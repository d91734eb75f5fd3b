"""Matrix products on minicnn's thread pool: one large GEMM cut into column blocks.

BLAS itself runs single-threaded in minicnn (see ``minicnn.parallel``); a product large
enough to be worth it is cut into 2 or 4 blocks of at least 128 output columns (or 2 blocks
of rows), each one BLAS call on its own thread (NumPy releases the GIL inside BLAS). Every
output element is still one dot product over the whole inner dimension, and the blocks
depend only on the shapes.
"""
from __future__ import annotations

import numpy as np

from minicnn import memory
from minicnn.parallel import chunks, parallel_for

MIN_FLOPS = 1 << 23  # below this, one call: a block's overhead (~20 us) would not pay


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D arrays (any strides NumPy's BLAS path accepts, e.g. transposes),
    into a reused buffer of ``minicnn.memory``."""
    M, K = a.shape
    N = b.shape[1]
    flops = 2 * M * N * K
    dtype = np.result_type(a.dtype, b.dtype)
    out = memory.empty((M, N), dtype)
    if flops < MIN_FLOPS:
        return np.matmul(a, b, out=out)
    # NOTE: a column block re-reads all of ``a``, a row block all of ``b``: narrow blocks (a
    # few dozen columns next to a long inner dimension, e.g. the crack CNN's 100352 -> 64
    # layer) made it 2-3x slower. So: column blocks of >= 128 columns, else row blocks of
    # >= 32 rows, else one call.
    if N >= 256:
        blocks = 2 if flops < 8 * MIN_FLOPS or N < 512 else 4
        cols = chunks(N, -(-N // blocks))

        def block(i: int) -> None:
            j0, j1 = cols[i]
            np.matmul(a, b[:, j0:j1], out=out[:, j0:j1])

        parallel_for(block, len(cols))
    elif M >= 64:
        rows = chunks(M, -(-M // 2))

        def block(i: int) -> None:
            i0, i1 = rows[i]
            np.matmul(a[i0:i1], b, out=out[i0:i1])

        parallel_for(block, len(rows))
    else:
        np.matmul(a, b, out=out)
    return out
