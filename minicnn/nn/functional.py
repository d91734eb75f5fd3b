"""``minicnn.nn.functional``: the stateless ops of neural networks, with PyTorch's signatures."""
from minicnn.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from minicnn.ops.conv import conv2d
from minicnn.ops.dropout import dropout
from minicnn.ops.linalg import linear
from minicnn.ops.loss import (
                              binary_cross_entropy,
                              binary_cross_entropy_with_logits,
                              cross_entropy,
                              mse_loss,
                              nll_loss,
)
from minicnn.ops.normalization import batch_norm
from minicnn.ops.pooling import avg_pool2d, max_pool2d
from minicnn.ops.shape import flatten

__all__ = [
    "avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "conv2d", "cross_entropy", "dropout", "flatten", "linear", "log_softmax", "max_pool2d",
    "mse_loss", "nll_loss", "relu", "sigmoid", "softmax", "tanh",
]
