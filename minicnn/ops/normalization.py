"""Batch normalisation over (N, C) or (N, C, H, W), with PyTorch's conventions."""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.kernels import normalization as bn_cpu


class BatchNorm(Function):
    """y = gamma * xhat + beta, xhat = (x - mu) / sqrt(var + eps), per channel c.

    Training: mu, var are the batch mean and biased variance over the m = N*H*W values of each
    channel, and
    ``gx = inv_std / m * (m * gxhat - sum(gxhat) - xhat * sum(gxhat * xhat))``, gxhat = gy * gamma.
    Evaluation: mu, var are the running statistics (constants) and gx = gy * gamma * inv_std.
    Both: ``ggamma = sum(gy * xhat)``, ``gbeta = sum(gy)`` over (N, H, W).
    On the CPU, (N, C, H, W) inputs take two fused passes each way
    (``minicnn.kernels.normalization``), and xhat is recomputed from x instead of kept.
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
        if type(x) is np.ndarray and x.ndim == 4:
            return self._forward_cpu(np.ascontiguousarray(x), gamma, beta)
        xp = backend.get_array_module(x)
        self.axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) + (1,) * (x.ndim - 2)  # broadcasts a (C,) vector over x
        if self.training:
            self.mean = x.mean(axis=self.axes)
            self.var = x.var(axis=self.axes)
        self.inv_std = 1 / xp.sqrt(self.var + self.eps)
        self.xhat = (x - self.mean.reshape(shape)) * self.inv_std.reshape(shape)
        self.shape, self.gamma = shape, gamma
        y = self.xhat if gamma is None else self.xhat * gamma.reshape(shape)
        return y if beta is None else y + beta.reshape(shape)

    def _forward_cpu(self, x: np.ndarray, gamma: Any, beta: Any) -> np.ndarray:
        self.cpu = True
        if self.training:
            self.mean, self.var = bn_cpu.batch_stats(x)
        self.inv_std = 1 / np.sqrt(self.var + self.eps)
        self.x, self.gamma = x, gamma  # x is kept instead of xhat (same size)
        return bn_cpu.normalize(x, self.mean, self.inv_std, gamma, beta)

    def _backward_cpu(self, gy: np.ndarray) -> tuple:
        need = self.needs_input_grad
        gy = np.ascontiguousarray(gy)
        sums = bn_cpu.grad_sums(self.x, gy, self.mean, self.inv_std)
        gx = ggamma = gbeta = None
        if need[0]:
            if self.training:
                gx = bn_cpu.grad_input(self.x, gy, self.mean, self.inv_std, self.gamma, *sums)
            else:
                scale = self.inv_std if self.gamma is None else self.gamma * self.inv_std
                gx = gy * scale.reshape(1, -1, 1, 1)
        i_weight, i_bias = 1, 1 + self.has_weight
        if self.has_weight and need[i_weight]:
            ggamma = sums[1].astype(gy.dtype)
        if self.has_bias and need[i_bias]:
            gbeta = sums[0].astype(gy.dtype)
        return (gx,) + ((ggamma,) if self.has_weight else ()) + ((gbeta,) if self.has_bias else ())

    def backward(self, gy: Any) -> tuple:
        if getattr(self, "cpu", False):
            return self._backward_cpu(gy)
        axes, shape, xhat = self.axes, self.shape, self.xhat
        need = self.needs_input_grad
        gx = ggamma = gbeta = None
        if need[0]:
            gxhat = gy if self.gamma is None else gy * self.gamma.reshape(shape)
            inv_std = self.inv_std.reshape(shape)
            if self.training:
                m = xhat.size // xhat.shape[1]
                gx = inv_std / m * (m * gxhat - gxhat.sum(axis=axes).reshape(shape)
                                    - xhat * (gxhat * xhat).sum(axis=axes).reshape(shape))
            else:
                gx = gxhat * inv_std
        i_weight, i_bias = 1, 1 + self.has_weight
        if self.has_weight and need[i_weight]:
            ggamma = (gy * xhat).sum(axis=axes)
        if self.has_bias and need[i_bias]:
            gbeta = gy.sum(axis=axes)
        return (gx,) + ((ggamma,) if self.has_weight else ()) + ((gbeta,) if self.has_bias else ())


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of (N, C) or (N, C, H, W) per channel, as ``torch.nn.functional``.

    Training normalises with the batch statistics and updates the running ones in place:
    ``running_mean = (1 - momentum) running_mean + momentum mean`` and
    ``running_var = (1 - momentum) running_var + momentum var * m / (m - 1)`` (unbiased),
    m = N*H*W. Evaluation normalises with the running statistics.
    PyTorch's conventions (momentum 0.1, eps 1e-5), not Keras's (0.99, 1e-3) or Chainer's.
    """
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
    f = BatchNorm(training, eps,
                  None if training else running_mean.data, None if training else running_var.data,
                  affine=(weight is not None, bias is not None))
    y = f.apply(input, *[t for t in (weight, bias) if t is not None])
    if training and running_mean is not None:
        running_mean.data *= 1 - momentum
        running_mean.data += momentum * f.mean
    if training and running_var is not None:
        running_var.data *= 1 - momentum
        running_var.data += (momentum * m / (m - 1)) * f.var
    return y
