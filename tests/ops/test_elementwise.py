"""Elementwise ops against PyTorch (values, gradients) and gradcheck: arithmetic with
broadcasting and Python scalars, unary math, clamp, where, casts and comparisons."""
import numpy as np
import pytest
import torch
from parity import assert_gradcheck, check_parity

import minicnn

DTYPES = [np.float32, np.float64]

# (shape of a, shape of b): equal, broadcast both ways, size-1 dims, 0-d scalars.
BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 3, 4)),
    ((2, 1, 3), (4, 1)),
    ((), (3, 2)),
    ((2, 3), ()),
    ((1,), ()),
    ((), ()),
]


def uniform(rng, shape, lo=-2.0, hi=2.0):
    return np.asarray(rng.uniform(lo, hi, shape))


def away_from_zero(rng, shape, gap=0.2):
    """Values in +-[gap, 2], so a kink at 0 is never within a finite-difference step."""
    return np.asarray(uniform(rng, shape, gap, 2.0) * np.where(rng.random(shape) < 0.5, -1, 1))


# name -> (minicnn fn, torch fn, input sampler for b: b must be safe to divide by / raise)
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b),
    "minicnn.add": (minicnn.add, torch.add),
    "minicnn.sub": (minicnn.sub, torch.sub),
    "minicnn.mul": (minicnn.mul, torch.mul),
    "minicnn.div": (minicnn.div, torch.div),
    "minicnn.pow": (minicnn.pow, torch.pow),
    "Tensor.add": (lambda a, b: a.add(b), lambda a, b: a.add(b)),
    "Tensor.sub": (lambda a, b: a.sub(b), lambda a, b: a.sub(b)),
    "Tensor.mul": (lambda a, b: a.mul(b), lambda a, b: a.mul(b)),
    "Tensor.div": (lambda a, b: a.div(b), lambda a, b: a.div(b)),
    "Tensor.pow": (lambda a, b: a.pow(b), lambda a, b: a.pow(b)),
}


def binary_inputs(rng, name, sa, sb):
    """a positive for pow (real-valued a ** b), b away from 0 for div."""
    if name.endswith("pow"):
        return uniform(rng, sa, 0.5, 2.0), uniform(rng, sb, -1.5, 1.5)
    if name.endswith("div"):
        return uniform(rng, sa), away_from_zero(rng, sb, 0.5)
    return uniform(rng, sa), uniform(rng, sb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_parity(name, shapes, dtype, device, rng):
    mc_fn, t_fn = BINARY[name]
    check_parity(mc_fn, t_fn, binary_inputs(rng, name, *shapes), dtype=dtype, device=device)


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_binary_gradcheck(name, shapes, device, rng):
    assert_gradcheck(BINARY[name][0], binary_inputs(rng, name, *shapes), device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_binary_non_contiguous(name, dtype, device, rng):
    """Both operands reach the op as transposed (non-contiguous) views."""
    mc_fn, t_fn = BINARY[name]
    a, b = binary_inputs(rng, name, (4, 3), (3, 4, 2))
    check_parity(lambda x, y: mc_fn(x.T, y.permute(2, 0, 1)),
                 lambda x, y: t_fn(x.T, y.permute(2, 0, 1)), [a, b], dtype=dtype,
                 device=device)
    assert_gradcheck(lambda x, y: mc_fn(x.T, y.permute(2, 0, 1)), [a, b], device=device)


# Python numbers on either side: the result keeps the tensor's dtype (x + 2.5 stays float32).
SCALAR_OPS = {
    "x+2.5": lambda x: x + 2.5,
    "2.5+x": lambda x: 2.5 + x,
    "x+1": lambda x: x + 1,
    "x-2": lambda x: x - 2,
    "3-x": lambda x: 3 - x,
    "0.5-x": lambda x: 0.5 - x,
    "x*1.5": lambda x: x * 1.5,
    "2*x": lambda x: 2 * x,
    "x/3": lambda x: x / 3,
    "2/x": lambda x: 2 / x,
    "x**2": lambda x: x ** 2,
    "x**3": lambda x: x ** 3,
    "x**0.5": lambda x: x ** 0.5,
    "x**-1": lambda x: x ** -1,
    "x**-1.5": lambda x: x ** -1.5,
    "x**0": lambda x: x ** 0,
    "x**1": lambda x: x ** 1,
    "2**x": lambda x: 2 ** x,
    "0.5**x": lambda x: 0.5 ** x,
    "-x": lambda x: -x,
    "+x": lambda x: +x,
    "x.neg()": lambda x: x.neg(),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (3, 4)], ids=str)
@pytest.mark.parametrize("op", list(SCALAR_OPS))
def test_scalar_operand_parity(op, shape, dtype, device, rng):
    x = uniform(rng, shape, 0.5, 2.0)  # positive: x ** 0.5 and 2 / x are defined
    check_parity(SCALAR_OPS[op], SCALAR_OPS[op], [x], dtype=dtype, device=device)


@pytest.mark.parametrize("op", list(SCALAR_OPS))
def test_scalar_operand_gradcheck(op, device, rng):
    assert_gradcheck(SCALAR_OPS[op], [uniform(rng, (2, 3), 0.5, 2.0)], device=device)


def test_neg_function_and_method(device, rng):
    x = uniform(rng, (2, 3))
    for fn in (minicnn.neg, lambda t: t.neg(), lambda t: -t):
        check_parity(fn, torch.neg, [x], dtype=np.float64, device=device)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # 0 ** -0.5 = inf
@pytest.mark.parametrize("dtype", DTYPES)
def test_pow_scalar_at_zero(dtype, device):
    """x ** c at x = 0: gradient 0 for c = 2, inf for c = 0.5, 0 for c = 0 (all as PyTorch)."""
    x = np.array([0.0, 1.0, -2.0])
    for c in (2, 3, 0, 1, 2.0):
        check_parity(lambda t, c=c: t ** c, lambda t, c=c: t ** c, [x], dtype=dtype,
                     device=device)
    check_parity(lambda t: t ** 0.5, lambda t: t ** 0.5, [np.array([0.0, 4.0])], dtype=dtype,
                 device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow_tensor_exponent_at_zero_base(dtype, device):
    """a ** b with a = 0: d/db is 0 (not NaN) where b >= 0, d/da is 0 where b == 0 (PyTorch)."""
    a = np.array([0.0, 0.0, 0.0, 2.0, 0.0])
    b = np.array([0.0, 2.0, 1.0, 0.0, 3.0])
    check_parity(lambda x, y: x ** y, lambda x, y: x ** y, [a, b], dtype=dtype, device=device)


# --------------------------------------------------------------------------- unary math
UNARY = {
    "exp": (minicnn.exp, torch.exp, lambda t: t.exp(), "any"),
    "log": (minicnn.log, torch.log, lambda t: t.log(), "positive"),
    "sqrt": (minicnn.sqrt, torch.sqrt, lambda t: t.sqrt(), "positive"),
    "abs": (minicnn.abs, torch.abs, lambda t: t.abs(), "nonzero"),
    "tanh": (minicnn.tanh, torch.tanh, lambda t: t.tanh(), "any"),
    "sigmoid": (minicnn.sigmoid, torch.sigmoid, lambda t: t.sigmoid(), "any"),
    "relu": (minicnn.relu, torch.relu, lambda t: t.relu(), "nonzero"),
    "neg": (minicnn.neg, torch.neg, lambda t: t.neg(), "any"),
}
UNARY_SHAPES = [(), (1,), (5,), (3, 4), (2, 1, 3)]


def unary_input(rng, domain, shape):
    if domain == "positive":
        return uniform(rng, shape, 0.3, 3.0)
    if domain == "nonzero":
        return away_from_zero(rng, shape)
    return uniform(rng, shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_parity(name, shape, dtype, device, rng):
    fn, t_fn, method, domain = UNARY[name]
    x = unary_input(rng, domain, shape)
    check_parity(fn, t_fn, [x], dtype=dtype, device=device)
    check_parity(method, t_fn, [x], dtype=dtype, device=device)


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradcheck(name, shape, device, rng):
    fn, _, _, domain = UNARY[name]
    assert_gradcheck(fn, [unary_input(rng, domain, shape)], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_non_contiguous(name, dtype, device, rng):
    fn, t_fn, _, domain = UNARY[name]
    x = unary_input(rng, domain, (4, 3))
    check_parity(lambda t: fn(t.T), lambda t: t_fn(t.T), [x], dtype=dtype, device=device)
    check_parity(lambda t: fn(t[::2, ::-1]), lambda t: t_fn(t.flip(1)[::2]), [x],
                 dtype=dtype, device=device)


def test_builtin_abs(device, rng):
    check_parity(lambda t: abs(t), torch.abs, [away_from_zero(rng, (3,))], dtype=np.float64,
                 device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kinks_exact_values(dtype, device):
    """relu'(0) = 0 and abs'(0) = 0, exactly as PyTorch (also at -0.0)."""
    x = np.array([-1.5, -0.0, 0.0, 0.0, 2.0])
    check_parity(minicnn.relu, torch.relu, [x], dtype=dtype, device=device)
    check_parity(minicnn.abs, torch.abs, [x], dtype=dtype, device=device)
    xt = minicnn.tensor(x.astype(dtype), device=device, requires_grad=True)
    minicnn.relu(xt).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), [0, 0, 0, 0, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_exp_sigmoid_tanh_stay_finite(dtype, device):
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0])
    check_parity(minicnn.sigmoid, torch.sigmoid, [x], dtype=dtype, device=device)
    check_parity(minicnn.tanh, torch.tanh, [x], dtype=dtype, device=device)
    y = minicnn.sigmoid(minicnn.tensor(x.astype(dtype), device=device)).numpy()
    assert np.isfinite(y).all()


# --------------------------------------------------------------------------- clamp
CLAMPS = [(-1.0, 1.0), (-0.5, None), (None, 0.5), (0.0, 0.0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bounds", CLAMPS, ids=str)
def test_clamp_boundaries_exact(bounds, dtype, device):
    """Values exactly at a bound: the same gradient as PyTorch.

    NOTE: the installed PyTorch (2.14) gives 0 there (its clamp_min/clamp_max use strict
    inequalities); older releases gave 1. Whatever torch does, minicnn must do.
    """
    lo, hi = bounds
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0])
    check_parity(lambda t: minicnn.clamp(t, lo, hi), lambda t: torch.clamp(t, lo, hi), [x],
                 dtype=dtype, device=device)
    check_parity(lambda t: t.clamp(min=lo, max=hi), lambda t: t.clamp(min=lo, max=hi), [x],
                 dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clamp_boundary_gradient_value(dtype, device):
    """The boundary gradient pinned down by value (0 at lo and hi, 1 strictly inside)."""
    x = minicnn.tensor(np.array([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=dtype), device=device,
                       requires_grad=True)
    x.clamp(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 1, 0, 0])


@pytest.mark.parametrize("bounds", CLAMPS[:3], ids=str)
def test_clamp_gradcheck(bounds, device, rng):
    lo, hi = bounds
    x = uniform(rng, (3, 4))
    for b in (lo, hi):  # no point within a finite-difference step of a bound
        if b is not None:
            x = np.where(np.abs(x - b) < 0.05, b + 0.1, x)
    assert_gradcheck(lambda t: t.clamp(lo, hi), [x], device=device)


def test_clamp_needs_a_bound(device):
    with pytest.raises(ValueError):
        minicnn.clamp(minicnn.tensor(np.zeros(2), device=device))


@pytest.mark.parametrize("dtype", DTYPES)
def test_clamp_returns_a_copy(dtype, device):
    """clamp inside its range still gives a new tensor: writing to it leaves x alone."""
    x = minicnn.tensor(np.array([0.1, 0.2], dtype=dtype), device=device)
    y = minicnn.clamp(x, -1.0, 1.0)
    y[0] = 5.0
    assert x.numpy()[0] == dtype(0.1)


# --------------------------------------------------------------------------- where
WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (3, 4)), ((4,), (2, 4), ()),
                ((), (2, 3), (2, 3))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where_parity(shapes, dtype, device, rng):
    sc, sa, sb = shapes
    cond = np.asarray(rng.random(sc) < 0.5)
    a, b = uniform(rng, sa), uniform(rng, sb)
    check_parity(minicnn.where, torch.where, [cond, a, b], dtype=dtype, device=device)
    assert_gradcheck(minicnn.where, [cond, a, b], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_with_python_scalar(dtype, device, rng):
    cond = rng.random((3, 4)) < 0.5
    x = uniform(rng, (3, 4))
    check_parity(lambda c, t: minicnn.where(c, t, 0.0), lambda c, t: torch.where(c, t, 0.0),
                 [cond, x], dtype=dtype, device=device)
    check_parity(lambda c, t: minicnn.where(c, 1.5, t), lambda c, t: torch.where(c, 1.5, t),
                 [cond, x], dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_condition_from_comparison(dtype, device, rng):
    """The usual pattern: where(x > 0, x, 0.1 * x)."""
    x = away_from_zero(rng, (2, 5))
    check_parity(lambda t: minicnn.where(t > 0, t, 0.1 * t),
                 lambda t: torch.where(t > 0, t, 0.1 * t), [x], dtype=dtype, device=device)


# --------------------------------------------------------------------------- casts, comparisons
def test_to_float64_is_differentiable(device, rng):
    x = uniform(rng, (2, 3))
    check_parity(lambda t: (t.to(minicnn.float64) * 3).exp(),
                 lambda t: (t.to(torch.float64) * 3).exp(), [x], dtype=np.float32,
                 device=device)
    check_parity(lambda t: t.double().float() * 2, lambda t: t.double().float() * 2, [x],
                 dtype=np.float32, device=device)


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons(op, device):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    for mc_fn, t_fn in [(getattr(minicnn, op), getattr(torch, op)),
                        (lambda x, y: getattr(x, op)(y), lambda x, y: getattr(x, op)(y)),
                        (lambda x, y: getattr(x, op)(2.0), lambda x, y: getattr(x, op)(2.0))]:
        check_parity(mc_fn, t_fn, [a, b], dtype=np.float32, device=device, grad=False)


def test_comparison_operators(device):
    a = np.array([1.0, 2.0, 3.0])
    for fn in (lambda x: x > 2, lambda x: x <= 2, lambda x: x == 2, lambda x: x != 2,
               lambda x: 2 < x, lambda x: 2 >= x):  # the last two: reflected operators
        check_parity(fn, fn, [a], dtype=np.float64, device=device, grad=False)
