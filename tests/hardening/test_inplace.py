"""In-place methods against PyTorch: values, gradients through a recorded change, the leaf
rule, dtype and shape errors, and what minicnn refuses where PyTorch rewrites a view's graph."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import minicnn

A = np.array([[0.5, -1.5, 2.0], [1.25, 0.75, -0.5]])
B = np.array([0.25, 2.0, -1.0])


def _setitem(t: Any, key: Any, value: Any) -> Any:
    t[key] = value
    return t


# (name, change(t, other)): other is a tensor of B's values, requiring grad when tested so
CHANGES: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("add_", lambda t, o: t.add_(o)),
    ("add_alpha", lambda t, o: t.add_(o, alpha=-2.5)),
    ("sub_", lambda t, o: t.sub_(o)),
    ("sub_alpha", lambda t, o: t.sub_(o, alpha=0.5)),
    ("mul_", lambda t, o: t.mul_(o)),
    ("div_", lambda t, o: t.div_(o)),
    ("pow_number", lambda t, o: t.abs_().pow_(1.5)),
    ("clamp_", lambda t, o: t.clamp_(-1.0, 1.0)),
    ("neg_", lambda t, o: t.neg_()),
    ("exp_", lambda t, o: t.exp_()),
    ("tanh_", lambda t, o: t.tanh_()),
    ("sigmoid_", lambda t, o: t.sigmoid_()),
    ("relu_", lambda t, o: t.relu_()),
    ("iadd", lambda t, o: t.__iadd__(o)),
    ("isub_number", lambda t, o: t.__isub__(3.0)),
    ("imul", lambda t, o: t.__imul__(o)),
    ("itruediv_number", lambda t, o: t.__itruediv__(4.0)),
    ("setitem_row", lambda t, o: _setitem(t, 0, o)),
    ("setitem_mask", lambda t, o: _setitem(t, t > 0.6, 9.0)),
    ("setitem_column_broadcast", lambda t, o: _setitem(t, (slice(None), 1), o[2])),
    ("fill_", lambda t, o: t.fill_(1.5)),
    ("fill_tensor", lambda t, o: t.fill_(o[1])),
    ("zero_", lambda t, o: t.zero_()),
    ("copy_broadcast", lambda t, o: t.copy_(o)),
]


def _run(tl: Any, change: Callable, grad_other: bool) -> tuple:
    """h = x * 2 (x a leaf), change h in place, loss = sum(h * weights): the values of h and
    the gradients of x and of the other operand."""
    x = tl.tensor(A, requires_grad=True)
    other = tl.tensor(B, requires_grad=grad_other)
    h = x * 2
    out = change(h, other)
    assert out is h  # in place: the method returns the tensor itself
    (h * tl.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    grads = [None if t.grad is None else t.grad.numpy() for t in (x, other)]
    return h.detach().numpy(), grads, h._version


@pytest.mark.parametrize("name,change", CHANGES, ids=[c[0] for c in CHANGES])
@pytest.mark.parametrize("grad_other", [False, True], ids=["constant", "differentiable"])
def test_in_place_changes_match_torch(name: str, change: Callable, grad_other: bool) -> None:
    got, expected = _run(minicnn, change, grad_other), _run(torch, change, grad_other)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    for g, e in zip(got[1], expected[1]):
        assert (g is None) == (e is None)
        if g is not None:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15)
    assert got[2] >= 1


@pytest.mark.parametrize("name,change", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_leaf_that_requires_grad_is_refused_and_left_unchanged(name: str,
                                                                 change: Callable) -> None:
    w = minicnn.tensor(A, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        change(w, minicnn.tensor(B))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        change(torch.tensor(A, requires_grad=True), torch.tensor(B))
    np.testing.assert_array_equal(w.detach().numpy(), A)
    assert w._version == 0 and w.is_leaf
    with minicnn.no_grad():  # allowed there, and counted
        change(w, minicnn.tensor(B))
    assert w._version >= 1 and w.is_leaf and w.creator is None


def test_assignment_of_a_differentiable_value_into_a_plain_tensor() -> None:
    """x = zeros(3); x[1] = w * 5 makes x part of the graph, as in PyTorch."""
    for tl in (minicnn, torch):
        w = tl.tensor([2.0], requires_grad=True)
        x = tl.zeros(3, dtype=tl.float64)
        x[1] = w * 5
        assert x.requires_grad and not x.is_leaf
        (x * tl.tensor([1.0, 2.0, 3.0], dtype=tl.float64)).sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), [10.0])


def test_augmented_assignment_changes_the_tensor_itself() -> None:
    x = minicnn.tensor([1.0, 2.0])
    alias, view = x, x[0:1]
    x += 1
    x *= minicnn.tensor([2.0, 3.0])
    x -= 0.5
    x /= 2
    x **= 2
    assert x is alias and x._version == 5
    expected = (((np.array([1.0, 2.0]) + 1) * [2.0, 3.0] - 0.5) / 2) ** 2
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(view.numpy(), expected[:1], rtol=1e-6)


@pytest.mark.parametrize("tl", [minicnn, torch], ids=["minicnn", "torch"])
def test_results_that_do_not_fit_are_refused_before_any_change(tl: Any) -> None:
    i = tl.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i += 1.5  # a float result into an int64 tensor
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        tl.zeros(3).add_(tl.ones(2, 3))
    with pytest.raises(RuntimeError, match="0-dimension"):
        tl.zeros(3).fill_(tl.ones(2))
    np.testing.assert_array_equal(i.numpy(), [1, 2, 3])
    assert i._version == 0


def test_copy_from_a_shape_that_does_not_broadcast_is_refused() -> None:
    t = minicnn.zeros(2, 3)
    with pytest.raises(ValueError, match=r"source of shape \(4,\).*shape \(2, 3\)"):
        t.copy_(minicnn.ones(4))
    assert t._version == 0 and not t.numpy().any()


def test_differentiable_change_of_a_view_is_refused_with_a_clear_error() -> None:
    """PyTorch rewrites the base's graph (CopySlices); minicnn refuses rather than give the
    base a gradient that ignores the change."""
    w = minicnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = w * 2
    v = h[0:2]
    with pytest.raises(RuntimeError, match=r"view \(shape \(2,\)\).*shape \(3,\)"):
        v.mul_(10)
    np.testing.assert_array_equal(h.detach().numpy(), [2, 4, 6])
    assert h._version == 0
    x = minicnn.zeros(3)
    with pytest.raises(RuntimeError, match="view"):
        x[0:2].copy_(w[0:2])


def test_a_view_taken_before_a_differentiable_change_of_its_base_is_refused() -> None:
    """PyTorch regenerates such a view's graph; minicnn raises instead of a gradient that
    ignores the change."""
    w = minicnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = w * 2
    v = h[1:]
    h.mul_(3)
    with pytest.raises(RuntimeError, match="take the view again"):
        v.sum()
    (h[1:] * 1).sum().backward()  # a view taken after the change is fine
    np.testing.assert_array_equal(w.grad.numpy(), [0, 6, 6])


def test_data_writes_are_not_tracked_as_documented() -> None:
    x = minicnn.tensor([1.0, 2.0])
    x.data[0] = 5.0
    assert x._version == 0
    assert "not tracked" in minicnn.Tensor.__doc__
