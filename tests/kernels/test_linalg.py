"""``kernels.linalg.matmul``: the blocked products on the thread pool against ``a @ b``, in
every blocking branch and on both sides of ``MIN_FLOPS``."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.kernels import linalg, use


# (M, K, N, MIN_FLOPS): one call below the threshold; 2 and 4 column blocks; 2 row blocks;
# one call when no blocking applies; inner blocks (MIN_INNER 3: 3 of K 7, 4 of K 13);
# odd sizes so that blocks are unequal.
@pytest.mark.parametrize("M, K, N, min_flops", [
    (5, 7, 9, 1 << 23), (3, 5, 301, 1), (3, 5, 1025, 1), (3, 5, 300, 1 << 12),
    (129, 5, 7, 1), (10, 5, 7, 1), (10, 7, 7, 1), (10, 13, 7, 1)])
@pytest.mark.parametrize("transposed", [False, True])
def test_blocks_equal_reference(monkeypatch: pytest.MonkeyPatch, M: int, K: int, N: int,
                                min_flops: int, transposed: bool) -> None:
    monkeypatch.setattr(linalg, "MIN_FLOPS", min_flops)
    monkeypatch.setattr(linalg, "MIN_INNER", 3)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((K, M)).T if transposed else rng.standard_normal((M, K))
    b = rng.standard_normal((N, K)).T if transposed else rng.standard_normal((K, N))
    out = linalg.matmul_blocks(a, b)
    assert out.shape == (M, N)
    np.testing.assert_allclose(out, linalg.matmul_reference(a, b), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_entry_point(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    calls = []
    for name in ("matmul_blocks", "matmul_reference"):
        real = getattr(linalg, name)
        monkeypatch.setattr(linalg, name, lambda *a, _real=real, _n=name:
                            calls.append(_n.split("_")[-1]) or _real(*a))
    rng = np.random.default_rng(1)
    a, b, a3 = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), \
        rng.standard_normal((2, 4, 3))
    with use(mode):
        np.testing.assert_allclose(linalg.matmul(a, b), a @ b, rtol=1e-13)
        np.testing.assert_allclose(linalg.matmul(a3, b), a3 @ b, rtol=1e-13)  # broadcast
    assert calls == ["blocks" if mode == "fast" else "reference", "reference"]
