"""Activations: relu, sigmoid, tanh, softmax and log_softmax."""
from __future__ import annotations

from typing import Any

from minicnn import backend
from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.kernels import elementwise as kernels
from minicnn.ops.checks import FLOAT_DTYPES, DtypeError, check_dim
from minicnn.ops.ieee import quiet


class ReLU(Function):
    """y = max(x, 0) = x * (x > 0);  gx = gy * (x > 0).

    NOTE: relu'(0) = 0 (``x > 0``, never ``>=``), as PyTorch. Kernels:
    ``minicnn.kernels.elementwise``; saved for backward: the mask ``x > 0``.
    """

    def forward(self, x: Any) -> Any:
        y, self.mask = kernels.relu_forward(x)
        return y

    def backward(self, gy: Any) -> Any:
        return kernels.relu_backward(gy, self.mask)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  gx = gy * y * (1 - y).

    Computed as exp(-|x|)-based branches, so no exp overflows for large |x|.
    """

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        z = xp.exp(-xp.abs(x))
        self.y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy * self.y * (1 - self.y)


class Tanh(Function):
    """y = tanh(x);  gx = gy * (1 - y**2)."""

    def forward(self, x: Any) -> Any:
        self.y = backend.get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy * (1 - self.y * self.y)


@quiet
class Softmax(Function):
    """y_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j (along ``dim``);
    gx = y * (gy - sum_j gy_j y_j)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        e = xp.exp(x - x.max(axis=self.dim, keepdims=True))
        self.y = e / e.sum(axis=self.dim, keepdims=True)
        return self.y

    def backward(self, gy: Any) -> Any:
        y = self.y
        return y * (gy - (gy * y).sum(axis=self.dim, keepdims=True))


@quiet
class LogSoftmax(Function):
    """y_i = x_i - m - log(sum_j exp(x_j - m)), m = max_j x_j (along ``dim``);
    gx = gy - exp(y) * sum_j gy_j."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, x: Any) -> Any:
        self.y = log_softmax_array(x, self.dim)
        return self.y

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.dim, keepdims=True)


def log_softmax_array(x: Any, dim: int) -> Any:
    """log_softmax on a raw array, by the log-sum-exp shift (shared with the losses)."""
    xp = backend.get_array_module(x)
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise (float32, float64 or an integer dtype; not float16, which
    ReLU's fast kernel does not take)."""
    if x.dtype.kind == "f" and x.dtype not in FLOAT_DTYPES:
        raise DtypeError(f"relu: input has dtype {x.dtype}, which relu does not support "
                         "(supported dtypes: float32, float64 and the integer dtypes)")
    return ReLU().apply(x)


def sigmoid(x: Tensor) -> Tensor:
    """The logistic function 1 / (1 + exp(-x)) elementwise."""
    return Sigmoid().apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return Tanh().apply(x)


def _softmax_dim(dim: int | None, ndim: int, name: str) -> int:
    if dim is None:
        raise TypeError(f"{name}: pass dim explicitly (PyTorch's implicit dim is deprecated)")
    return check_dim(dim, ndim, "dim", name)


def softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """Softmax along ``dim``: exp(x) normalised to sum 1, computed with the max shift."""
    return Softmax(_softmax_dim(dim, x.ndim, "softmax")).apply(x)


def log_softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably as x - logsumexp(x)."""
    return LogSoftmax(_softmax_dim(dim, x.ndim, "log_softmax")).apply(x)
