"""``kernels.blas.gemm``: NumPy's BLAS and (when installed) MKL against ``a @ b`` in float64, for
every operand layout the CPU kernels pass; MKL's results do not depend on the operands'
addresses (so minicnn's results do not depend on the thread count); MKL beside PyTorch."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from minicnn.kernels import blas

MKL_FOUND = blas._load_mkl() is not None
needs_mkl = pytest.mark.skipif(not MKL_FOUND, reason="MKL not installed (pip install mkl, or "
                               "set MINICNN_MKL to a libmkl_rt.so): only the NumPy path runs")
BACKENDS = ["numpy", pytest.param("mkl", marks=needs_mkl)]


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch):
    before = blas.backend()
    monkeypatch.setattr(blas, "MKL_MIN_FLOPS", 0)  # every product, however small

    def set_(name: str) -> None:
        blas.set_backend(name)
        assert blas.backend() == name

    yield set_
    blas.set_backend(before)


def _operands(rng, M, K, N, dtype, layout):
    a = rng.standard_normal((K, M)).T if "aT" in layout else rng.standard_normal((M, K))
    b = rng.standard_normal((N, K)).T if "bT" in layout else rng.standard_normal((K, N))
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("layout", ["", "aT", "bT", "aT bT", "out block", "accumulate"])
@pytest.mark.parametrize("M, K, N", [(5, 7, 9), (64, 288, 196), (1, 9, 33), (17, 1, 3),
                                     (3, 4, 1)])
def test_gemm_equals_matmul(backend, name, dtype, tol, layout, M, K, N) -> None:
    backend(name)
    rng = np.random.default_rng(M * K + N)
    a, b = _operands(rng, M, K, N, dtype, layout)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    if layout == "out block":  # a block of columns of a wider array (ldc > N)
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


@pytest.mark.parametrize("name", BACKENDS)
def test_gemm_falls_back_on_mixed_dtypes_and_odd_strides(backend, name) -> None:
    backend(name)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 8))[:, ::2]  # no unit stride on either axis
    b = rng.standard_normal((4, 5)).astype(np.float32)
    out = blas.gemm(a, b, np.empty((6, 5)))
    np.testing.assert_allclose(out, a @ b.astype(np.float64), rtol=1e-6)


@needs_mkl
def test_mkl_results_do_not_depend_on_addresses(backend) -> None:
    """The same product from operands at different offsets in memory is bit for bit the same
    (minicnn's buffers move between runs and thread counts)."""
    backend("mkl")
    rng = np.random.default_rng(4)
    a = rng.standard_normal((64, 288)).astype(np.float32)
    b = rng.standard_normal((288, 203)).astype(np.float32)
    results = []
    for shift in range(5):  # 0-16 bytes: every misalignment of a 64-byte vector lane group
        space = np.zeros(a.size + b.size + 64 * 203 + 3 * 16, np.float32)
        a2 = space[shift:shift + a.size].reshape(a.shape)
        b2 = space[a.size + 16 + shift:a.size + 16 + shift + b.size].reshape(b.shape)
        a2[...], b2[...] = a, b
        out_start = a.size + b.size + 32 + shift
        out = space[out_start:out_start + 64 * 203].reshape(64, 203)
        results.append(blas.gemm(a2, b2, out).copy())
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@needs_mkl
def test_mkl_beside_torch(backend) -> None:
    """PyTorch links its own MKL statically: both in one process, each gives its products."""
    torch = pytest.importorskip("torch")
    backend("mkl")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 100)).astype(np.float32)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    ours = blas.gemm(a, b, np.empty((300, 100), np.float32))
    theirs = (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()
    for out in (ours, theirs, blas.gemm(a, b, np.empty((300, 100), np.float32))):
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_backend_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    before = blas.backend()
    try:
        with pytest.raises(ValueError, match="one of auto, mkl, numpy, got 'openblas'"):
            blas.set_backend("openblas")
        monkeypatch.setattr(blas, "_mkl", None)
        monkeypatch.setattr(blas, "_mkl_error", "")
        monkeypatch.setenv("MINICNN_MKL", "/nonexistent/libmkl_rt.so.2")
        with pytest.raises(RuntimeError, match="cannot load MKL from /nonexistent/libmkl_rt"):
            blas.set_backend("mkl")
        blas.set_backend("auto")  # not found: NumPy's BLAS, no error
        assert blas.backend() == "numpy"
    finally:
        monkeypatch.undo()
        blas.set_backend(before)


@pytest.mark.parametrize("value, code, message", [
    ("bogus", "import minicnn", "MINICNN_BLAS must be one of auto, mkl, numpy, got 'bogus'"),
    ("mkl", "import torch, minicnn; minicnn.kernels.blas.backend()",
     "BLAS backend 'mkl' asked for, but cannot load MKL from /nonexistent"),
    ("mkl", "import minicnn; minicnn.kernels.blas.backend()",
     "PyTorch is installed but not imported yet")])
def test_environment_errors(value: str, code: str, message: str) -> None:
    env = dict(os.environ, MINICNN_BLAS=value, MINICNN_MKL="/nonexistent/libmkl_rt.so.2")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and message in run.stderr


ORDER = """
import sys
{first}
import numpy as np
from minicnn.kernels import blas
a = np.ones((200, 200), np.float32)
blas.gemm(a, a, np.empty((200, 200), np.float32))
import torch
loaded = [line for line in open("/proc/self/maps") if "libmkl_core" in line]
print(blas.backend(), bool(loaded), torch.get_num_threads())
"""


@needs_mkl
def test_mkl_only_where_torch_cannot_bind_to_it() -> None:
    """torch imported first: MKL is used; minicnn's first product before torch is imported:
    MKL is not even loaded (torch, imported after it, would bind its MKL to ours), and torch
    keeps its thread count."""
    env = dict(os.environ, MINICNN_BLAS="auto")
    results = {}
    for order, first in {"torch first": "import torch", "minicnn first": "import minicnn"}.items():
        run = subprocess.run([sys.executable, "-c", ORDER.format(first=first)],
                             env=env, capture_output=True, text=True, check=True)
        results[order] = run.stdout.split()
    reference = subprocess.run([sys.executable, "-c", "import torch; print(torch."
                                "get_num_threads())"], capture_output=True, text=True)
    assert results["torch first"][:2] == ["mkl", "True"]
    assert results["minicnn first"][:2] == ["numpy", "False"]
    assert results["minicnn first"][2] == results["torch first"][2] == reference.stdout.strip()


@needs_mkl
def test_small_products_go_to_numpy(backend, monkeypatch: pytest.MonkeyPatch) -> None:
    backend("mkl")
    monkeypatch.setattr(blas, "MKL_MIN_FLOPS", 2 * 4 * 5 * 6 + 1)
    calls = []
    monkeypatch.setattr(blas, "_mkl", {k: lambda *a, _f=f: calls.append(1) or _f(*a)
                                       for k, f in blas._mkl.items()})
    a, b = np.ones((4, 5), np.float32), np.ones((5, 6), np.float32)
    np.testing.assert_array_equal(blas.gemm(a, b, np.empty((4, 6), np.float32)), 5.0)
    assert calls == []
    monkeypatch.setattr(blas, "MKL_MIN_FLOPS", 2 * 4 * 5 * 6)
    np.testing.assert_array_equal(blas.gemm(a, b, np.empty((4, 6), np.float32)), 5.0)
    assert calls == [1]
