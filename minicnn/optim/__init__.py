"""``minicnn.optim``: optimisers (SGD, Adam, AdamW) and ``lr_scheduler``, PyTorch's formulas."""
from minicnn.optim import lr_scheduler
from minicnn.optim.adam import Adam, AdamW
from minicnn.optim.optimizer import Optimizer
from minicnn.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
