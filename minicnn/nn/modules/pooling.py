"""Pooling layers: ``MaxPool2d`` and ``AvgPool2d`` (output sizes round down, as PyTorch)."""
from __future__ import annotations

from typing import Any

from minicnn.autograd.tensor import Tensor
from minicnn.nn import functional as F
from minicnn.nn.modules.module import Module
from minicnn.ops.checks import check_bool, check_pair

_Size2 = Any  # int or (int, int)


def _check_pool_args(owner: str, kernel_size: Any, stride: Any, padding: Any) -> None:
    """kernel_size and stride (None: the kernel size) pairs of positive ints, padding at most
    half the kernel (as PyTorch)."""
    kernel = check_pair(kernel_size, "kernel_size", owner, minimum=1)
    if stride is not None:
        check_pair(stride, "stride", owner, minimum=1)
    pad = check_pair(padding, "padding", owner, minimum=0)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"{owner}: padding should be at most half of the kernel size, got "
                         f"padding={padding!r} for kernel_size={kernel_size!r}")


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
        _check_pool_args("MaxPool2d", kernel_size, stride, padding)
        check_pair(dilation, "dilation", "MaxPool2d", minimum=1)
        check_bool(return_indices, "return_indices", "MaxPool2d")
        check_bool(ceil_mode, "ceil_mode", "MaxPool2d")
        if dilation not in (1, (1, 1), [1, 1]) or return_indices or ceil_mode:
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
        _check_pool_args("AvgPool2d", kernel_size, stride, padding)
        check_bool(ceil_mode, "ceil_mode", "AvgPool2d")
        check_bool(count_include_pad, "count_include_pad", "AvgPool2d")
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
