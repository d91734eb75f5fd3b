"""2-D max and average pooling."""
from __future__ import annotations

from typing import Any

from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.kernels import pooling as kernels
from minicnn.ops.checks import check_float_operands, check_pair
from minicnn.ops.conv import check_4d


class MaxPool2d(Function):
    """y[n, c, h, w] = max over the window of x_pad (padding counts as -inf);
    gx = gy routed to each window's saved argmax (summed where windows overlap).

    NOTE: ties go to the first maximum in row-major window order, NaN wins, as PyTorch's CPU
    kernel. Kernels: ``minicnn.kernels.pooling``; saved for backward: the argmax.
    """

    def __init__(self, kernel: tuple, stride: tuple, padding: tuple) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: Any) -> Any:
        y, argmax = kernels.maxpool2d_forward(x, *self.kernel, *self.stride, *self.padding)
        self.argmax = argmax if self.needs_input_grad else None
        self.hw = x.shape[2:]
        return y

    def backward(self, gy: Any) -> Any:
        return kernels.maxpool2d_backward(gy, self.argmax, *self.hw, *self.kernel,
                                          *self.stride, *self.padding)


class AvgPool2d(Function):
    """y[n, c, h, w] = mean over the KH*KW window of x_pad (zero padding counted, as PyTorch's
    default ``count_include_pad=True``);  gx = col2im(gy / (KH*KW) spread over each window)."""

    def __init__(self, kernel: tuple, stride: tuple, padding: tuple) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: Any) -> Any:
        self.hw = x.shape[2:]
        return kernels.avgpool2d_forward(x, *self.kernel, *self.stride, *self.padding)

    def backward(self, gy: Any) -> Any:
        return kernels.avgpool2d_backward(gy, *self.hw, *self.kernel, *self.stride,
                                          *self.padding)


def _pool_args(x: Tensor, kernel_size: Any, stride: Any, padding: Any, op: str) -> tuple:
    check_4d(x, op)
    kernel = check_pair(kernel_size, "kernel_size", op, minimum=1)
    stride = kernel if stride is None or stride == [] else \
        check_pair(stride, "stride", op, minimum=1)
    padding = check_pair(padding, "padding", op)
    if min(padding) < 0 or padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"{op}: padding should be non-negative and at most half of the kernel size, "
            f"got padding {padding} for kernel {kernel}"
        )
    H, W = x.shape[2:]
    if kernel[0] > H + 2 * padding[0] or kernel[1] > W + 2 * padding[1]:
        raise ValueError(
            f"{op}: kernel {kernel} is larger than the padded input "
            f"{(H + 2 * padding[0], W + 2 * padding[1])}"
        )
    check_float_operands(op, input=x)
    return kernel, stride, padding


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Max pooling over KH x KW windows of (N, C, H, W) -> (N, C, OH, OW),
    ``OH = floor((H + 2 PH - KH) / SH) + 1``; stride defaults to the kernel size.
    float32 or float64 input."""
    return MaxPool2d(*_pool_args(input, kernel_size, stride, padding, "max_pool2d")).apply(input)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Average pooling over KH x KW windows of (N, C, H, W) -> (N, C, OH, OW),
    ``OH = floor((H + 2 PH - KH) / SH) + 1``; stride defaults to the kernel size.
    float32 or float64 input."""
    return AvgPool2d(*_pool_args(input, kernel_size, stride, padding, "avg_pool2d")).apply(input)
