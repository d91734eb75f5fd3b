"""``Dropout``: inverted dropout, active only in training mode."""
from __future__ import annotations

from minicnn.autograd.tensor import Tensor
from minicnn.nn import functional as F
from minicnn.nn.modules.module import Module
from minicnn.ops.checks import check_bool, check_real


class Dropout(Module):
    """Training: y = x * m / (1 - p) with m ~ Bernoulli(1 - p) drawn from minicnn's seeded
    generator; evaluation (``eval()``): y = x. Output shape = input shape.

    ``inplace`` is accepted for PyTorch's signature; the result is always a new tensor.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = check_real(p, "p (the dropout probability)", "Dropout", 0.0, 1.0)
        self.inplace = check_bool(inplace, "inplace", "Dropout")

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
