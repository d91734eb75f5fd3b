"""Optimiser update kernels (``kernels.optim``): the fused Numba SGD and Adam give the
reference's bits, at sizes on both sides of ``MIN_SIZE`` / ``ADAM_MIN_SIZE`` and with their
tasks shrunk."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.kernels import optim, use

DTYPES = [np.float32, np.float64]
# (elements, task size): the default tasks, many tasks with an odd remainder, tiny tasks
SIZES = [(70_001, 1 << 18), (70_001, 999), (1003, 10), (3, 1)]


def _state(n: int, dtype: type, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    p, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    m = (0.1 * rng.standard_normal(n)).astype(dtype)
    v = (0.01 * np.abs(rng.standard_normal(n))).astype(dtype)
    return p, g, m, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta1", [0.9, 0.3])  # lerp_ evaluated from either end
@pytest.mark.parametrize("n, task", SIZES)
def test_adam_numba_equals_reference_bit_for_bit(monkeypatch: pytest.MonkeyPatch, dtype: type,
                                                 beta1: float, n: int, task: int) -> None:
    monkeypatch.setattr(optim, "TASK_ELEMENTS", task)
    p, g, m, v = _state(n, dtype, 1)
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    args = (beta1, 0.999, 1e-3, 1e-8, 3.0)
    optim.adam_update_numba(p, g, m, v, *args)
    optim.adam_update_reference(p2, g, m2, v2, *args)
    np.testing.assert_array_equal(m, m2)
    np.testing.assert_array_equal(v, v2)
    np.testing.assert_array_equal(p, p2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, task", SIZES)
def test_sgd_numba_equals_reference_bit_for_bit(monkeypatch: pytest.MonkeyPatch, dtype: type,
                                                n: int, task: int) -> None:
    monkeypatch.setattr(optim, "TASK_ELEMENTS", task)
    p, g, _, _ = _state(n, dtype, 2)
    expected = p.copy()
    optim.sgd_update_reference(expected, g, 0.01)
    optim.sgd_update_numba(p, g, 0.01)
    np.testing.assert_array_equal(p, expected)


def test_adam_reference_is_pytorchs_formula() -> None:
    """One step from zero state, against the formula written out (float64)."""
    p, g, m, v = _state(7, np.float64, 3)
    m[:], v[:] = 0, 0
    p0 = p.copy()
    optim.adam_update_reference(p, g, m, v, 0.9, 0.999, 1e-3, 1e-8, 1.0)
    m_hat, v_hat = 0.1 * g / (1 - 0.9), 0.001 * g * g / (1 - 0.999)
    np.testing.assert_allclose(p, p0 - 1e-3 * m_hat / (np.sqrt(v_hat) + 1e-8), rtol=1e-12)


def test_amsgrad_keeps_the_running_maximum() -> None:
    p, g, m, v = _state(5, np.float64, 4)
    v_max = v + 1.0  # larger than any new v
    before = v_max.copy()
    optim.adam_update(p, g, m, v, 0.9, 0.999, 1e-3, 1e-8, 2.0, v_max)
    np.testing.assert_array_equal(v_max, np.maximum(before, v))


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for name in ("sgd_update_numba", "adam_update_numba", "sgd_update_reference",
                 "adam_update_reference"):
        real = getattr(optim, name)
        monkeypatch.setattr(optim, name, lambda *a, _real=real, _n=name:
                            calls.append(_n.split("_")[-1]) or _real(*a))
    return calls


@pytest.mark.parametrize("mode", ["fast", "reference"])
@pytest.mark.parametrize("offset", [-1, 0])
@pytest.mark.parametrize("update", ["sgd", "adam"])
def test_entry_points_at_the_size_threshold(monkeypatch: pytest.MonkeyPatch, mode: str,
                                            offset: int, update: str) -> None:
    calls = _spy(monkeypatch)
    threshold = optim.MIN_SIZE if update == "sgd" else optim.ADAM_MIN_SIZE
    p, g, m, v = _state(threshold + offset, np.float32, 5)
    with use(mode):
        if update == "sgd":
            optim.sgd_update(p, g, 0.1)
        else:
            optim.adam_update(p, g, m, v, 0.9, 0.999, 1e-3, 1e-8, 1.0)
    fast = mode == "fast" and offset == 0
    assert calls == ["numba" if fast else "reference"]


@pytest.mark.parametrize("case", ["amsgrad", "grad dtype", "strided param"])
def test_entry_points_fall_back_to_the_reference(monkeypatch: pytest.MonkeyPatch,
                                                 case: str) -> None:
    """Cases the fused kernels do not cover take the reference (same results by design)."""
    calls = _spy(monkeypatch)
    p, g, m, v = _state(2 * optim.MIN_SIZE, np.float32, 6)
    v_max = None
    if case == "amsgrad":
        v_max = v.copy()
    elif case == "grad dtype":
        g = g.astype(np.float64)
    else:
        p = np.repeat(p, 2)[::2]
    with use("fast"):
        optim.adam_update(p, g, m, v, 0.9, 0.999, 1e-3, 1e-8, 1.0, v_max)
        if v_max is None:
            optim.sgd_update(p, g, 0.1)
    assert set(calls) == {"reference"}
