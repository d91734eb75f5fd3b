"""``minicnn.nn``: Modules (layers holding parameters and buffers), ``functional`` (the
stateless ops they call) and ``init`` (PyTorch's initialisers).

The layers are listed once, in ``minicnn.nn.modules.__all__``; this package re-exports them.
"""
from minicnn.nn import functional, init, modules
from minicnn.nn.modules import *  # noqa: F403  (the layers, as listed in modules.__all__)

__all__ = [*modules.__all__, "functional", "init"]
