"""gradcheck itself: it passes correct ops, refuses float32, and catches wrong backwards,
naming the input and the element."""
import re

import numpy as np
import pytest
from parity import assert_gradcheck

import minicnn
from minicnn.autograd import Function, GradcheckError, gradcheck


def leaf(arr, device, dtype=np.float64):
    return minicnn.tensor(np.asarray(arr, dtype=dtype), device=device, requires_grad=True)


class MulTwiceTooBig(Function):
    """y = a * b with ga off by a factor 2."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        return 2 * gy * self.b, gy * self.a


class MatMulTransposedGrad(Function):
    """Y = X @ W (square W) with gW transposed: right shape, wrong values."""

    def forward(self, x, W):
        self.x, self.W = x, W
        return x @ W

    def backward(self, gy):
        return gy @ self.W.T, (self.x.T @ gy).T


class SquareOneBadElement(Function):
    """y = x ** 2 with the gradient of element (1, 0) only 1.5 times too big."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        gx = 2 * gy * self.x
        gx[1, 0] *= 1.5
        return gx


@pytest.mark.parametrize("fast_mode", [False, True])
def test_passes_on_correct_ops(fast_mode, device, rng):
    a, b = rng.standard_normal((3, 4)), rng.uniform(0.5, 2, (4,))
    fns = [
        lambda x, y: x * y,
        lambda x, y: (x / y).tanh().sum(1),
        lambda x, y: (x @ y, (x * x).sum()),  # several outputs, one 0-d
        lambda x, y: minicnn.softmax(x + y, dim=1),
    ]
    for fn in fns:
        assert gradcheck(fn, [leaf(a, device), leaf(b, device)], fast_mode=fast_mode)
        assert_gradcheck(fn, [a, b], device=device, fast_mode=fast_mode)


def test_single_tensor_input_and_constant_inputs(device, rng):
    x = leaf(rng.standard_normal((2, 3)), device)
    assert gradcheck(lambda t: t.exp(), x)
    c = minicnn.tensor(rng.standard_normal((2, 3)), device=device)  # no grad: not checked
    idx = minicnn.tensor(np.array([1, 1, 0]), device=device)  # int input
    assert gradcheck(lambda t, k, i: (t * k)[i], [x, c, idx])


def test_inputs_restored_and_grads_cleared(device, rng):
    arr = rng.standard_normal((2, 3))
    x = leaf(arr, device)
    gradcheck(lambda t: t.tanh(), [x])
    np.testing.assert_array_equal(x.detach().numpy(), arr)
    assert x.grad is None


def test_refuses_float32(device):
    x = leaf(np.ones(3), device, np.float32)
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda t: t * 2, [x])


def test_refuses_inputs_without_grad(device):
    x = minicnn.tensor(np.ones(3), device=device)
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t * 2, [x])


@pytest.mark.parametrize("fast_mode", [False, True])
def test_catches_a_gradient_off_by_a_factor(fast_mode, device, rng):
    a = leaf(rng.uniform(0.5, 1.5, (2, 3)), device)
    b = leaf(rng.uniform(0.5, 1.5, (2, 3)), device)
    with pytest.raises(GradcheckError, match=r"input 0 at element \(0, 0\)"):
        gradcheck(lambda x, y: MulTwiceTooBig().apply(x, y), [a, b], fast_mode=fast_mode)
    assert gradcheck(lambda x, y: MulTwiceTooBig().apply(x, y), [a, b],
                     raise_exception=False, fast_mode=fast_mode) is False
    # only input 1 checked: its gradient is right
    a.requires_grad_(False)
    assert gradcheck(lambda x, y: MulTwiceTooBig().apply(x, y), [a, b], fast_mode=fast_mode)


@pytest.mark.parametrize("fast_mode", [False, True])
def test_catches_a_transposed_gradient(fast_mode, device, rng):
    x = leaf(rng.standard_normal((2, 3)), device)
    W = leaf(rng.standard_normal((3, 3)), device)
    with pytest.raises(GradcheckError, match="input 1 at element") as info:
        gradcheck(lambda p, q: MatMulTransposedGrad().apply(p, q), [x, W], fast_mode=fast_mode)
    assert "analytic" in str(info.value) and "numeric" in str(info.value)
    assert not gradcheck(lambda p, q: MatMulTransposedGrad().apply(p, q), [x, W],
                         raise_exception=False, fast_mode=fast_mode)


@pytest.mark.parametrize("fast_mode", [False, True])
def test_names_the_wrong_element(fast_mode, device, rng):
    x = leaf(rng.standard_normal((3, 2)), device)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: SquareOneBadElement().apply(t), [x], fast_mode=fast_mode)
    msg = str(info.value)
    assert re.search(r"input 0 at element \(1, 0\)", msg), msg
    if not fast_mode:
        assert "output element 2" in msg  # row-major: (1, 0) of a (3, 2) output is element 2


def test_tolerances_are_used(device, rng):
    """A 1e-4 relative error passes rtol=1e-3 and fails rtol=1e-6 (atol 0)."""

    class Slightly(Function):
        def forward(self, x):
            return 3 * x

        def backward(self, gy):
            return gy * 3 * (1 + 1e-4)

    x = leaf(rng.uniform(1, 2, 4), device)
    assert gradcheck(lambda t: Slightly().apply(t), [x], atol=0, rtol=1e-3)
    assert not gradcheck(lambda t: Slightly().apply(t), [x], atol=0, rtol=1e-6,
                         raise_exception=False)
