"""minicnn: a from-scratch deep-learning engine on NumPy/CuPy arrays, with PyTorch's names."""
import numpy as _np

from minicnn import cuda
from minicnn.autograd import Function, Tensor, enable_grad, gradcheck, is_grad_enabled, no_grad
from minicnn.creation import (
    arange,
    from_numpy,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from minicnn.ops import (
    abs,
    add,
    argmax,
    argmin,
    cat,
    clamp,
    div,
    eq,
    exp,
    flatten,
    ge,
    gt,
    le,
    linear,
    log,
    log_softmax,
    lt,
    matmul,
    max,
    mean,
    min,
    mul,
    ne,
    neg,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    unsqueeze,
    view,
    where,
)
from minicnn.parallel import get_num_threads, set_num_threads
from minicnn.random import initial_seed, manual_seed

float16 = _np.dtype(_np.float16)
float32 = float_ = _np.dtype(_np.float32)
float64 = double = _np.dtype(_np.float64)
int32 = _np.dtype(_np.int32)
int64 = long = _np.dtype(_np.int64)
uint8 = _np.dtype(_np.uint8)
bool_ = _np.dtype(_np.bool_)

__version__ = "0.1.0"

from minicnn import nn, optim  # noqa: E402  (as torch.nn / torch.optim after `import torch`)

__all__ = [
    "Function", "Tensor", "cuda", "enable_grad", "gradcheck", "is_grad_enabled", "no_grad", "nn",
    "optim", "get_num_threads", "set_num_threads", "initial_seed", "manual_seed", "float16",
    "float32", "float_", "float64", "double", "int32", "int64", "long", "uint8", "bool_",
    "arange", "from_numpy", "full", "ones", "ones_like", "rand", "randn", "tensor", "zeros",
    "zeros_like", "abs", "add", "argmax", "argmin", "cat", "clamp", "div", "eq", "exp", "flatten",
    "ge", "gt", "le", "linear", "log", "log_softmax", "lt", "matmul", "max", "mean", "min", "mul",
    "ne", "neg", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt", "squeeze",
    "stack", "sub", "sum", "tanh", "transpose", "unsqueeze", "view", "where",
]
