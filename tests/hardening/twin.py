"""Helpers of the version-counter tests: the same scenario in PyTorch and in minicnn.

A scenario is ``fn(tl, T, mutate)``: ``tl`` is ``torch`` or ``minicnn``, ``T(array,
grad=False)`` makes a float64 tensor of that library from a NumPy array, ``mutate`` says
whether to make the in-place change; it returns the leaves whose gradients are compared.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF

import minicnn
import minicnn.nn.functional as MF

RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 3))
W1 = RNG.standard_normal((5, 3))
W2 = RNG.standard_normal((2, 5))
IMG = RNG.standard_normal((2, 3, 6, 6))
K = RNG.standard_normal((4, 3, 3, 3))
MODIFIED = "modified by an inplace operation"


def F(tl: Any) -> Any:
    return TF if tl is torch else MF


def maker(tl: Any) -> Callable:
    def T(a: Any, grad: bool = False) -> Any:
        return tl.tensor(np.array(a, dtype=np.float64), requires_grad=grad)

    return T


def mlp(tl: Any, T: Callable) -> tuple:
    """Linear(3, 5) -> ReLU -> Linear(5, 2), float64, the same weights in both libraries."""
    model = tl.nn.Sequential(tl.nn.Linear(3, 5), tl.nn.ReLU(), tl.nn.Linear(5, 2)).double()
    model.load_state_dict({"0.weight": T(W1), "0.bias": T(np.zeros(5)), "2.weight": T(W2),
                           "2.bias": T(np.ones(2))})
    return model, T(X)


def run(fn: Callable, tl: Any, mutate: bool) -> tuple[str, Any]:
    """('raise', message) for the in-place error, or ('ok', the leaves' gradients as NumPy
    arrays); any other error propagates."""
    if tl is torch:
        torch.manual_seed(0)
    else:
        minicnn.manual_seed(0)
    try:
        leaves = fn(tl, maker(tl), mutate)
    except RuntimeError as exc:
        if MODIFIED not in str(exc):
            raise
        return "raise", str(exc)
    return "ok", [None if p.grad is None else np.array(p.grad.detach().numpy()) for p in leaves]


def assert_same_grads(got: list, expected: list) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (g is None) == (e is None)
        if g is not None:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
