"""ReLU kernels (``kernels.elementwise``): the fused Numba pass gives the reference's bits, at
sizes on both sides of ``MIN_SIZE`` and with its flat tasks shrunk (odd remainders)."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.kernels import elementwise, use

DTYPES = [np.float32, np.float64]


def _x(n: int, dtype: type, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(n).astype(dtype)
    x[:6] = [np.nan, -np.inf, np.inf, -0.0, 0.0, -1e-30][:n]
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, task", [(100_003, 1 << 18), (100_003, 1000), (1001, 7), (5, 1)])
def test_numba_equals_reference_bit_for_bit(monkeypatch: pytest.MonkeyPatch, dtype: type,
                                            n: int, task: int) -> None:
    monkeypatch.setattr(elementwise, "TASK_ELEMENTS", task)
    x = _x(n, dtype)
    with np.errstate(invalid="ignore"):  # -inf * 0
        y, mask = elementwise.relu_forward_numba(x)
        y_ref, mask_ref = elementwise.relu_forward_reference(x)
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert np.array_equal(np.signbit(y), np.signbit(y_ref))  # -0.0 stays -0.0
    gy = np.random.default_rng(1).standard_normal(n).astype(dtype)
    gx = elementwise.relu_backward_numba(gy, mask)
    np.testing.assert_array_equal(gx, elementwise.relu_backward_reference(gy, mask_ref))
    assert np.array_equal(np.signbit(gx), np.signbit(gy * mask_ref))


def test_relu_rule_at_zero_and_nan() -> None:
    """NOTE: relu'(0) = 0 and NaN stays NaN, as PyTorch."""
    x = np.array([0.0, -0.0, np.nan, 2.0, -3.0])
    for y, mask in (elementwise.relu_forward_numba(x), elementwise.relu_forward_reference(x)):
        np.testing.assert_array_equal(mask, [False, False, False, True, False])
        np.testing.assert_array_equal(y, [0.0, -0.0, np.nan, 2.0, -0.0])


def test_backward_of_a_non_contiguous_gradient() -> None:
    x = np.random.default_rng(2).standard_normal((300, 400))
    _, mask = elementwise.relu_forward_numba(x)
    gy = np.asfortranarray(np.random.default_rng(3).standard_normal((300, 400)))
    np.testing.assert_array_equal(elementwise.relu_backward_numba(gy, mask), gy * mask)


@pytest.mark.parametrize("mode", ["fast", "reference"])
@pytest.mark.parametrize("offset", [-1, 0])
def test_entry_points_at_the_size_threshold(monkeypatch: pytest.MonkeyPatch, mode: str,
                                            offset: int) -> None:
    """Numba from ``MIN_SIZE`` elements on (fast mode, contiguous input), the reference below
    it, for non-contiguous inputs and in reference mode; the same results either way."""
    calls = []
    for name in ("relu_forward_numba", "relu_backward_numba", "relu_forward_reference",
                 "relu_backward_reference"):
        real = getattr(elementwise, name)
        monkeypatch.setattr(elementwise, name,
                            lambda *a, _real=real, _n=name: calls.append(_n.split("_")[-1])
                            or _real(*a))
    n = elementwise.MIN_SIZE + offset
    x = _x(n, np.float32, 4)
    gy = np.random.default_rng(5).standard_normal(n).astype(np.float32)
    with use(mode), np.errstate(invalid="ignore"):
        y, mask = elementwise.relu_forward(x)
        gx = elementwise.relu_backward(gy, mask)
        y_strided, _ = elementwise.relu_forward(np.repeat(x, 2)[::2])  # not contiguous
    fast = mode == "fast" and offset == 0
    assert calls == ["numba" if fast else "reference"] * 2 + ["reference"]
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(y, x * (x > 0))
        np.testing.assert_array_equal(y_strided, y)
    np.testing.assert_array_equal(gx, gy * (x > 0))
