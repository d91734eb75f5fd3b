"""Batch-norm kernels (``kernels.normalization``): the fused Numba passes against the
reference, with tasks shrunk so that channel-range edges and odd remainders are crossed, and
the reference against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from minicnn.kernels import normalization as bn
from minicnn.kernels import use

# (x shape, channels per task): the default tasks, one channel per task, 2 of an odd 5
CASES = [((4, 5, 6, 7), 0), ((4, 5, 6, 7), 1), ((3, 5, 4, 3), 2), ((2, 1, 1, 3), 1)]


def _inputs(shape: tuple, dtype: type, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = (3.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)  # an offset: the shift matters
    gy = rng.standard_normal(shape).astype(dtype)
    gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    return x, gy, gamma, beta


def _tasks(monkeypatch: pytest.MonkeyPatch, shape: tuple, channels: int) -> None:
    if channels:
        monkeypatch.setattr(bn, "TASK_ELEMENTS", channels * shape[0] * shape[2] * shape[3])


@pytest.mark.parametrize("shape, channels", CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_numba_matches_reference_float64(monkeypatch: pytest.MonkeyPatch, shape: tuple,
                                         channels: int, affine: bool) -> None:
    _tasks(monkeypatch, shape, channels)
    x, gy, gamma, beta = _inputs(shape, np.float64)
    if not affine:
        gamma = beta = None
    mean, var = bn.batch_stats_numba(x)
    mean_ref, var_ref = bn.batch_stats_reference(x)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(var, var_ref, rtol=1e-12, atol=1e-13)
    inv_std = 1 / np.sqrt(var_ref + 1e-5)
    np.testing.assert_allclose(bn.normalize_numba(x, mean_ref, inv_std, gamma, beta),
                               bn.normalize_reference(x, mean_ref, inv_std, gamma, beta),
                               rtol=1e-13, atol=1e-13)
    sums = bn.grad_sums_numba(x, gy, mean_ref, inv_std)
    sums_ref = bn.grad_sums_reference(x, gy, mean_ref, inv_std)
    for got, want in zip(sums, sums_ref):
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bn.grad_input_numba(x, gy, mean_ref, inv_std, gamma, *sums_ref),
                               bn.grad_input_reference(x, gy, mean_ref, inv_std, gamma,
                                                       *sums_ref), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, channels", CASES[:2])
def test_float32_stays_float32_and_close(monkeypatch: pytest.MonkeyPatch, shape: tuple,
                                         channels: int) -> None:
    _tasks(monkeypatch, shape, channels)
    x, gy, gamma, beta = _inputs(shape, np.float32, 1)
    mean, var = bn.batch_stats_numba(x)
    assert mean.dtype == var.dtype == np.float32
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2, 3)), rtol=1e-5)
    inv_std = (1 / np.sqrt(var + 1e-5)).astype(np.float32)
    y = bn.normalize_numba(x, mean, inv_std, gamma, beta)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, bn.normalize_reference(x, mean, inv_std, gamma, beta),
                               rtol=1e-5, atol=1e-5)
    sums = bn.grad_sums_numba(x, gy, mean, inv_std)
    gx = bn.grad_input_numba(x, gy, mean, inv_std, gamma, *sums)
    assert gx.dtype == np.float32
    np.testing.assert_allclose(gx, bn.grad_input_reference(x, gy, mean, inv_std, gamma, *sums),
                               rtol=1e-4, atol=1e-5)


def test_statistics_survive_a_large_offset() -> None:
    """The shifted one-pass variance: a channel at 1e4 with spread 1 keeps its variance."""
    rng = np.random.default_rng(2)
    x = 1e4 + rng.standard_normal((8, 2, 5, 5)).astype(np.float32)
    _, var = bn.batch_stats_numba(x)
    np.testing.assert_allclose(var, x.astype(np.float64).var(axis=(0, 2, 3)), rtol=1e-4)


@pytest.mark.parametrize("mode", ["fast", "reference"])
@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (6, 3)])
def test_training_step_matches_torch(mode: str, shape: tuple) -> None:
    """The entry points chained as the BatchNorm op chains them, against torch (float64)."""
    x, gy, gamma, beta = _inputs(shape, np.float64, 3)
    xt, gt, bt = (torch.from_numpy(a).requires_grad_(True) for a in (x, gamma, beta))
    yt = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-5)
    yt.backward(torch.from_numpy(gy))
    with use(mode):
        mean, var = bn.batch_stats(x)
        inv_std = 1 / np.sqrt(var + 1e-5)
        y = bn.normalize(x, mean, inv_std, gamma, beta)
        sum_gy, sum_gy_xhat = bn.grad_sums(x, gy, mean, inv_std)
        gx = bn.grad_input(x, gy, mean, inv_std, gamma, sum_gy, sum_gy_xhat)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sum_gy_xhat, gt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sum_gy, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode, shape, expected", [
    ("fast", (4, 3, 2, 2), "numba"), ("fast", (4, 3), "reference"),
    ("reference", (4, 3, 2, 2), "reference")])
def test_entry_points_pick_the_implementation(monkeypatch: pytest.MonkeyPatch, mode: str,
                                              shape: tuple, expected: str) -> None:
    calls = []
    for name in ("batch_stats", "normalize", "grad_sums", "grad_input"):
        for tag in ("numba", "reference"):
            real = getattr(bn, f"{name}_{tag}")
            monkeypatch.setattr(bn, f"{name}_{tag}", lambda *a, _real=real, _tag=tag:
                                calls.append(_tag) or _real(*a))
    x, gy, gamma, beta = _inputs(shape, np.float64, 4)
    with use(mode):
        mean, var = bn.batch_stats(x)
        bn.normalize(x, mean, var, gamma, beta)
        sums = bn.grad_sums(x, gy, mean, var)
        bn.grad_input(x, gy, mean, var, gamma, *sums)
    assert calls == [expected] * 4
