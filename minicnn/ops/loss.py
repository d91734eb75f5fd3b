"""Losses: cross entropy (from logits), NLL, binary cross entropy (logits and probabilities), MSE.

Each is one Function whose forward computes the per-element loss L and applies the reduction
('mean', 'sum' or 'none'); backward scales the per-element gradient by gy (and 1/n for 'mean').
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.ops.activation import log_softmax_array
from minicnn.ops.ieee import quiet

REDUCTIONS = ("mean", "sum", "none")


class _Loss(Function):
    def __init__(self, reduction: str) -> None:
        self.reduction = reduction

    def reduce(self, loss: Any) -> Any:
        self.n = loss.size
        if self.reduction == "none":
            return loss
        total = loss.sum()
        if self.reduction == "sum":
            return total
        # NOTE: the mean over an empty batch is 0 / 0 = NaN, as PyTorch's ('sum' gives 0).
        return total / self.n if self.n else \
            backend.get_array_module(loss).full((), np.nan, dtype=loss.dtype)

    def scale(self, gy: Any) -> Any:
        """The upstream gradient of each element of the unreduced loss (for an empty batch
        there is no element: the gradient is empty whatever the scale)."""
        return gy / max(self.n, 1) if self.reduction == "mean" else gy


@quiet
class CrossEntropy(_Loss):
    """L_i = logsumexp(x_i) - x_i[t_i] for logits x (N, C) and classes t (N,);
    gx_i = (softmax(x_i) - onehot(t_i)) * gL_i."""

    def forward(self, x: Any, t: Any) -> Any:
        xp = backend.get_array_module(x)
        logp = log_softmax_array(x, 1)
        self.logp, self.t = logp, t
        return self.reduce(-xp.take_along_axis(logp, t[:, None], axis=1)[:, 0])

    def backward(self, gy: Any) -> tuple:
        xp = backend.get_array_module(gy)
        g = xp.exp(self.logp)
        g[xp.arange(g.shape[0]), self.t] -= 1
        gL = self.scale(gy)
        return g * (gL[:, None] if self.reduction == "none" else gL), None


class NLL(_Loss):
    """L_i = -x_i[t_i] for log-probabilities x (N, C);  gx_i = -onehot(t_i) * gL_i."""

    def forward(self, x: Any, t: Any) -> Any:
        xp = backend.get_array_module(x)
        self.shape, self.dtype, self.t = x.shape, x.dtype, t
        return self.reduce(-xp.take_along_axis(x, t[:, None], axis=1)[:, 0])

    def backward(self, gy: Any) -> tuple:
        xp = backend.get_array_module(gy)
        g = xp.zeros(self.shape, dtype=self.dtype)
        g[xp.arange(self.shape[0]), self.t] = -self.scale(gy)
        return g, None


@quiet
class BCEWithLogits(_Loss):
    """L = max(x, 0) - x t + log(1 + exp(-|x|)) (= -t log s(x) - (1-t) log(1-s(x)), stably);
    gx = (sigmoid(x) - t) gL,  gt = -x gL."""

    def forward(self, x: Any, t: Any) -> Any:
        xp = backend.get_array_module(x)
        self.x, self.t = x, t
        return self.reduce(xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x))))

    def backward(self, gy: Any) -> tuple:
        xp = backend.get_array_module(gy)
        x, gL = self.x, self.scale(gy)
        z = xp.exp(-xp.abs(x))
        s = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
        gx = (s - self.t) * gL if self.needs_input_grad[0] else None
        gt = -x * gL if self.needs_input_grad[1] else None
        return gx, gt


# NOTE: PyTorch's BCE epsilon is a C++ float constant, so even in float64 the clamp is
# float32(1e-12) = 9.99999996e-13; using it keeps saturated float64 gradients equal to torch's.
BCE_EPS = float(np.float32(1e-12))


class BCE(_Loss):
    """L = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)) for probabilities p;
    gp = (p - t) / max(p (1 - p), 1e-12) gL,  gt = (max(log(1-p), -100) - max(log p, -100)) gL.

    NOTE: the logs are clamped at -100 and the gradient's denominator at 1e-12, as PyTorch, so a
    saturated sigmoid gives a finite loss and gradient. The target gradient is the derivative
    of this clamped loss (+-100 at p = 0 or 1), where PyTorch's is -logit(p) = -+inf.
    """

    def forward(self, p: Any, t: Any) -> Any:
        xp = backend.get_array_module(p)
        self.p, self.t = p, t
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped next (no warning, as torch)
            self.log_p = xp.maximum(xp.log(p), -100)
            self.log_q = xp.maximum(xp.log1p(-p), -100)
        return self.reduce(-(t * self.log_p + (1 - t) * self.log_q))

    def backward(self, gy: Any) -> tuple:
        xp = backend.get_array_module(gy)
        p, gL = self.p, self.scale(gy)
        gp = gt = None
        if self.needs_input_grad[0]:
            gp = (p - self.t) / xp.maximum(p * (1 - p), BCE_EPS) * gL
        if self.needs_input_grad[1]:
            gt = (self.log_q - self.log_p) * gL
        return gp, gt


@quiet
class MSE(_Loss):
    """L = (x - t)^2;  gx = 2 (x - t) gL,  gt = -gx."""

    def forward(self, x: Any, t: Any) -> Any:
        self.d = x - t
        return self.reduce(self.d * self.d)

    def backward(self, gy: Any) -> tuple:
        g = 2 * self.d * self.scale(gy)
        return (g if self.needs_input_grad[0] else None,
                -g if self.needs_input_grad[1] else None)


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_classes(input: Tensor, target: Tensor, op: str) -> None:
    if input.ndim != 2:
        raise ValueError(f"{op}: expected input of shape (N, C), got {input.shape}")
    if target.ndim != 1 or target.shape[0] != input.shape[0]:
        raise ValueError(f"{op}: expected target of shape ({input.shape[0]},) for input "
                         f"{input.shape}, got {target.shape}")
    if target.dtype.kind not in "iu":
        raise ValueError(f"{op}: expected an integer (class index) target, got {target.dtype}")
    C = input.shape[1]
    # NOTE: checked on the host only: on a GPU the check would force a device-to-host sync.
    if target.data.size and backend.device_of(target.data) is backend.CPU:
        lo, hi = int(target.data.min()), int(target.data.max())
        if lo < 0 or hi >= C:
            raise ValueError(f"{op}: target class indices must be in [0, {C}), "
                             f"got values in [{lo}, {hi}]")


def _check_same_shape(input: Tensor, target: Tensor, op: str) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{op}: using a target size {target.shape} that is different to the "
                         f"input size {input.shape}")


def _check_probabilities(t: Tensor, name: str, op: str) -> None:
    """ValueError unless every element of ``t`` is in [0, 1] (NaN is not), as PyTorch.

    NOTE: checked on the host only, as the class indices above: on a device the check would
    read a result back (a device-to-host sync in every training step); PyTorch checks there
    with a device-side assertion. Out-of-range values on a device give NaN (input) or a
    finite, meaningless loss (target).
    """
    a = t.data
    if a.size and backend.device_of(a) is backend.CPU:
        lo, hi = a.min(), a.max()  # NaN propagates into both
        if not (lo >= 0 and hi <= 1):
            raise ValueError(f"{op}: all elements of {name} should be between 0 and 1, got "
                             f"values in [{lo!s}, {hi!s}]")


def _as_target(target: Any, input: Tensor) -> Tensor:
    if isinstance(target, Tensor):
        return target
    return Tensor(backend.to_device(target, backend.device_of(input.data)))


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Softmax cross entropy of logits (N, C) against class indices (N,) in [0, C)."""
    target = _as_target(target, input)
    _check_reduction(reduction, "cross_entropy")
    _check_classes(input, target, "cross_entropy")
    return CrossEntropy(reduction).apply(input, target)


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) against class indices (N,)."""
    target = _as_target(target, input)
    _check_reduction(reduction, "nll_loss")
    _check_classes(input, target, "nll_loss")
    return NLL(reduction).apply(input, target)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     reduction: str = "mean") -> Tensor:
    """Binary cross entropy of logits against targets in [0, 1] (same shape), computed stably."""
    target = _as_target(target, input)
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    return BCEWithLogits(reduction).apply(input, target.to(input.dtype))


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Binary cross entropy of probabilities in [0, 1] against targets (same shape)."""
    target = _as_target(target, input)
    _check_reduction(reduction, "binary_cross_entropy")
    _check_same_shape(input, target, "binary_cross_entropy")
    _check_probabilities(input, "input", "binary_cross_entropy")
    _check_probabilities(target, "target", "binary_cross_entropy")
    return BCE(reduction).apply(input, target.to(input.dtype))


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (x - t)^2 (same shapes), reduced."""
    target = _as_target(target, input)
    _check_reduction(reduction, "mse_loss")
    _check_same_shape(input, target, "mse_loss")
    return MSE(reduction).apply(input, target)
