"""Edge values through the ops against PyTorch, with no warning printed: the mean of a loss
over an empty batch (NaN, as PyTorch's), the IEEE results of overflow, division by zero and
rows of infinities (forward and backward), and the version counts of ``batch_norm``'s running
statistics."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minicnn
import minicnn.nn.functional as F

from .twin import IMG


@pytest.fixture(autouse=True)
def warnings_are_errors() -> Iterator[None]:
    """Any warning (NumPy's RuntimeWarnings included) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _both(fn: Callable, tl: Any, arrays: list[np.ndarray], grad: bool) -> list[np.ndarray]:
    """fn's output, and the inputs' gradients from a backward of ``output * (1 + index)``
    (an upstream gradient that is not all ones), as NumPy arrays."""
    xs = [tl.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    y = fn(*xs)
    out = [np.array(y.detach().numpy())]
    if grad:
        n = int(np.prod(y.shape))
        w = tl.tensor(np.arange(1, n + 1).reshape(tuple(y.shape)).astype(arrays[0].dtype))
        (y * w).sum().backward()
        out += [np.array(x.grad.numpy()) for x in xs if x.requires_grad]
    return out


def assert_same_values(fn_mc: Callable, fn_torch: Callable, arrays: list[np.ndarray],
                       grad: bool = True) -> None:
    """The same values (NaN where PyTorch has NaN, infinities of the same sign) from both
    libraries, forward and backward, with no warning."""
    got = _both(fn_mc, minicnn, arrays, grad)
    expected = _both(fn_torch, torch, arrays, grad)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=0, equal_nan=True)


# ---------------------------------------------------------------------- empty batches
EMPTY_LOSSES = {
    "cross_entropy": (np.zeros((0, 3), np.float32), np.zeros(0, np.int64)),
    "nll_loss": (np.zeros((0, 3), np.float32), np.zeros(0, np.int64)),
    "mse_loss": (np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)),
    "binary_cross_entropy_with_logits": (np.zeros(0, np.float64), np.zeros(0, np.float64)),
    "binary_cross_entropy": (np.zeros((0, 1), np.float32), np.zeros((0, 1), np.float32)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(EMPTY_LOSSES))
def test_loss_of_an_empty_batch(name: str, reduction: str) -> None:
    """'mean' is NaN (0 / 0), 'sum' 0, 'none' empty, as PyTorch's; the input's gradient is
    empty, of the input's shape."""
    x, t = EMPTY_LOSSES[name]

    def loss(tl: Any) -> Callable:
        fn = getattr(TF if tl is torch else F, name)
        return lambda a: fn(a, tl.tensor(t), reduction=reduction)

    assert_same_values(loss(minicnn), loss(torch), [x])
    if reduction == "mean":
        assert np.isnan(_both(loss(minicnn), minicnn, [x], False)[0])


@pytest.mark.parametrize("shape,dim", [((0,), None), ((0, 3), 0), ((0, 3), 1), ((3, 0), 0),
                                       ((2, 0, 2), (0, 1)), ((0, 2), -1)])
def test_mean_of_no_elements_is_nan(shape: tuple, dim: Any) -> None:
    x = np.zeros(shape, np.float32)
    assert_same_values(lambda t: t.mean(dim) if dim is not None else t.mean(),
                       lambda t: t.mean(dim) if dim is not None else t.mean(), [x])


def test_an_empty_batch_trains_without_a_warning() -> None:
    """An empty last batch through a model: NaN loss, empty-batch gradients of zero."""
    model = minicnn.nn.Sequential(minicnn.nn.Linear(3, 4), minicnn.nn.ReLU(),
                                  minicnn.nn.Linear(4, 2))
    loss = F.cross_entropy(model(minicnn.zeros(0, 3)), minicnn.tensor(np.zeros(0, np.int64)))
    loss.backward()
    assert np.isnan(loss.item())
    for p in model.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))


# ---------------------------------------------------------------------- IEEE values
INF, NAN = np.inf, np.nan
f32 = np.float32


def _row(*values: float) -> np.ndarray:
    return np.array([values], f32)


# name: (minicnn fn, torch fn (None: the same code), inputs, backward too)
IEEE = {
    "log_softmax 3e38": (lambda x: x.log_softmax(1), None, [_row(3e38, -3e38)], True),
    "softmax of -inf row": (lambda x: x.softmax(1), None, [_row(-INF, -INF)], True),
    "log_softmax of -inf row": (lambda x: x.log_softmax(1), None, [_row(-INF, -INF)], True),
    "softmax with inf": (lambda x: x.softmax(1), None, [_row(INF, 1.0, -INF)], True),
    "softmax with nan": (lambda x: x.softmax(1), None, [_row(NAN, 1.0)], True),
    "cross_entropy of inf": (lambda x: F.cross_entropy(x, minicnn.tensor([0])),
                             lambda x: TF.cross_entropy(x, torch.tensor([0])),
                             [_row(INF, 1.0)], True),
    "exp overflow": (lambda x: x.exp(), None, [np.array([100.0, -200.0, INF, -INF], f32)], True),
    "log of 0, -1, inf": (lambda x: x.log(), None, [np.array([0.0, -1.0, INF], f32)], True),
    "sqrt of 0, -1": (lambda x: x.sqrt(), None, [np.array([0.0, -1.0, 4.0], f32)], True),
    "divide by 0": (lambda a, b: a / b, None, [np.array([1.0, -1.0, 0.0], f32),
                                               np.zeros(3, f32)], True),
    "divide by scalar 0": (lambda a: a / 0.0, None, [np.array([1.0, -1.0, 0.0], f32)], True),
    "pow 0 ** -1, (-1) ** 0.5": (lambda a, b: a ** b, None, [np.array([0.0, -1.0], f32),
                                                             np.array([-1.0, 0.5], f32)], False),
    "pow scalar 0 ** -1": (lambda a: a ** -1.0, None, [np.array([0.0, 2.0], f32)], True),
    "sqrt of 0 by pow 0.5": (lambda a: a ** 0.5, None, [np.array([0.0, 4.0], f32)], True),
    "sigmoid of inf and nan": (lambda x: x.sigmoid(), None,
                               [np.array([-INF, INF, NAN, -200.0], f32)], True),
    "tanh of inf": (lambda x: x.tanh(), None, [np.array([-INF, INF], f32)], True),
    "float64 to float32 overflow": (lambda x: x.to(minicnn.float32),
                                    lambda x: x.to(torch.float32),
                                    [np.array([1e300, -1e300, 1.0])], True),
    "mse overflow": (lambda a, b: F.mse_loss(a, b), lambda a, b: TF.mse_loss(a, b),
                     [np.array([3e38, 1.0], f32), np.array([-3e38, 1.0], f32)], True),
}


@pytest.mark.parametrize("name", list(IEEE))
def test_ieee_values_as_pytorch_without_a_warning(name: str) -> None:
    fn, fn_torch, arrays, grad = IEEE[name]
    assert_same_values(fn, fn if fn_torch is None else fn_torch, arrays, grad)


def test_bce_with_logits_and_bce_saturated_without_a_warning() -> None:
    """Large logits and probabilities 0 and 1: finite losses, PyTorch's values."""
    x = np.array([-200.0, 200.0, 0.0], np.float32)
    t = np.array([1.0, 0.0, 1.0], np.float32)
    assert_same_values(lambda a: F.binary_cross_entropy_with_logits(a, minicnn.tensor(t)),
                       lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(t)), [x])
    p = np.array([0.0, 1.0, 0.5], np.float32)
    assert_same_values(lambda a: F.binary_cross_entropy(a, minicnn.tensor(t)),
                       lambda a: TF.binary_cross_entropy(a, torch.tensor(t)), [p], grad=False)


# ---------------------------------------------------------------------- batch_norm versions
def test_batch_norm_counts_each_running_update_once() -> None:
    """F.batch_norm in training changes the running statistics in place: one version each
    per call (0 in evaluation). The module counts once too (not once in F and once in
    itself); num_batches_tracked as PyTorch's."""
    mean, var = minicnn.zeros(3, dtype=minicnn.float64), minicnn.ones(3, dtype=minicnn.float64)
    x = minicnn.tensor(IMG)
    for training, bump in ((True, 1), (False, 0), (True, 1)):
        before = mean._version, var._version
        F.batch_norm(x, mean, var, training=training)
        assert (mean._version, var._version) == (before[0] + bump, before[1] + bump)
    bn = minicnn.nn.BatchNorm2d(3).double()
    versions = bn.running_mean._version, bn.running_var._version, \
        bn.num_batches_tracked._version
    bn(x)
    bn(x)
    assert (bn.running_mean._version, bn.running_var._version,
            bn.num_batches_tracked._version) == tuple(v + 2 for v in versions)
    bn.eval()
    bn(x)
    assert bn.running_mean._version == versions[0] + 2


def test_a_graph_that_saved_a_running_statistic_raises_after_a_training_forward() -> None:
    """minicnn raises: the training forward changed a value the product saved. (PyTorch's
    kernel updates the statistics without counting a version: its backward passes, with the
    new values.)"""
    bn = minicnn.nn.BatchNorm2d(3).double()
    w = minicnn.tensor(np.ones(3), requires_grad=True)
    y = (w * bn.running_var).sum()  # Mul saves running_var for w's gradient
    bn(minicnn.tensor(IMG))
    with pytest.raises(RuntimeError, match=r"MulBackward, is at version"):
        y.backward()


def test_functional_batch_norm_in_evaluation_keeps_the_statistics_it_used() -> None:
    """An evaluation graph, then the running statistics changed in place (by a training call
    and by hand): backward gives the gradient of the graph as built."""
    def grads(change: bool) -> list[np.ndarray]:
        mean = minicnn.tensor(np.array([0.5, -0.2, 0.3]))
        var = minicnn.tensor(np.array([1.5, 0.7, 2.0]))
        x = minicnn.tensor(IMG, requires_grad=True)
        weight = minicnn.tensor(np.array([1.0, 2.0, 0.5]), requires_grad=True)
        loss = (F.batch_norm(x, mean, var, weight, training=False) ** 2).sum()
        if change:
            F.batch_norm(x.detach() * 3, mean, var, training=True)
            var.fill_(9.0)
        loss.backward()
        return [x.grad.numpy(), weight.grad.numpy()]

    for g, e in zip(grads(True), grads(False)):
        np.testing.assert_array_equal(g, e)
