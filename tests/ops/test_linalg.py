"""matmul (1-D, 2-D, batched, broadcast batch) and linear against PyTorch and gradcheck."""
import numpy as np
import pytest
import torch
from parity import assert_gradcheck, check_parity

import minicnn

DTYPES = [np.float32, np.float64]
MATMUL_SHAPES = [
    ((3,), (3,)),  # dot product -> 0-d
    ((3,), (3, 4)),  # vector-matrix
    ((2, 3), (3,)),  # matrix-vector
    ((2, 3), (3, 4)),
    ((1, 3), (3, 1)),
    ((5, 2, 3), (3, 4)),  # batch x matrix
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)),  # broadcast batch
    ((1, 2, 3), (4, 3, 2)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
]
FORMS = {
    "@": (lambda a, b: a @ b, lambda a, b: a @ b),
    "minicnn.matmul": (minicnn.matmul, torch.matmul),
    "Tensor.matmul": (lambda a, b: a.matmul(b), lambda a, b: a.matmul(b)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
@pytest.mark.parametrize("form", list(FORMS))
def test_matmul_parity(form, shapes, dtype, device, rng):
    mc_fn, t_fn = FORMS[form]
    arrays = [rng.standard_normal(s) for s in shapes]
    check_parity(mc_fn, t_fn, arrays, dtype=dtype, device=device)


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_gradcheck(shapes, device, rng):
    assert_gradcheck(lambda a, b: a @ b, [rng.standard_normal(s) for s in shapes],
                     device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_non_contiguous(dtype, device, rng):
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((4, 2, 3))

    def mc(x, y):
        return x.T @ y.transpose(1, 2)

    check_parity(mc, mc, [a, b], dtype=dtype, device=device)
    assert_gradcheck(mc, [a, b], device=device)


def test_matmul_one_side_constant(device, rng):
    """Only the operand that requires grad gets one."""
    a = minicnn.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    b = minicnn.tensor(rng.standard_normal((3, 4)), device=device)
    (a @ b).sum().backward()
    assert b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), np.ones((2, 4)) @ b.numpy().T)


def test_matmul_shape_errors(device):
    a = minicnn.tensor(np.zeros((2, 3)), device=device)
    with pytest.raises(RuntimeError):
        a @ minicnn.tensor(np.zeros((2, 3)), device=device)
    with pytest.raises(RuntimeError):
        a @ minicnn.tensor(np.zeros(()), device=device)


# --------------------------------------------------------------------------- linear
LINEAR_SHAPES = [((4, 3), (5, 3)), ((3,), (5, 3)), ((2, 4, 3), (5, 3)), ((1, 3), (1, 3))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shapes", LINEAR_SHAPES, ids=str)
def test_linear_parity(shapes, bias, dtype, device, rng):
    sx, sw = shapes
    arrays = [rng.standard_normal(sx), rng.standard_normal(sw)]
    if bias:
        arrays.append(rng.standard_normal(sw[:1]))
    check_parity(minicnn.linear, torch.nn.functional.linear, arrays, dtype=dtype, device=device)
    assert_gradcheck(minicnn.linear, arrays, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_non_contiguous(dtype, device, rng):
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    check_parity(lambda x, W, b: minicnn.linear(x.T, W.T, b),
                 lambda x, W, b: torch.nn.functional.linear(x.T, W.T, b), [x, W, b],
                 dtype=dtype, device=device)


def test_linear_only_input_requires_grad(device, rng):
    x = minicnn.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    W = minicnn.tensor(rng.standard_normal((4, 3)), device=device)
    b = minicnn.tensor(rng.standard_normal(4), device=device)
    minicnn.linear(x, W, b).sum().backward()
    assert W.grad is None and b.grad is None
    np.testing.assert_allclose(x.grad.numpy(), np.ones((2, 4)) @ W.numpy())


def test_linear_shape_error(device):
    with pytest.raises(RuntimeError):
        minicnn.linear(minicnn.tensor(np.zeros((2, 3)), device=device),
                       minicnn.tensor(np.zeros((4, 2)), device=device))
