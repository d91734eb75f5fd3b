"""``Flatten``: merge a range of axes into one."""
from __future__ import annotations

from minicnn.autograd.tensor import Tensor
from minicnn.nn.modules.module import Module
from minicnn.ops.checks import check_int
from minicnn.ops.shape import flatten


class Flatten(Module):
    """Axes ``start_dim`` .. ``end_dim`` merged: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = check_int(start_dim, "start_dim", "Flatten")
        self.end_dim = check_int(end_dim, "end_dim", "Flatten")

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
