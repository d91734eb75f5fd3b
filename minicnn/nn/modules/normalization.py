"""Batch normalisation: ``BatchNorm1d`` and ``BatchNorm2d``.

minicnn follows PyTorch's conventions: momentum 0.1 (running = (1 - momentum) * running +
momentum * batch statistic), eps 1e-5, and the running variance updated with the UNBIASED batch
variance (divided by n - 1) while the batch is normalised with the biased one. Keras (momentum
0.99, eps 1e-3) and Chainer (decay 0.9, eps 2e-5) differ: weights converted from them need
their eps and momentum set explicitly.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import Tensor, increment_version
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.nn.modules.module import Module
from minicnn.nn.modules.parameter import empty_parameter
from minicnn.ops.checks import check_bool, check_int, check_real


class _BatchNorm(Module):
    """Shared code of BatchNorm1d/2d: parameters ``weight`` (gamma) and ``bias`` (beta), buffers
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` (int64), named as in PyTorch.

    y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1). Training uses the
    batch's statistics and updates the running ones; evaluation uses the running ones.
    ``momentum=None`` gives a cumulative average (factor 1 / num_batches_tracked).
    """

    _expected_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = check_int(num_features, "num_features", name, minimum=1)
        self.eps = check_real(eps, "eps", name, low=0.0)
        self.momentum = None if momentum is None else \
            check_real(momentum, "momentum", name, 0.0, 1.0)
        self.affine = check_bool(affine, "affine", name)
        self.track_running_stats = check_bool(track_running_stats, "track_running_stats", name)
        bias = check_bool(bias, "bias", name)
        if affine:
            self.weight = empty_parameter(num_features, device=device, dtype=dtype)
            if bias:
                self.bias = empty_parameter(num_features, device=device, dtype=dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            float_dtype = np.dtype(np.float32 if dtype is None else dtype)
            self.register_buffer("running_mean", _buffer(np.zeros(num_features, float_dtype),
                                                         device))
            self.register_buffer("running_var", _buffer(np.ones(num_features, float_dtype),
                                                        device))
            self.register_buffer("num_batches_tracked", _buffer(np.array(0, np.int64), device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0
            increment_version(self.running_mean, self.running_var, self.num_batches_tracked)

    def reset_parameters(self) -> None:
        """Reset the running statistics; weight = 1, bias = 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input(self, x: Tensor) -> None:
        """The input's type, rank and channels, checked before any state changes."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a minicnn Tensor input, got {type(x).__name__}")
        if x.ndim not in self._expected_dims:
            expected = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"{name}: expected {expected} input (got {x.ndim}D input of "
                             f"shape {x.shape})")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected input with {self.num_features} channels "
                             f"(num_features) on axis 1, got input of shape {x.shape}")
        if self.training and x.data.size // self.num_features <= 1:
            raise ValueError(f"{name}: expected more than 1 value per channel when training, "
                             f"got input of shape {x.shape}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        count = self.training and self.track_running_stats and \
            self.num_batches_tracked is not None
        if count and self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked.item() + 1)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        # NOTE: (N, C, L) is normalised as (N, C, L, 1): the same statistics over N and L.
        x4 = x.unsqueeze(-1) if x.ndim == 3 else x
        mean, var = (self.running_mean, self.running_var) if use_running else (None, None)
        # NOTE: batch_norm updates the running statistics in place and increments their
        # versions; in evaluation it keeps copies of them for backward.
        y = F.batch_norm(x4, mean, var, self.weight, self.bias, bn_training, factor, self.eps)
        # NOTE: counted after batch_norm succeeded, so that a failing batch changes nothing.
        if count:
            nbt = self.num_batches_tracked.data
            nbt[...] = nbt + 1
            increment_version(self.num_batches_tracked)
        return y.squeeze(-1) if x.ndim == 3 else y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


def _buffer(host: np.ndarray, device: Any) -> Tensor:
    return Tensor(host if device is None else backend.to_device(host, device))


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs, statistics per channel C (over N,
    or over N and L). Output shape = input shape. PyTorch's conventions (see the module doc)."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs, statistics per channel C over N, H, W.
    Output shape = input shape. PyTorch's conventions: momentum 0.1, eps 1e-5, unbiased running
    variance (see the module doc)."""

    _expected_dims = (4,)
