"""Property tests (hypothesis) where shapes vary: broadcasting pairs for the binary ops,
reductions over random dims, matmul batch broadcasting; every case against PyTorch."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parity import check_parity

import minicnn

DTYPES = [np.float32, np.float64]
# The device fixture is a plain string, so reusing it across examples is safe.
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=4).map(tuple)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: the second drops some leading axes and sets some to 1;
    randomly swapped so either side may be the smaller one."""
    a = draw(shapes)
    lead = draw(st.integers(0, len(a)))
    b = tuple(1 if draw(st.booleans()) else n for n in a[lead:])
    return (b, a) if draw(st.booleans()) else (a, b)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(pair=broadcast_pair(), seed=st.integers(0, 2**16))
def test_binary_broadcasting(name, dtype, device, pair, seed):
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.uniform(0.5, 2.0, pair[0]))  # positive, away from 0: safe for / and **
    b = np.asarray(rng.uniform(0.5, 2.0, pair[1]) * rng.choice([-1, 1], pair[1]))
    check_parity(BINARY[name], BINARY[name], [a, b], dtype=dtype, device=device)


@st.composite
def reduction_case(draw):
    shape = draw(shapes)
    ndim = len(shape)
    if ndim == 0:
        dim = draw(st.sampled_from([None, 0, -1]))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
        # each axis spelled positive or negative; a single axis sometimes as a bare int
        axes = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
        dim = draw(st.sampled_from([None, axes, axes[0]] if axes else [None]))
    return shape, dim, draw(st.booleans())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sum", "mean"])
@SETTINGS
@given(case=reduction_case(), seed=st.integers(0, 2**16))
def test_sum_mean_random_dims(name, dtype, device, case, seed):
    shape, dim, keepdim = case
    x = np.asarray(np.random.default_rng(seed).standard_normal(shape))
    check_parity(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim),
                 lambda t: getattr(t, name)(dim=dim, keepdim=keepdim), [x], dtype=dtype,
                 device=device)


@pytest.mark.parametrize("name", ["max", "min"])
@SETTINGS
@given(shape=shapes.filter(lambda s: len(s) > 0), data=st.data(), seed=st.integers(0, 2**16))
def test_max_min_random_dim_with_ties(name, device, shape, data, seed):
    """Small integer values make ties common: values, first-index indices and gradients."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    x = np.random.default_rng(seed).integers(-2, 3, shape).astype(np.float64)
    check_parity(lambda t: getattr(t, name)(dim, keepdim), lambda t: getattr(t, name)(dim, keepdim),
                 [x], dtype=np.float64, device=device)
    check_parity(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), [x],
                 dtype=np.float64, device=device)


@st.composite
def matmul_case(draw):
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch_a, batch_b = draw(broadcast_pair().filter(lambda p: len(p[0]) + len(p[1]) <= 4))
    a = (k,) if draw(st.integers(0, 4)) == 0 else (*batch_a, n, k)
    b = (k,) if draw(st.integers(0, 4)) == 0 else (*batch_b, k, m)
    return a, b


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(case=matmul_case(), seed=st.integers(0, 2**16))
def test_matmul_random_shapes(dtype, device, case, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in case]
    check_parity(lambda a, b: a @ b, lambda a, b: a @ b, arrays, dtype=dtype, device=device)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SETTINGS
@given(shape=shapes.filter(lambda s: len(s) > 0), data=st.data(), seed=st.integers(0, 2**16))
def test_softmax_random_dim(name, device, shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(shape) * 5
    check_parity(lambda t: getattr(minicnn, name)(t, dim), lambda t: getattr(torch, name)(t, dim),
                 [x], dtype=np.float64, device=device)


@SETTINGS
@given(shape=shapes.filter(lambda s: len(s) > 1), data=st.data(), seed=st.integers(0, 2**16))
def test_permute_then_reshape_random(device, shape, data, seed):
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    x = np.random.default_rng(seed).standard_normal(shape)

    def fn(t):
        return (t.permute(*perm).reshape(-1) * 2).reshape(shape[::-1])

    check_parity(fn, fn, [x], dtype=np.float64, device=device)
