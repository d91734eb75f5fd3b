"""The layers of ``minicnn.nn``, one file per family; ``__all__`` below is the one list of
what ``minicnn.nn`` exports besides ``functional`` and ``init``."""
from minicnn.nn.modules.activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from minicnn.nn.modules.container import ModuleList, Sequential
from minicnn.nn.modules.conv import Conv2d
from minicnn.nn.modules.dropout import Dropout
from minicnn.nn.modules.flatten import Flatten
from minicnn.nn.modules.linear import Identity, Linear
from minicnn.nn.modules.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from minicnn.nn.modules.module import Module
from minicnn.nn.modules.normalization import BatchNorm1d, BatchNorm2d
from minicnn.nn.modules.parameter import Parameter
from minicnn.nn.modules.pooling import AvgPool2d, MaxPool2d
from minicnn.nn.modules.rnn import LSTM, LSTMCell

__all__ = [
    "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d",
    "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "Linear", "LogSoftmax", "MSELoss",
    "MaxPool2d", "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential", "Sigmoid",
    "Softmax", "Tanh", "LSTM", "LSTMCell",
]
