"""softmax and log_softmax against PyTorch and gradcheck (relu, sigmoid and tanh are checked
with the other unary ops in test_elementwise.py)."""
import numpy as np
import pytest
import torch
from parity import assert_gradcheck, check_parity

import minicnn

DTYPES = [np.float32, np.float64]
SOFTMAX = {
    "softmax": (minicnn.softmax, torch.softmax, lambda t, d: t.softmax(d)),
    "log_softmax": (minicnn.log_softmax, torch.log_softmax, lambda t, d: t.log_softmax(d)),
}
# (shape, dim): every axis of a few shapes, negative dims, size-1 axes.
CASES = [((5,), 0), ((5,), -1), ((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1),
         ((2, 3, 4), -3), ((3, 1), 1), ((1, 4), 0), ((2, 1, 3), 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_parity(name, case, dtype, device, rng):
    fn, t_fn, method = SOFTMAX[name]
    shape, dim = case
    x = rng.standard_normal(shape) * 3
    check_parity(lambda t: fn(t, dim), lambda t: t_fn(t, dim), [x], dtype=dtype, device=device)
    check_parity(lambda t: method(t, dim), lambda t: t_fn(t, dim), [x], dtype=dtype,
                 device=device)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_gradcheck(name, case, device, rng):
    fn = SOFTMAX[name][0]
    shape, dim = case
    assert_gradcheck(lambda t: fn(t, dim), [rng.standard_normal(shape)], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_non_contiguous(name, dtype, device, rng):
    fn, t_fn, _ = SOFTMAX[name]
    x = rng.standard_normal((4, 3, 2))
    check_parity(lambda t: fn(t.permute(2, 0, 1), 1), lambda t: t_fn(t.permute(2, 0, 1), 1),
                 [x], dtype=dtype, device=device)
    assert_gradcheck(lambda t: fn(t.permute(2, 0, 1), 1), [x], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_large_logits_stay_finite(name, dtype, device):
    """Logits of +-1000 overflow a naive exp; the max shift keeps values and gradients finite."""
    fn, t_fn, _ = SOFTMAX[name]
    x = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -999.0]])
    check_parity(lambda t: fn(t, 1), lambda t: t_fn(t, 1), [x], dtype=dtype, device=device)
    t = minicnn.tensor(x.astype(dtype), device=device, requires_grad=True)
    y = fn(t, 1)
    y.sum().backward()
    assert np.isfinite(y.detach().numpy()).all() and np.isfinite(t.grad.numpy()).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows_sum_to_one(dtype, device, rng):
    x = minicnn.tensor((rng.standard_normal((4, 6)) * 10).astype(dtype), device=device)
    p = minicnn.softmax(x, dim=1).numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    lp = minicnn.log_softmax(x, dim=1).numpy()
    np.testing.assert_allclose(np.exp(lp), p, rtol=1e-5)


def test_softmax_needs_dim(device):
    x = minicnn.tensor(np.zeros((2, 3)), device=device)
    with pytest.raises(TypeError):
        minicnn.softmax(x)
    with pytest.raises(IndexError):
        minicnn.log_softmax(x, 2)
