"""``Function``: one differentiable op, with its forward and backward on raw arrays."""
from __future__ import annotations

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
            self.inputs = tensors
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


from minicnn.autograd.tensor import Tensor  # noqa: E402  (Tensor needs Function first)
