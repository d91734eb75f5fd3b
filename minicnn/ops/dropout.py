"""Inverted dropout, its mask drawn from minicnn's seeded generator."""
from __future__ import annotations

from typing import Any

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.ops.checks import check_bool, describe, is_real
from minicnn.random import device_uniform, get_generator


def draw_keep_mask(shape: tuple[int, ...], p: float, like: Any) -> Any:
    """A float mask of ``shape`` on ``like``'s device and dtype: each entry 1/(1-p) with
    probability 1-p, else 0. Determined by minicnn's global generator, so runs replay.

    On the CPU the uniforms are the host generator's own draws. On a device they are computed
    there (``minicnn.random.device_uniform``, from one seed drawn on the host), so no mask is
    copied to the device in a training step; the masks differ from a CPU run's.
    """
    xp = backend.get_array_module(like)
    if xp is backend.CPU.xp:
        keep = get_generator().random(shape) >= p
    else:
        keep = device_uniform(xp, shape) >= p
    return keep.astype(like.dtype) * like.dtype.type(1 / (1 - p))


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
    if not is_real(p):
        raise TypeError(f"dropout: p (the dropout probability) must be a real number, got "
                        f"{describe(p)}")
    training = check_bool(training, "training", "dropout")
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0
    return Dropout(p).apply(input)
