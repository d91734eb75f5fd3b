"""2-D convolution (a cross-correlation, as PyTorch's) by im2col and a matrix product."""
from __future__ import annotations

from typing import Any

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.kernels import conv as kernels
from minicnn.kernels.geometry import same_padding
from minicnn.ops.checks import check_float_operands, check_pair


def check_4d(x: Tensor, op: str) -> None:
    """ValueError unless ``x`` is a 4-D (N, C, H, W) tensor."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")


class Conv2d(Function):
    """y[n, o] = sum_{c, i, j} W[o, c, i, j] x_pad[n, c, SH*h + DH*i, SW*w + DW*j] + b[o].

    Forward: col = im2col(x) (N, C*KH*KW, OH*OW), y = W_mat @ col + b, W_mat (OC, C*KH*KW).
    Backward: gx = col2im(W_mat^T @ gy_n) (the adjoint of im2col); gW = sum_n gy_n @ col_n^T;
    gb = sum of gy over (N, OH, OW). Kernels: ``minicnn.kernels.conv``. Saved for backward:
    x (for gW: col is recomputed from it) and W (for gx), each only if that gradient is needed.
    """

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int],
                 dilation: tuple[int, int]) -> None:
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x: Any, W: Any, b: Any = None) -> Any:
        need = self.needs_input_grad
        self.x = x if need and need[1] else None
        self.W = W if need and need[0] else None
        self.x_shape, self.w_shape = x.shape, W.shape
        return kernels.conv2d_forward(x, W, b, self.stride, self.padding, self.dilation)

    def backward(self, gy: Any) -> tuple:
        need = self.needs_input_grad
        return kernels.conv2d_backward(self.x, self.W, gy, self.stride, self.padding,
                                       self.dilation, self.x_shape, self.w_shape,
                                       len(need) > 2 and need[2])


class Pad2d(Function):
    """y = x zero-padded by (top, bottom, left, right) on its last two axes;  gx = gy cropped."""

    def __init__(self, pads: tuple[int, int, int, int]) -> None:
        self.pads = pads

    def forward(self, x: Any) -> Any:
        top, bottom, left, right = self.pads
        width = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        return backend.get_array_module(x).pad(x, width)

    def backward(self, gy: Any) -> Any:
        top, bottom, left, right = self.pads
        return gy[..., top:gy.shape[-2] - bottom, left:gy.shape[-1] - right]


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1) -> Tensor:
    """2-D cross-correlation of ``input`` (N, C, H, W) with ``weight`` (OC, C, KH, KW).

    ``padding``: an int, a pair, ``'valid'`` (0) or ``'same'`` (output size = input size;
    stride 1 only). Output (N, OC, OH, OW) with
    ``OH = floor((H + 2 PH - DH (KH - 1) - 1) / SH) + 1`` (and likewise OW).
    Input, weight and bias all float32 or all float64 (``DtypeError`` otherwise).
    """
    op = "conv2d"
    check_4d(input, op)
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight (OC, C, KH, KW), got shape {weight.shape}")
    N, C, H, W = input.shape
    OC, WC, KH, KW = weight.shape
    if C != WC:
        raise ValueError(
            f"{op}: input has {C} channels but weight {tuple(weight.shape)} expects {WC}"
        )
    if bias is not None and bias.shape != (OC,):
        raise ValueError(f"{op}: expected a bias of shape ({OC},), got {bias.shape}")
    check_float_operands(op, input=input, weight=weight, bias=bias)
    stride = check_pair(stride, "stride", op, minimum=1)
    dilation = check_pair(dilation, "dilation", op, minimum=1)
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        top, bottom, left, right = same_padding((KH, KW), dilation)
        if (top, left) != (bottom, right):
            input = Pad2d((0, bottom - top, 0, right - left)).apply(input)
            N, C, H, W = input.shape
        padding = (top, left)
    elif isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', "
                         f"got {padding!r}")
    padding = check_pair(padding, "padding", op, minimum=0)
    for size, k, p, d, axis in ((H, KH, padding[0], dilation[0], "height"),
                                (W, KW, padding[1], dilation[1], "width")):
        if d * (k - 1) + 1 > size + 2 * p:
            raise ValueError(
                f"{op}: kernel {axis} {k} (dilated {d * (k - 1) + 1}) is larger than the padded "
                f"input {axis} {size + 2 * p}"
            )
    inputs = (input, weight) if bias is None else (input, weight, bias)
    return Conv2d(stride, padding, dilation).apply(*inputs)


__all__ = ["conv2d"]
