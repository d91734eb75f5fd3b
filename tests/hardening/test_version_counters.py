"""Version counters against PyTorch: the same scenario runs in both libraries (``twin.py``);
an in-place change of a value saved for backward must raise where PyTorch raises, and a
change PyTorch accepts must still pass, with PyTorch's gradient."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import minicnn

from .twin import IMG, W1, F, K, X, assert_same_grads, mlp, run


# ------------------------------------------------------------------------ the cases
def setitem_saved_input(tl, T, mutate):
    x, w = T([1.0, 2.0, 3.0]), T([1.0, 1.0, 1.0], True)
    y = (x * w).sum()
    if mutate:
        x[0] = 100
    y.backward()
    return [w]


def fill_saved_intermediate(tl, T, mutate):
    w = T([0.1, 0.2, 0.3], True)
    h = w.exp()
    y = (h * h).sum()
    if mutate:
        h.fill_(0.5)
    y.backward()
    return [w]


def parameter_changed_under_no_grad(tl, T, mutate):
    model, x = mlp(tl, T)
    loss = model(x).sum()
    if mutate:
        w = model[2].weight
        with tl.no_grad():
            w -= 1  # in place, as PyTorch (not a rebinding)
        assert w is model[2].weight
    loss.backward()
    return list(model.parameters())


def optimizer_step_between_backwards(tl, T, mutate):
    model, x = mlp(tl, T)
    opt = tl.optim.SGD(model.parameters(), lr=0.1)
    loss = model(x).sum()
    loss.backward(retain_graph=True)
    if mutate:
        opt.step()
    loss.backward()
    return list(model.parameters())


def adam_step_between_backwards(tl, T, mutate):
    model, x = mlp(tl, T)
    opt = tl.optim.Adam(model.parameters(), lr=0.1)
    loss = model(x).sum()
    loss.backward(retain_graph=True)
    if mutate:
        opt.step()
    loss.backward()
    return list(model.parameters())


def load_state_dict_between(tl, T, mutate):
    model, x = mlp(tl, T)
    loss = model(x).sum()
    if mutate:
        model.load_state_dict({k: T(np.ones(tuple(v.shape))) for k, v in
                               model.state_dict().items()})
    loss.backward()
    return list(model.parameters())


# ------------------------------------------------------------------------ more raising cases
def view_of_saved_input(tl, T, mutate):
    x, w = T(X), T(W1, True)
    y = (x @ w.t()).sum()
    if mutate:
        x[1:3].fill_(2.0)  # a view: shares x's version counter
    y.backward()
    return [w]


def reshaped_view_of_saved_input(tl, T, mutate):
    x, w = T(X), T(X, True)
    y = (x * w).sum()
    if mutate:
        x.reshape(12)[5] = 7.0
    y.backward()
    return [w]


def detached_alias_of_saved_input(tl, T, mutate):
    w = T([0.5, 1.5], True)
    h = w * 3
    y = (h * h).sum()
    if mutate:
        d = h.detach()
        d[0] = 10.0
    y.backward()
    return [w]


def iadd_saved_intermediate(tl, T, mutate):
    w = T([0.5, 1.5], True)
    h = w * 3
    y = (h * h).sum()
    if mutate:
        h += 1
    y.backward()
    return [w]


def conv_input_changed(tl, T, mutate):
    x, k = T(IMG), T(K, True)
    y = F(tl).conv2d(x, k, padding=1).sum()
    if mutate:
        x[0, 0, 0, 0] = 3.0
    y.backward()
    return [k]


def softmax_output_changed(tl, T, mutate):
    x, g = T(X, True), T(W1[:4])
    y = tl.softmax(x, 1)
    z = (y * g[:, :3]).sum()
    if mutate:
        y.mul_(2)
    z.backward()
    return [x]


def batch_norm_weight_changed(tl, T, mutate):
    bn = tl.nn.BatchNorm2d(3).double()
    x = T(IMG, True)
    y = (bn(x) ** 2).sum()
    if mutate:
        with tl.no_grad():
            bn.weight.mul_(2)
    y.backward()
    return [x, bn.weight]


def divisor_changed(tl, T, mutate):
    x, b = T([1.0, 2.0, 3.0], True), T([2.0, 4.0, 8.0])
    y = (x / b).sum()
    if mutate:
        b.clamp_(3.0, 5.0)
    y.backward()
    return [x]


def cross_entropy_target_changed(tl, T, mutate):
    x, t = T(X, True), tl.tensor([0, 2, 1, 1])
    y = F(tl).cross_entropy(x, t)
    if mutate:
        t[0] = 1
    y.backward()
    return [x]


def where_condition_changed(tl, T, mutate):
    a, b = T([1.0, 2.0, 3.0], True), T([4.0, 5.0, 6.0], True)
    cond = tl.tensor([True, False, True])
    y = tl.where(cond, a, b).sum()  # the condition is saved (minicnn: an input of Where)
    if mutate:
        cond[0] = False
    y.backward()
    return [a, b]


RAISING = [setitem_saved_input, fill_saved_intermediate, parameter_changed_under_no_grad,
           optimizer_step_between_backwards, adam_step_between_backwards,
           load_state_dict_between, view_of_saved_input, reshaped_view_of_saved_input,
           detached_alias_of_saved_input, iadd_saved_intermediate, conv_input_changed,
           softmax_output_changed, batch_norm_weight_changed, divisor_changed,
           cross_entropy_target_changed, where_condition_changed]


# ------------------------------------------------------------------------ cases that pass
def unsaved_intermediate_changed(tl, T, mutate):
    w = T([0.5, 1.5, 2.5], True)
    h = w * 2
    y = h.sum()  # sum saves nothing
    if mutate:
        h[0] = 3.0
    y.backward()
    return [w]


def changed_before_use(tl, T, mutate):
    x, w = T([1.0, 2.0, 3.0]), T([1.0, 2.0, 3.0], True)
    if mutate:
        x[0] = 100.0
    (x * w).sum().backward()
    return [w]


def changed_after_backward(tl, T, mutate):
    x, w = T([1.0, 2.0, 3.0]), T([1.0, 2.0, 3.0], True)
    (x * w).sum().backward()
    if mutate:
        x[0] = 100.0
    return [w]


def relu_input_changed(tl, T, mutate):
    w = T([1.0, -2.0, 3.0], True)
    h = w * 1
    y = (tl.relu(h) * T([1.0, 2.0, 3.0])).sum()  # ReLU saves its output, not its input
    if mutate:
        h.mul_(3)
    y.backward()
    return [w]


def two_batch_norm_forwards(tl, T, mutate):
    bn = tl.nn.BatchNorm2d(3).double()
    x = T(IMG, True)
    y = (bn(x) ** 2).sum()
    if mutate:
        bn(x * 2)  # updates the running statistics in place
    y.backward()
    return [x]


def slice_of_changed_intermediate(tl, T, mutate):
    w = T([1.0, 2.0, 3.0], True)
    h = w * 2
    y = h[1:].sum()
    if mutate:
        h.mul_(5)
    y.backward()
    return [w]


def training_steps(tl, T, mutate):
    model, x = mlp(tl, T)
    opt = tl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3 if mutate else 1):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
    return list(model.parameters())


PASSING = [unsaved_intermediate_changed, changed_before_use, changed_after_backward,
           relu_input_changed, two_batch_norm_forwards, slice_of_changed_intermediate,
           training_steps]


@pytest.mark.parametrize("fn", RAISING, ids=lambda f: f.__name__)
def test_raises_where_torch_raises(fn: Callable) -> None:
    assert run(fn, torch, True)[0] == "raise"
    kind, message = run(fn, minicnn, True)
    assert kind == "raise", "minicnn computed a gradient from a value changed in place"
    assert "Backward" in message and "version" in message
    # without the change both pass, with the same gradient
    (k1, g1), (k2, g2) = run(fn, torch, False), run(fn, minicnn, False)
    assert k1 == k2 == "ok"
    assert_same_grads(g2, g1)


@pytest.mark.parametrize("fn", PASSING, ids=lambda f: f.__name__)
def test_passes_where_torch_passes(fn: Callable) -> None:
    kind, expected = run(fn, torch, True)
    assert kind == "ok"
    kind, got = run(fn, minicnn, True)
    assert kind == "ok", got
    assert_same_grads(got, expected)
