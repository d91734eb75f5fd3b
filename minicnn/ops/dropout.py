"""Inverted dropout, its mask drawn from minicnn's seeded generator."""
from __future__ import annotations

from typing import Any

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.random import get_generator


def draw_keep_mask(shape: tuple[int, ...], p: float, like: Any) -> Any:
    """A float mask of ``shape`` on ``like``'s device and dtype: each entry 1/(1-p) with
    probability 1-p, else 0. Drawn from minicnn's global generator, so runs replay."""
    xp = backend.get_array_module(like)
    keep = get_generator().random(shape) >= p
    mask = keep.astype(like.dtype) * like.dtype.type(1 / (1 - p))
    return mask if xp is backend.CPU.xp else backend.to_device(mask, backend.device_of(like))


class Dropout(Function):
    """y = x * mask, mask_i = 1/(1-p) with probability 1-p else 0;  gx = gy * mask."""

    def __init__(self, p: float) -> None:
        self.p = p

    def forward(self, x: Any) -> Any:
        self.mask = draw_keep_mask(x.shape, self.p, x)
        return x * self.mask

    def backward(self, gy: Any) -> Any:
        return gy * self.mask


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (when training)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0
    return Dropout(p).apply(input)
