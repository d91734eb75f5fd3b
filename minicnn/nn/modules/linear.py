"""``Linear`` (y = x W^T + b) and ``Identity``."""
from __future__ import annotations

from typing import Any

from minicnn.autograd.tensor import Tensor
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.nn.modules.module import Module
from minicnn.nn.modules.parameter import empty_parameter
from minicnn.ops.checks import check_bool, check_int


class Identity(Module):
    """y = x (a placeholder layer); any constructor arguments are ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class Linear(Module):
    """y = x W^T + b.

    Input (*, in_features), output (*, out_features). ``weight`` (out_features, in_features)
    and ``bias`` (out_features,) are drawn as in PyTorch: W ~ U(-1/sqrt(in), 1/sqrt(in))
    (Kaiming-uniform with a = sqrt(5)), b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "Linear", minimum=0)
        self.out_features = check_int(out_features, "out_features", "Linear", minimum=0)
        bias = check_bool(bias, "bias", "Linear")
        self.weight = empty_parameter(out_features, in_features, device=device, dtype=dtype)
        if bias:
            self.bias = empty_parameter(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw ``weight`` and ``bias`` from PyTorch's default distributions."""
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
