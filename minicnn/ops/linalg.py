"""Matrix products: matmul (batched, broadcasting) and linear."""
from __future__ import annotations

from typing import Any

from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.kernels import linalg as kernels
from minicnn.ops.broadcast import sum_to
from minicnn.ops.checks import DtypeError, check_float_operands
from minicnn.ops.shape import squeeze, unsqueeze


def _swap(a: Any) -> Any:
    return a.swapaxes(-1, -2)


class MatMul(Function):
    """Y = A @ B over the last two axes (leading axes broadcast);
    gA = gY @ B^T,  gB = A^T @ gY (each summed to its input's shape)."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy: Any) -> tuple:
        a, b = self.a, self.b
        ga = sum_to(gy @ _swap(b), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(_swap(a) @ gy, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Linear(Function):
    """y = x W^T + b for x (*, in), W (out, in), b (out,);
    gx = gy W,  gW = gy^T x,  gb = sum of gy over the leading axes.
    Kernels: ``minicnn.kernels.linalg`` (2-D products in blocks on minicnn's threads)."""

    def forward(self, x: Any, W: Any, b: Any = None) -> Any:
        need = self.needs_input_grad
        self.x = x if need and need[1] else None  # only what backward uses
        self.W = W if need and need[0] else None
        y = kernels.matmul(x, W.T)
        if b is not None:
            y += b
        return y

    def backward(self, gy: Any) -> tuple:
        need = self.needs_input_grad
        gy2 = gy.reshape(-1, gy.shape[-1])  # (N*, out)
        gx = gW = gb = None
        if need[0]:
            gx = kernels.matmul(gy, self.W)
        if need[1]:
            gW = kernels.matmul(gy2.T, self.x.reshape(-1, self.x.shape[-1]))  # (out, in)
        if len(need) > 2 and need[2]:
            gb = gy2.sum(axis=0)
        return gx, gW, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with ``torch.matmul``'s rules: 1-D operands are promoted to a row (left)
    or a column (right) and the added axis removed from the result; leading axes broadcast."""
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("matmul: both arguments need at least 1 dimension")
    if a.dtype != b.dtype:
        raise DtypeError(f"matmul: expected both operands of one dtype, got {a.dtype} and "
                         f"{b.dtype}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({a.shape} and {b.shape})"
        )
    a2 = unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = unsqueeze(b, -1) if b.ndim == 1 else b
    y = MatMul().apply(a2, b2)
    if b.ndim == 1:
        y = squeeze(y, -1)
    if a.ndim == 1:
        y = squeeze(y, -2 if b.ndim > 1 else -1)
    return y


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x weight^T + bias, x (*, in_features), weight (out_features, in_features);
    all float32 or all float64."""
    check_float_operands("linear", input=x, weight=weight, bias=bias)
    if x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
        raise RuntimeError(
            f"linear: input of shape {x.shape} does not match weight of shape {weight.shape} "
            f"(expected last input dim {weight.shape[-1]})"
        )
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Linear().apply(*inputs)
