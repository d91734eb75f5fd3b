"""Batch normalisation over (N, C) or (N, C, H, W), with PyTorch's conventions."""
from __future__ import annotations

from typing import Any

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor, increment_version
from minicnn.kernels import normalization as kernels
from minicnn.ops.checks import check_bool, check_float_operands, check_real
from minicnn.ops.ieee import quiet


@quiet
class BatchNorm(Function):
    """y = gamma * xhat + beta, xhat = (x - mu) * inv_std, inv_std = 1 / sqrt(var + eps),
    per channel c.

    Training: mu, var are the batch mean and biased variance over the m = N*H*W values of each
    channel, and ``gx = gamma * inv_std * (gy - sum(gy) / m - xhat * sum(gy * xhat) / m)``.
    Evaluation: mu, var are the running statistics (constants) and gx = gy * gamma * inv_std.
    Both: ``ggamma = sum(gy * xhat)``, ``gbeta = sum(gy)`` over (N, H, W).
    Kernels: ``minicnn.kernels.normalization``. Saved for backward: x, mu, inv_std (xhat is
    recomputed from them) and gamma.
    """

    def __init__(self, training: bool, eps: float, mean: Any = None, var: Any = None,
                 affine: tuple[bool, bool] = (True, True)) -> None:
        self.training, self.eps = training, eps
        self.mean, self.var = mean, var
        self.has_weight, self.has_bias = affine

    def forward(self, x: Any, *params: Any) -> Any:
        params = list(params)
        gamma = params.pop(0) if self.has_weight else None
        beta = params.pop(0) if self.has_bias else None
        if self.training:
            self.mean, self.var = kernels.batch_stats(x)
        self.inv_std = 1 / backend.get_array_module(x).sqrt(self.var + self.eps)
        self.x, self.gamma = x, gamma
        return kernels.normalize(x, self.mean, self.inv_std, gamma, beta)

    def backward(self, gy: Any) -> tuple:
        need = self.needs_input_grad
        x, gamma = self.x, self.gamma
        want_gamma = self.has_weight and need[1]
        want_beta = self.has_bias and need[1 + self.has_weight]
        sum_gy = sum_gy_xhat = None
        if (need[0] and self.training) or want_gamma or want_beta:
            sum_gy, sum_gy_xhat = kernels.grad_sums(x, gy, self.mean, self.inv_std)
        gx = None
        if need[0] and self.training:
            gx = kernels.grad_input(x, gy, self.mean, self.inv_std, gamma, sum_gy, sum_gy_xhat)
        elif need[0]:
            scale = self.inv_std if gamma is None else gamma * self.inv_std
            gx = gy * kernels.per_channel(scale, gy.ndim)
        grads = (gx,)
        if self.has_weight:
            grads += (sum_gy_xhat.astype(gy.dtype, copy=False) if want_gamma else None,)
        if self.has_bias:
            grads += (sum_gy.astype(gy.dtype, copy=False) if want_beta else None,)
        return grads


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of (N, C) or (N, C, H, W) per channel, as ``torch.nn.functional``.

    Training normalises with the batch statistics and updates the running ones in place:
    ``running_mean = (1 - momentum) running_mean + momentum mean`` and
    ``running_var = (1 - momentum) running_var + momentum var * m / (m - 1)`` (unbiased),
    m = N*H*W; their version counters are incremented (an op that saved them raises in its
    backward). Evaluation normalises with copies of the running statistics, so that a later
    change of them does not change this graph's gradient. All tensors float32, or all float64.
    PyTorch's conventions (momentum 0.1, eps 1e-5), not Keras's (0.99, 1e-3) or Chainer's.
    """
    op = "batch_norm"
    training = check_bool(training, "training", op)
    momentum = check_real(momentum, "momentum", op)
    eps = check_real(eps, "eps", op, low=0.0)
    if input.ndim not in (2, 4):
        raise ValueError(f"batch_norm: expected a 2-D (N, C) or 4-D (N, C, H, W) input, "
                         f"got shape {input.shape}")
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (C,):
            raise ValueError(f"batch_norm: expected {name} of shape ({C},), got {t.shape}")
    m = input.data.size // max(C, 1)
    if training and m <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got input "
            f"of shape {input.shape}"
        )
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    check_float_operands(op, input=input, weight=weight, bias=bias, running_mean=running_mean,
                         running_var=running_var)
    # NOTE: evaluation keeps the statistics for backward: copies (C values each), so that an
    # in-place change of the running ones (a training forward) cannot change its gradient.
    f = BatchNorm(training, eps,
                  None if training else running_mean.data.copy(),
                  None if training else running_var.data.copy(),
                  affine=(weight is not None, bias is not None))
    y = f.apply(input, *[t for t in (weight, bias) if t is not None])
    if training and running_mean is not None:
        running_mean.data *= 1 - momentum
        running_mean.data += momentum * f.mean
        increment_version(running_mean)
    if training and running_var is not None:
        running_var.data *= 1 - momentum
        running_var.data += (momentum * m / (m - 1)) * f.var
        increment_version(running_var)
    return y
