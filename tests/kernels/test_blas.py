"""``kernels.blas.gemm``: ``a @ b`` against float64, for every operand layout the CPU kernels
pass (transposed views, a block of columns of a wider output, accumulation)."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.kernels import blas


def _operands(rng: np.random.Generator, M: int, K: int, N: int, dtype: type,
              layout: str) -> tuple[np.ndarray, np.ndarray]:
    a = rng.standard_normal((K, M)).T if "aT" in layout else rng.standard_normal((M, K))
    b = rng.standard_normal((N, K)).T if "bT" in layout else rng.standard_normal((K, N))
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("layout", ["", "aT", "bT", "aT bT", "out block", "accumulate"])
@pytest.mark.parametrize("M, K, N", [(5, 7, 9), (64, 288, 196), (1, 9, 33), (17, 1, 3),
                                     (3, 4, 1)])
def test_gemm_equals_matmul(dtype: type, tol: float, layout: str, M: int, K: int,
                            N: int) -> None:
    rng = np.random.default_rng(M * K + N)
    a, b = _operands(rng, M, K, N, dtype, layout)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    if layout == "out block":  # a block of columns of a wider array
        wide = np.full((M, N + 5), 7.0, dtype)
        out = blas.gemm(a, b, wide[:, 2:2 + N])
        assert np.all(wide[:, :2] == 7) and np.all(wide[:, 2 + N:] == 7)  # untouched
    elif layout == "accumulate":
        start = rng.standard_normal((M, N)).astype(dtype)
        out = blas.gemm(a, b, start.copy(), accumulate=True)
        expected += start
    else:
        out = blas.gemm(a, b, np.empty((M, N), dtype))
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(K))
