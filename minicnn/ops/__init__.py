"""The functional ops, one module per family, and the Tensor methods that call them."""
from minicnn.ops import tensor_methods  # noqa: F401  (binds the methods onto Tensor)
from minicnn.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from minicnn.ops.elementwise import (
                                     abs,
                                     add,
                                     clamp,
                                     div,
                                     eq,
                                     exp,
                                     ge,
                                     gt,
                                     le,
                                     log,
                                     lt,
                                     mul,
                                     ne,
                                     neg,
                                     pow,
                                     sqrt,
                                     sub,
                                     where,
)
from minicnn.ops.linalg import linear, matmul
from minicnn.ops.reduction import argmax, argmin, max, mean, min, sum
from minicnn.ops.shape import (
                                     cat,
                                     flatten,
                                     permute,
                                     reshape,
                                     squeeze,
                                     stack,
                                     transpose,
                                     unsqueeze,
                                     view,
)

__all__ = [
    "abs", "add", "argmax", "argmin", "cat", "clamp", "div", "eq", "exp", "flatten", "ge", "gt",
    "le", "linear", "log", "log_softmax", "lt", "matmul", "max", "mean", "min", "mul", "ne", "neg",
    "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt", "squeeze", "stack", "sub",
    "sum", "tanh", "transpose", "unsqueeze", "view", "where",
]
