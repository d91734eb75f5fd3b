"""``Function``: one differentiable op, with its forward and backward on raw arrays."""
from __future__ import annotations

import weakref
from typing import Any

from minicnn.autograd import grad_mode


class Function:
    """One node of the graph.

    Subclasses implement ``forward(*arrays) -> array`` and ``backward(gy) -> grads`` on raw
    arrays (NumPy or CuPy), one gradient per input in input order (``None`` where
    ``self.needs_input_grad[i]`` is False). Values needed by backward are saved as attributes
    in ``forward``; they are dropped after backward unless the graph is retained.
    Non-array arguments (``dim``, ``stride``...) go to ``__init__``.
    """

    needs_input_grad: tuple[bool, ...] = ()
    inputs: tuple | None = None
    generation: int = 0
    released: bool = False

    def forward(self, *xs: Any) -> Any:
        raise NotImplementedError

    def backward(self, gy: Any) -> Any:
        raise NotImplementedError

    def apply(self, *inputs: Any) -> Any:
        """Run ``forward`` on the inputs' arrays and link the output Tensor into the graph."""
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in inputs)
        record = grad_mode._State.enabled and any(t.requires_grad for t in tensors)
        self.needs_input_grad = tuple(t.requires_grad for t in tensors) if record else ()
        y = self.forward(*(t.data for t in tensors))
        out = Tensor(y, requires_grad=record)
        if record:
            self.inputs = tuple(Edge(t) for t in tensors)
            self.generation = max(t.generation for t in tensors)
            out.creator = self
            out.generation = self.generation + 1
        return out

    def release(self) -> None:
        """Free the inputs and everything saved for backward (after a non-retained backward)."""
        self.__dict__.clear()
        self.released = True

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


class Edge:
    """What backward needs to know of one input: its creator (to go on), its shape and dtype
    (to check and cast the gradient), and the tensor itself, to set ``.grad`` on a leaf or on a
    tensor that ``retains_grad``.

    NOTE: a leaf is held; an intermediate tensor only weakly. The graph thus keeps alive only
    what each Function saved for its backward (as PyTorch does), not every intermediate array:
    a max-pool's input, for one, is dropped as soon as the next op has run, unless the caller
    keeps it.
    """

    __slots__ = ("_leaf", "_ref", "creator", "dtype", "shape")

    def __init__(self, t: Tensor) -> None:
        self.creator = t.creator
        self.shape = t.shape
        self.dtype = t.dtype
        self._leaf = t if t.creator is None else None
        self._ref = None if t.creator is None else weakref.ref(t)

    def tensor(self) -> Tensor | None:
        """The input tensor (None for an intermediate nobody holds any more)."""
        return self._leaf if self._ref is None else self._ref()


from minicnn.autograd.tensor import Tensor  # noqa: E402  (Tensor needs Function first)
