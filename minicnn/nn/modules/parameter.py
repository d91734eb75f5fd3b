"""``Parameter``: a Tensor that a Module registers as a learnable weight."""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import DEFAULT_DTYPE, Tensor


class Parameter(Tensor):
    """A leaf Tensor that is a learnable weight of a Module (``requires_grad=True`` by default).

    Assigning a Parameter to a Module attribute (``self.weight = Parameter(...)``) registers it
    in the module's ``parameters()``. ``Parameter(t)`` shares ``t``'s array and its version
    counter, as in PyTorch. Ops on a Parameter return plain Tensors.
    """

    __slots__ = ()

    def __init__(self, data: Tensor | Any = None, requires_grad: bool = True) -> None:
        source = data if isinstance(data, Tensor) else None
        if data is None:
            data = np.empty(0, dtype=DEFAULT_DTYPE)
        elif source is not None:
            data = source.data
        super().__init__(data, requires_grad=requires_grad)
        if source is not None:
            self._vc = source._vc

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        # NOTE: keeps the subclass, the data and the flags through pickle and deepcopy.
        return _rebuild_parameter, (self.data, self.requires_grad, self.grad)


def _rebuild_parameter(data: Any, requires_grad: bool, grad: Tensor | None) -> Parameter:
    p = Parameter(data, requires_grad=requires_grad)
    p.grad = grad
    return p


def empty_parameter(*shape: int, device: Any = None, dtype: Any = None) -> Parameter:
    """An uninitialised Parameter of ``shape`` (float32 unless ``dtype``) on ``device``;
    layers fill it in ``reset_parameters()``."""
    arr = np.empty(shape, dtype=DEFAULT_DTYPE if dtype is None else np.dtype(dtype))
    if device is not None:
        arr = backend.to_device(arr, device)
    return Parameter(arr)
