"""Fused CPU kernels: the same bits as the NumPy expressions they replace."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.kernels import elementwise, optim
from minicnn.optim.adam import _lerp_

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_is_x_times_mask(dtype: type) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_003).astype(dtype)
    x[:6] = [np.nan, -np.inf, np.inf, -0.0, 0.0, -1e-30]
    y, mask = elementwise.relu_forward(x)
    with np.errstate(invalid="ignore"):  # -inf * 0
        expected = x * (x > 0)
    np.testing.assert_array_equal(mask, x > 0)
    np.testing.assert_array_equal(y, expected)
    assert np.array_equal(np.signbit(y), np.signbit(expected))
    gy = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(elementwise.relu_backward(gy, mask), gy * mask)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta1", [0.9, 0.3])
def test_adam_update_matches_numpy_bit_for_bit(dtype: type, beta1: float) -> None:
    rng = np.random.default_rng(1)
    n = 70_001
    p, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    m = (0.1 * rng.standard_normal(n)).astype(dtype)
    v = (0.01 * np.abs(rng.standard_normal(n))).astype(dtype)
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    beta2, lr, eps, t = 0.999, 1e-3, 1e-8, 3.0
    optim.adam_update(p, g, m, v, beta1, beta2, lr, eps, t)
    # the NumPy path of minicnn.optim.Adam.step
    _lerp_(m2, g, 1 - beta1)
    v2 *= beta2
    v2 += (1 - beta2) * g * g
    denom = np.sqrt(v2) / ((1 - beta2**t) ** 0.5)
    denom += eps
    p2 += (-(lr / (1 - beta1**t)) * m2) / denom
    np.testing.assert_array_equal(m, m2)
    np.testing.assert_array_equal(v, v2)
    np.testing.assert_array_equal(p, p2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_matches_numpy_bit_for_bit(dtype: type) -> None:
    rng = np.random.default_rng(2)
    p, g = rng.standard_normal(50_001).astype(dtype), rng.standard_normal(50_001).astype(dtype)
    expected = p.copy()
    expected -= 0.01 * g
    optim.sgd_update(p, g, 0.01)
    np.testing.assert_array_equal(p, expected)
