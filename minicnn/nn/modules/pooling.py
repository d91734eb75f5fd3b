"""Pooling layers: ``MaxPool2d`` and ``AvgPool2d`` (output sizes round down, as PyTorch)."""
from __future__ import annotations

from typing import Any

from minicnn.autograd.tensor import Tensor
from minicnn.nn import functional as F
from minicnn.nn.modules.module import Module

_Size2 = Any  # int or (int, int)


class MaxPool2d(Module):
    """y[n, c, p, q] = max over the KH x KW window at (SH*p - PH, SW*q - PW) of x
    (padding counts as -inf). Input (N, C, H, W), output (N, C, OH, OW) with
    OH = floor((H + 2*PH - KH) / SH) + 1. ``stride`` defaults to ``kernel_size``.

    ``dilation``, ``return_indices`` and ``ceil_mode`` exist for PyTorch's signature; only
    their defaults are supported.
    """

    def __init__(self, kernel_size: _Size2, stride: _Size2 | None = None, padding: _Size2 = 0,
                 dilation: _Size2 = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        if dilation not in (1, (1, 1)) or return_indices or ceil_mode:
            raise NotImplementedError(
                "MaxPool2d: only dilation=1, return_indices=False, ceil_mode=False are supported"
            )
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """y[n, c, p, q] = mean of x over the KH x KW window at (SH*p - PH, SW*q - PW) (zero
    padding counted in the divisor, as PyTorch's default count_include_pad=True).
    Input (N, C, H, W), output (N, C, OH, OW) with OH = floor((H + 2*PH - KH) / SH) + 1.
    ``stride`` defaults to ``kernel_size``.
    """

    def __init__(self, kernel_size: _Size2, stride: _Size2 | None = None,
                 padding: _Size2 = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        if ceil_mode or not count_include_pad:
            raise NotImplementedError(
                "AvgPool2d: only ceil_mode=False, count_include_pad=True are supported"
            )
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
