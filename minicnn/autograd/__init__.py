"""Autograd core: Tensor, Function, the backward engine, grad modes and gradcheck."""
from minicnn.autograd.function import Function
from minicnn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from minicnn.autograd.gradcheck import GradcheckError, gradcheck
from minicnn.autograd.tensor import Tensor, increment_version

__all__ = ["Function", "GradcheckError", "Tensor", "enable_grad", "gradcheck",
           "increment_version", "is_grad_enabled", "no_grad"]
