"""Version counters where minicnn and PyTorch differ (minicnn saves other values, so it
passes with the gradient of the graph as built), the error message, and the counts of
``_version``."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import minicnn

from .twin import IMG, F, K, assert_same_grads, run


# ---------------------------------------- minicnn passes where PyTorch raises, gradient right
def abs_input_changed(tl, T, mutate):
    w = T([1.0, -2.0, 3.0], True)
    h = w * 1
    y = h.abs().sum()  # minicnn keeps sign(h), PyTorch keeps h
    if mutate:
        h.mul_(3)
    y.backward()
    return [w]


def max_pool_input_changed(tl, T, mutate):
    x = T(IMG, True)
    h = x * 1
    y = F(tl).max_pool2d(h, 2).sum()  # minicnn keeps the argmax, PyTorch the input
    if mutate:
        h.mul_(2)
    y.backward()
    return [x]


def clamp_input_changed(tl, T, mutate):
    w = T([0.2, -2.0, 3.0], True)
    h = w * 1
    y = h.clamp(-1.0, 1.0).sum()  # minicnn keeps the mask lo < x < hi
    if mutate:
        h.mul_(3)
    y.backward()
    return [w]


def conv_weight_changed_input_without_grad(tl, T, mutate):
    x, k = T(IMG), T(K, True)
    y = F(tl).conv2d(x, k, padding=1).sum()  # gW needs x only: minicnn does not keep W
    if mutate:
        with tl.no_grad():
            k.mul_(2)
    y.backward()
    return [k]


def tensor_index_changed(tl, T, mutate):
    w = T([1.0, 2.0, 3.0], True)
    idx = tl.tensor([0, 0, 2])
    y = (w[idx] * T([1.0, 2.0, 3.0])).sum()  # minicnn copies a tensor index when indexing
    if mutate:
        idx[0] = 1
    y.backward()
    return [w]


def setitem_tensor_index_changed(tl, T, mutate):
    w, v = T([1.0, 2.0, 3.0], True), T([5.0, 6.0], True)
    h = w * 1
    idx = tl.tensor([0, 2])
    h[idx] = v  # minicnn copies a tensor index when assigning through it too
    y = (h * T([1.0, 2.0, 3.0])).sum()
    if mutate:
        idx[0] = 1
    y.backward()
    return [w, v]


DIFFERENT = [abs_input_changed, max_pool_input_changed, clamp_input_changed,
             conv_weight_changed_input_without_grad, tensor_index_changed,
             setitem_tensor_index_changed]


@pytest.mark.parametrize("fn", DIFFERENT, ids=lambda f: f.__name__)
def test_passes_with_the_unchanged_gradient_where_nothing_saved_changed(fn: Callable) -> None:
    """PyTorch saves the changed value for these ops and raises; minicnn's backward uses
    other saved values, which did not change: it passes with the gradient of the graph as
    it was built (PyTorch's gradient without the change)."""
    assert run(fn, torch, True)[0] == "raise"
    kind, got = run(fn, minicnn, True)
    assert kind == "ok", got
    assert_same_grads(got, run(fn, torch, False)[1])


def test_message_names_the_op_the_shape_and_the_versions() -> None:
    x = minicnn.tensor([1.0, 2.0, 3.0])
    w = minicnn.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = (x * w).sum()
    x[0] = 100
    x[1] = 50
    with pytest.raises(RuntimeError) as info:
        y.backward()
    message = str(info.value)
    assert "MulBackward" in message and "shape (3,)" in message and "float32" in message
    assert "is at version 2; expected version 0 instead" in message
    assert "Hint" in message
    assert w.grad is None  # nothing was accumulated


def test_versions_count_as_torch_does() -> None:
    """``_version`` after the same in-place changes, on a tensor and its views."""
    def steps(tl: Any) -> list[int]:
        x = tl.zeros(2, 3, dtype=tl.float64)
        v, d, r = x[0], x.detach(), x.reshape(6)
        seen = []
        for change in (lambda: x.add_(1), lambda: v.fill_(2), lambda: d.mul_(3),
                       lambda: r.__setitem__(4, 5.0), lambda: x.zero_(), lambda: x.copy_(d)):
            change()
            seen += [x._version, v._version, d._version, r._version]
        y = x * 2  # a new tensor: its own counter
        seen.append(y._version)
        return seen

    assert steps(minicnn) == steps(torch)


def test_module_and_optimizer_changes_are_counted() -> None:
    model = minicnn.nn.Sequential(minicnn.nn.Linear(3, 4), minicnn.nn.BatchNorm1d(4))
    opt = minicnn.optim.Adam(model.parameters(), lr=0.1)
    versions = {k: t._version for k, t in model.state_dict().items()}
    model(minicnn.randn(5, 3)).sum().backward()
    bn = model[1]
    assert bn.running_mean._version > versions["1.running_mean"]
    assert bn.num_batches_tracked._version > versions["1.num_batches_tracked"]
    model[1].bias.grad = None  # a parameter without a gradient is not changed by the step
    before = {k: t._version for k, t in model.state_dict().items()}
    opt.step()
    after = {k: t._version for k, t in model.state_dict().items()}
    assert after["0.weight"] == before["0.weight"] + 1
    assert after["1.bias"] == before["1.bias"]
    model.load_state_dict(model.state_dict())
    assert all(t._version == after[k] + 1 for k, t in model.state_dict().items())


def test_eval_batch_norm_backward_after_a_training_forward_uses_the_saved_statistics() -> None:
    """An evaluation forward, then a training forward (running statistics updated in place),
    then the first backward: minicnn's gradient is that of the evaluation graph as built.
    (PyTorch 2.14 neither raises nor keeps the old statistics here: its gradient silently
    uses the updated ones, so it is not the reference for this case.)"""
    def grads(second_forward: bool) -> list:
        bn = minicnn.nn.BatchNorm2d(3).double()
        with minicnn.no_grad():
            bn.running_mean.copy_(minicnn.tensor([0.5, -0.2, 0.3]))
        x = minicnn.tensor(IMG, requires_grad=True)
        bn.eval()
        loss = (bn(x) ** 2).sum()
        bn.train()
        if second_forward:
            bn(x * 2)
        loss.backward()
        return [x.grad.numpy(), bn.weight.grad.numpy(), bn.bias.grad.numpy()]

    assert_same_grads(grads(True), grads(False))


def test_the_planted_case_raises_on_every_device(device: str) -> None:
    """The saved array itself is compared, so this holds on the GPU stand-in too. (Views
    share their base's counter where the array module's ``base`` is a stable object, as
    NumPy's and CuPy's; the stand-in wraps a new object per access, so views there do not.)"""
    x = minicnn.tensor([1.0, 2.0, 3.0], device=device)
    w = minicnn.tensor([1.0, 1.0, 1.0], requires_grad=True, device=device)
    y = (x * w).sum()
    x[0] = 100
    with pytest.raises(RuntimeError, match=r"MulBackward, is at version 1; expected version 0"):
        y.backward()
    model = minicnn.nn.Sequential(minicnn.nn.Linear(3, 4), minicnn.nn.ReLU(),
                                  minicnn.nn.Linear(4, 1)).to(device)
    opt = minicnn.optim.SGD(model.parameters(), lr=0.1)
    loss = model(minicnn.randn(2, 3, device=device)).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
