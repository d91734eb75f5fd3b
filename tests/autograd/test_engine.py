"""The backward engine: accumulation, deep chains, shared nodes, freed graphs, errors,
no_grad, detach, retain_grad, and memory released after backward."""
import gc
import weakref

import numpy as np
import pytest
import torch
from parity import check_parity

import minicnn
from minicnn.autograd import Function, Tensor

DTYPES = [np.float32, np.float64]


def leaf(arr, device, dtype=np.float64):
    return minicnn.tensor(np.asarray(arr, dtype=dtype), device=device, requires_grad=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_accumulate_until_zeroed(dtype, device):
    x = leaf([1.0, -2.0, 3.0], device, dtype)
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4, 4, 4])
    assert x.grad.dtype == dtype
    x.grad.zero_()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, -4, 6])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3, 3])


def test_long_chain_has_no_recursion_limit(device):
    """100,000 chained ops backpropagate iteratively (micrograd's recursion fails near 1,000)."""
    x = leaf(1.5, device)
    y = x
    for _ in range(100_000):
        y = -y
    assert y.generation == 100_000
    y.backward()
    assert x.grad.item() == 1.0  # an even number of negations


def test_deep_graph_is_dropped_without_stack_overflow(device):
    """An intact 50,000-deep graph (never backpropagated) is deallocated without crashing."""
    x = leaf(2.0, device)
    y = x
    for _ in range(50_000):
        y = y * 1.0
    del y


@pytest.mark.parametrize("dtype", DTYPES)
def test_diamond_graphs_sum_both_paths(dtype, device, rng):
    """A node used twice (or more) gets the sum of its consumers' gradients."""
    x = rng.uniform(0.5, 1.5, (3, 2))

    def diamond(lib):
        def f(t):
            h = lib.exp(t)  # used by three consumers
            a = h * 2
            b = h * h
            return a * b + h
        return f

    check_parity(diamond(minicnn), diamond(torch), [x], dtype=dtype, device=device)
    check_parity(lambda t: t * t, lambda t: t * t, [x], dtype=dtype, device=device)
    check_parity(lambda t: t + t + t, lambda t: t + t + t, [x], dtype=dtype, device=device)
    check_parity(lambda t: t @ t.T, lambda t: t @ t.T, [x], dtype=dtype, device=device)


def test_branches_of_different_depth(device, rng):
    """The short branch's node waits for the long branch's contribution (generation order)."""
    x = rng.standard_normal(4)

    def f(t):
        a = t * 2
        long = a
        for _ in range(10):
            long = long.tanh() * 1.5
        return (long + a).sum() * a.sum()

    check_parity(f, f, [x], dtype=np.float64, device=device)


class CountingIdentity(Function):
    """y = x; counts its backward calls."""

    calls = 0

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        CountingIdentity.calls += 1
        return gy


def test_shared_node_runs_backward_once(device):
    CountingIdentity.calls = 0
    x = leaf([1.0, 2.0], device)
    h = CountingIdentity().apply(x)
    ((h * 3) + (h * h) + h.exp()).sum().backward()
    assert CountingIdentity.calls == 1
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * np.array([1.0, 2.0]) + np.exp([1, 2]))


def test_second_backward_through_freed_graph_raises(device):
    x = leaf([1.0, 2.0], device)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward_and_accumulates(device):
    x = leaf([1.0, 2.0], device)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError):
        y.backward()


def test_backward_of_a_shared_subgraph_twice(device):
    """Two losses sharing a retained subgraph; the second backward frees it."""
    x = leaf([0.5, 1.0], device)
    h = x.sigmoid()
    h.sum().backward(retain_graph=True)
    (h * h).sum().backward()
    s = 1 / (1 + np.exp(-np.array([0.5, 1.0])))
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s) * (1 + 2 * s))


def test_backward_of_non_scalar_needs_a_gradient(device):
    x = leaf([1.0, 2.0], device)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(minicnn.tensor(np.array([1.0, -1.0]), device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [2, -2])


def test_one_element_non_scalar_backward_implicitly(device):
    x = leaf([[3.0]], device)
    (x * x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[6.0]])


def test_wrong_shape_gradient_raises(device):
    x = leaf([1.0, 2.0], device)
    y = x * 2
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(minicnn.tensor(np.ones(3), device=device))
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(minicnn.tensor(np.ones((2, 1)), device=device))


def test_backward_without_requires_grad_raises(device):
    x = minicnn.tensor(np.ones(2), device=device)
    with pytest.raises(RuntimeError):
        (x * 2).sum().backward()


class WrongShapeGrad(Function):
    def forward(self, x):
        return x.sum()

    def backward(self, gy):
        return gy.reshape(1)  # should be x's shape


def test_function_returning_wrong_gradient_shape_raises(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="shape"):
        WrongShapeGrad().apply(x).backward()


def test_backward_gradient_is_cast_to_the_tensor_dtype(device):
    x = leaf([1.0, 2.0], device, np.float32)
    (x * 2).backward(minicnn.tensor(np.array([1.0, 0.5]), device=device))  # float64 gradient
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2, 1])


def test_mixed_precision_gradients_keep_input_dtypes(device):
    """float32 * float64 is float64 (as PyTorch); each leaf's grad keeps the leaf's dtype."""
    a = leaf([1.0, 2.0], device, np.float32)
    b = leaf([3.0, 4.0], device, np.float64)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad.numpy(), [3, 4])


def test_backward_on_a_leaf(device):
    x = leaf([1.0, 2.0], device)
    x.backward(minicnn.tensor(np.array([3.0, 4.0]), device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [3, 4])


def test_leaf_gradients_do_not_share_memory(device):
    """a + b hands the same gy to both inputs; zeroing one .grad must not touch the other."""
    a, b = leaf([1.0, 2.0], device), leaf([3.0, 4.0], device)
    (a + b).backward(minicnn.tensor(np.array([1.0, 1.0]), device=device))
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), [1, 1])
    c = leaf(np.ones((2, 3)), device)
    d = leaf(np.ones(3), device)
    (c * d).backward(minicnn.tensor(np.ones((2, 3)), device=device))
    c.grad.zero_()
    np.testing.assert_array_equal(d.grad.numpy(), [2, 2, 2])


# --------------------------------------------------------------------------- grad modes
def test_no_grad_records_nothing(device):
    x = leaf([1.0, 2.0], device)
    with minicnn.no_grad():
        assert not minicnn.is_grad_enabled()
        y = (x * 2).exp().sum()
        z = x @ x
    assert minicnn.is_grad_enabled()
    for t in (y, z):
        assert t.creator is None and t.grad_fn is None and not t.requires_grad and t.is_leaf
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_decorator_enable_grad_and_exceptions(device):
    x = leaf([1.0], device)

    @minicnn.no_grad()
    def f(t):
        return t * 2

    assert f(x).creator is None
    with minicnn.no_grad():
        with minicnn.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with pytest.raises(ValueError), minicnn.no_grad():
        raise ValueError
    assert minicnn.is_grad_enabled()


def test_requires_grad_propagation(device):
    x = leaf([1.0], device)
    c = minicnn.tensor(np.array([2.0]), device=device)
    assert not (c * 2).requires_grad and (c * 2).creator is None
    y = x * c
    assert y.requires_grad and y.creator is not None and not y.is_leaf
    assert y.generation == 1 and (y * y).generation == 2
    assert "grad_fn" in repr(y)


def test_detach_cuts_the_graph(device):
    x = leaf([1.0, 2.0], device)
    d = (x * 3).detach()
    assert not d.requires_grad and d.creator is None
    np.testing.assert_array_equal(d.numpy(), [3, 6])
    (x * d).sum().backward()  # d is a constant here
    np.testing.assert_array_equal(x.grad.numpy(), [3, 6])
    check_parity(lambda t: t * t.detach(), lambda t: t * t.detach(), [np.array([1.0, -2.0])],
                 dtype=np.float64, device=device)


def test_retain_grad_keeps_intermediate_gradients(device):
    x = leaf([1.0, 2.0], device)
    h = x * 3
    h.retain_grad()
    k = h.exp()  # not retained
    y = (k * h).sum()
    y.backward()
    hv = np.array([3.0, 6.0])
    np.testing.assert_allclose(h.grad.numpy(), np.exp(hv) * hv + np.exp(hv))
    np.testing.assert_allclose(x.grad.numpy(), 3 * h.grad.numpy())
    assert k.grad is None and y.grad is None


def test_retain_grad_on_the_root(device):
    x = leaf([1.0, 2.0], device)
    y = x * 2
    y.retain_grad()
    y.backward(minicnn.tensor(np.array([3.0, 4.0]), device=device))
    np.testing.assert_array_equal(y.grad.numpy(), [3, 4])
    np.testing.assert_array_equal(x.grad.numpy(), [6, 8])


# --------------------------------------------------------------------------- memory
def test_graph_is_freed_after_backward(device):
    """After backward the Functions and their saved arrays are released, unless retained."""
    for retain in (False, True):
        x = leaf(np.linspace(-1, 1, 6).reshape(2, 3), device)
        e = (x * 2).exp()
        y = e.sum()
        f_ref = weakref.ref(e.creator)
        saved_ref = weakref.ref(e.creator.y)
        del e
        # NOTE: no gc.collect(): the graph has no reference cycles, so reference counting
        # alone must free it.
        assert f_ref() is not None and saved_ref() is not None  # the graph holds them
        y.backward(retain_graph=retain)
        if retain:
            assert f_ref() is not None and saved_ref() is not None
            y.backward()  # the retained graph still works
        assert f_ref() is None and saved_ref() is None


def _live_tensors():
    return sum(type(o) is Tensor for o in gc.get_objects())


def test_no_tensors_leak_across_training_steps(device, rng):
    """A few SGD steps of a tiny model: the number of live Tensors stays constant."""
    W = leaf(rng.standard_normal((4, 3)) * 0.1, device)
    b = leaf(np.zeros(4), device)
    x = minicnn.tensor(rng.standard_normal((8, 3)), device=device)
    t = minicnn.tensor(rng.integers(0, 4, 8), device=device)

    def step():
        logits = minicnn.linear(x, W, b).relu()
        loss = -minicnn.log_softmax(logits, 1)[minicnn.arange(8, device=device), t].mean()
        loss.backward()
        with minicnn.no_grad():
            for p in (W, b):
                p.data -= 0.1 * p.grad.data
                p.grad = None
        return loss.item()

    step()
    gc.collect()
    before = _live_tensors()
    losses = [step() for _ in range(5)]
    gc.collect()
    assert _live_tensors() == before
    assert losses[-1] < losses[0]
