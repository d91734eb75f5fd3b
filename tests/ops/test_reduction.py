"""sum, mean, max/min (full and along a dim), argmax/argmin against PyTorch and gradcheck."""
import numpy as np
import pytest
import torch
from parity import assert_gradcheck, check_parity

import minicnn

DTYPES = [np.float32, np.float64]

# (shape, dim): dim None, an int, a negative int, tuples, size-1 axes, a 0-d tensor.
SUM_CASES = [((), None), ((), 0), ((), -1), ((5,), None), ((5,), 0), ((3, 4), None),
             ((3, 4), 0), ((3, 4), -1), ((3, 4), (0, 1)), ((2, 3, 4), (0, 2)),
             ((2, 3, 4), (-1, 0)), ((2, 3, 4), (1,)), ((2, 1, 3), 1), ((1, 1), (0, 1))]
SUM_OPS = {
    "sum": (minicnn.sum, torch.sum, lambda t, *a, **k: t.sum(*a, **k)),
    "mean": (minicnn.mean, torch.mean, lambda t, *a, **k: t.mean(*a, **k)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("case", SUM_CASES, ids=str)
@pytest.mark.parametrize("name", list(SUM_OPS))
def test_sum_mean_parity(name, case, keepdim, dtype, device, rng):
    fn, t_fn, method = SUM_OPS[name]
    shape, dim = case
    x = np.asarray(rng.standard_normal(shape))
    check_parity(lambda t: fn(t, dim, keepdim), lambda t: t_fn(t, dim, keepdim), [x],
                 dtype=dtype, device=device)
    check_parity(lambda t: method(t, dim=dim, keepdim=keepdim),
                 lambda t: method(t, dim=dim, keepdim=keepdim), [x], dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(SUM_OPS))
def test_sum_mean_no_arguments(name, dtype, device, rng):
    method = SUM_OPS[name][2]
    check_parity(method, method, [rng.standard_normal((3, 2))], dtype=dtype, device=device)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("case", SUM_CASES, ids=str)
@pytest.mark.parametrize("name", list(SUM_OPS))
def test_sum_mean_gradcheck(name, case, keepdim, device, rng):
    fn = SUM_OPS[name][0]
    shape, dim = case
    assert_gradcheck(lambda t: fn(t, dim, keepdim), [np.asarray(rng.standard_normal(shape))],
                     device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(SUM_OPS))
def test_sum_mean_non_contiguous(name, dtype, device, rng):
    fn, t_fn, _ = SUM_OPS[name]
    x = rng.standard_normal((4, 3, 2))
    for dim in (None, 0, (0, 2)):
        check_parity(lambda t, d=dim: fn(t.permute(2, 0, 1), d),
                     lambda t, d=dim: t_fn(t.permute(2, 0, 1), d), [x], dtype=dtype,
                     device=device)


def test_mean_of_integers_raises(device):
    with pytest.raises(TypeError):
        minicnn.mean(minicnn.tensor(np.arange(4), device=device))


def test_sum_of_integers_stays_integer(device):
    check_parity(lambda t: t.sum(), lambda t: t.sum(), [np.arange(6).reshape(2, 3)],
                 dtype=np.float32, device=device, grad=False)


# --------------------------------------------------------------------------- max / min
EXTREMA = {
    "max": (minicnn.max, torch.max, lambda t, *a, **k: t.max(*a, **k)),
    "min": (minicnn.min, torch.min, lambda t, *a, **k: t.min(*a, **k)),
}
# Integer-valued data: plenty of exact ties, no rounding.
TIES = np.array([[3.0, 1.0, 3.0, -2.0],
                 [-2.0, -2.0, 0.0, 3.0],
                 [1.0, 1.0, 1.0, 1.0]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(EXTREMA))
def test_full_extremum_ties_share_gradient(name, dtype, device):
    """max()/min() over all elements: k tied extrema get gy / k each, as PyTorch."""
    fn, t_fn, method = EXTREMA[name]
    for x in (TIES, TIES[2], np.array(5.0), np.array([2.0, 7.0, 7.0, 1.0, 7.0])):
        check_parity(fn, t_fn, [x], dtype=dtype, device=device)
        check_parity(method, t_fn, [x], dtype=dtype, device=device)
    x = minicnn.tensor(TIES.astype(dtype), device=device, requires_grad=True)
    fn(x).backward()
    extremum = TIES.max() if name == "max" else TIES.min()  # taken 3 times in TIES
    expected = np.where(TIES == extremum, 1 / 3, 0)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1, -2])
@pytest.mark.parametrize("name", list(EXTREMA))
def test_extremum_along_dim_ties_first_index(name, dim, keepdim, dtype, device):
    """max(dim)/min(dim): values and int64 indices as PyTorch, ties resolved to the first
    index, and the whole gradient routed to that one index."""
    fn, t_fn, method = EXTREMA[name]
    check_parity(lambda t: fn(t, dim, keepdim), lambda t: t_fn(t, dim, keepdim), [TIES],
                 dtype=dtype, device=device)
    check_parity(lambda t: method(t, dim=dim, keepdim=keepdim),
                 lambda t: method(t, dim=dim, keepdim=keepdim), [TIES], dtype=dtype,
                 device=device)


@pytest.mark.parametrize("name", list(EXTREMA))
def test_extremum_result_fields(name, device):
    fn = EXTREMA[name][0]
    out = fn(minicnn.tensor(TIES, device=device), 1)
    values, indices = out
    assert out.values is values and out.indices is indices
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.numpy(), [0, 3, 0] if name == "max" else [3, 0, 0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [((5,), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((1, 3), 0),
                                  ((), 0)], ids=str)
@pytest.mark.parametrize("name", list(EXTREMA))
def test_extremum_along_dim_random(name, case, dtype, device, rng):
    fn, t_fn, _ = EXTREMA[name]
    shape, dim = case
    x = np.asarray(rng.standard_normal(shape))
    check_parity(lambda t: fn(t, dim), lambda t: t_fn(t, dim), [x], dtype=dtype, device=device)
    check_parity(lambda t: fn(t.T, 0), lambda t: t_fn(t.T, 0), [rng.standard_normal((3, 4))],
                 dtype=dtype, device=device)


@pytest.mark.parametrize("name", list(EXTREMA))
def test_extremum_gradcheck(name, device, rng):
    fn = EXTREMA[name][0]
    x = rng.permutation(24).reshape(2, 3, 4) / 4.0  # distinct values 0.25 apart: no ties
    assert_gradcheck(fn, [x], device=device)
    for dim in (0, 1, 2):
        for keepdim in (False, True):
            assert_gradcheck(lambda t, d=dim, k=keepdim: fn(t, d, k)[0], [x], device=device)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, device, rng):
    x = np.round(rng.standard_normal((3, 5)))  # rounded: ties, first index wins
    for args in ((), (0,), (1,), (-1, True)):
        check_parity(lambda t, a=args: getattr(minicnn, name)(t, *a),
                     lambda t, a=args: getattr(torch, name)(t, *a), [x], dtype=np.float64,
                     device=device, grad=False)
        check_parity(lambda t, a=args: getattr(t, name)(*a),
                     lambda t, a=args: getattr(t, name)(*a), [x], dtype=np.float32,
                     device=device, grad=False)
