"""Loss layers: each calls its functional loss with the stored ``reduction``.

``reduction``: 'mean' (default) averages the per-element losses, 'sum' adds them, 'none'
returns them unreduced.
"""
from __future__ import annotations

from minicnn.autograd.tensor import Tensor
from minicnn.nn import functional as F
from minicnn.nn.modules.module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if not isinstance(reduction, str):
            raise TypeError(f"{type(self).__name__}: reduction must be 'none', 'mean' or "
                            f"'sum', got {type(reduction).__name__} {reduction!r}")
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"{type(self).__name__}: {reduction!r} is not a valid value for "
                             "reduction ('none', 'mean' or 'sum')")
        self.reduction = reduction


class CrossEntropyLoss(_Loss):
    """l_n = -log softmax(x_n)[t_n] = logsumexp(x_n) - x_n[t_n].
    Input (N, C) logits, target (N,) class indices (int64); output a scalar ((N,) for 'none').
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """l_n = -x_n[t_n] for log-probabilities x (N, C) and class indices t (N,)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """l = max(x, 0) - x*t + log1p(exp(-|x|)) (binary cross entropy of sigmoid(x), stable).
    Input and target of the same shape; prefer this to Sigmoid + BCELoss."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction)


class BCELoss(_Loss):
    """l = -(t log p + (1 - t) log(1 - p)), each log clamped at -100 (as PyTorch)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """l = (x - t)^2 elementwise."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)
