"""``Conv2d``: 2-D convolution (cross-correlation) layer."""
from __future__ import annotations

from typing import Any

from minicnn.autograd.tensor import Tensor
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.nn.modules.module import Module
from minicnn.nn.modules.parameter import empty_parameter
from minicnn.ops.checks import check_bool, check_int, check_pair


class Conv2d(Module):
    """y[n, o] = b[o] + sum_c sum_{i,j} W[o, c, i, j] * x_pad[n, c, SH*p + DH*i, SW*q + DW*j].

    Input (N, C_in, H, W), output (N, C_out, OH, OW) with
    OH = floor((H + 2*PH - DH*(KH - 1) - 1) / SH) + 1 (and likewise OW);
    ``padding`` is an int, a pair, 'valid' (0) or 'same' (output size = input size, stride 1).
    ``weight`` is (C_out, C_in, KH, KW), ``bias`` (C_out,), both drawn as in PyTorch:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in * KH * KW.
    ``groups`` and ``padding_mode`` exist for PyTorch's signature; only 1 and 'zeros' are
    supported.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name = "Conv2d"
        in_channels = check_int(in_channels, "in_channels", name, minimum=1)
        out_channels = check_int(out_channels, "out_channels", name, minimum=1)
        self.kernel_size = check_pair(kernel_size, "kernel_size", name, minimum=1)
        self.stride = check_pair(stride, "stride", name, minimum=1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv2d: invalid padding string {padding!r}, should be one "
                                 "of {'valid', 'same'}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("Conv2d: padding='same' is not supported for strided "
                                 f"convolutions (stride={self.stride})")
            self.padding: tuple[int, int] | str = padding
        else:
            self.padding = check_pair(padding, "padding", name, minimum=0)
        self.dilation = check_pair(dilation, "dilation", name, minimum=1)
        if check_int(groups, "groups", name, minimum=1) != 1:
            raise NotImplementedError(f"Conv2d: only groups=1 is supported, got {groups}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: only padding_mode='zeros' is supported, got "
                                      f"{padding_mode!r}")
        bias = check_bool(bias, "bias", name)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = empty_parameter(out_channels, in_channels, *self.kernel_size,
                                      device=device, dtype=dtype)
        if bias:
            self.bias = empty_parameter(out_channels, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw ``weight`` and ``bias`` from PyTorch's default distributions."""
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s
