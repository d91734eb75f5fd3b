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

    Saved tensors are found, not declared: after ``forward``, ``apply`` looks through the
    Function's attributes (and tuples or lists held in them) for the array of an input or of
    the output, or a view of one, and records that tensor's version. Before ``backward``
    runs, the engine compares each recorded version with the current one and raises if the
    tensor was changed in place since (one integer comparison per saved tensor, no copy).
    NOTE: an array that is not an input or the output (an array passed to ``__init__``, e.g.
    a running statistic) is not tracked: pass such tensors to ``apply`` as inputs.

    An output whose array is a view of an input's array (a slice, a reshape, a transpose)
    shares that input's version counter, as PyTorch's views do.
    """

    needs_input_grad: tuple[bool, ...] = ()
    inputs: tuple | None = None
    generation: int = 0
    released: bool = False
    # (version counter, version when saved, shape, dtype, which) per saved tensor
    saved_versions: tuple = ()

    def forward(self, *xs: Any) -> Any:
        raise NotImplementedError

    def backward(self, gy: Any) -> Any:
        raise NotImplementedError

    def apply(self, *inputs: Any) -> Any:
        """Run ``forward`` on the inputs' arrays and link the output Tensor into the graph."""
        tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in inputs]
        record = False
        if grad_mode._State.enabled:
            for t in tensors:
                if t._view_of is not None and t._view_of[0].creator is not t._view_of[1]:
                    _stale_view(self, t)
                record = record or t.requires_grad
        if record:
            self.needs_input_grad = tuple([t.requires_grad for t in tensors])
        y = self.forward(*[t.data for t in tensors])
        out = Tensor(y, requires_grad=record)
        if getattr(y, "base", None) is not None or any([y is t.data for t in tensors]):
            root = storage_root(y)
            for t in tensors:
                if storage_root(t.data) is root:
                    share_storage(out, t)
                    break
        if record:
            self.saved_versions = _saved_versions(vars(self), tensors, out)
            self.inputs = tuple([Edge(t) for t in tensors])
            self.generation = max([t.generation for t in tensors])
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


# Attribute values that cannot be an array: skipped without a look (most of a Function's
# non-array attributes: strides, flags, dims, shapes).
_NOT_ARRAYS = frozenset({int, float, bool, str, type(None), tuple, list})
_SEQUENCES = (tuple, list)


def _saved_versions(attributes: dict[str, Any], tensors: list, out: Tensor) -> tuple:
    """(counter, version, shape, dtype, which) for each of ``tensors`` (inputs) and ``out``
    whose array, or a view of it, is held in ``attributes`` (one level into tuples/lists);
    ``which`` is the input's index, or -1 for the output."""
    candidates = [*tensors, out]
    roots: list | None = None
    found: set[int] = set()
    for value in attributes.values():
        for a in value if type(value) in _SEQUENCES else (value,):
            if type(a) in _NOT_ARRAYS:
                continue
            for k, t in enumerate(candidates):  # a handful: a scan beats building a dict
                if t.data is a:
                    found.add(k)
                    break
            else:
                if hasattr(a, "strides") and getattr(a, "base", None) is not None:
                    if roots is None:
                        roots = [storage_root(t.data) for t in candidates]
                    root = storage_root(a)
                    for k, r in enumerate(roots):
                        if r is root:
                            found.add(k)
                            break
    if not found:
        return ()
    last = len(tensors)
    return tuple([(candidates[k]._vc, candidates[k]._vc.value, candidates[k].shape,
                   candidates[k].dtype, -1 if k == last else k) for k in sorted(found)])


def check_saved_versions(f: Function) -> None:
    """Raise, as PyTorch does, if a tensor that ``f`` saved for backward was changed in place
    after ``f`` saved it (its gradient would be computed from the new values)."""
    for counter, version, shape, dtype, k in f.saved_versions:
        if counter.value != version:
            which = "output" if k < 0 else f"input {k}"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{dtype} tensor of shape {shape}], the {which} of "
                f"{f.name}Backward, is at version {counter.value}; expected version {version} "
                f"instead. Hint: it was changed in place (indexing assignment, fill_, add_, "
                f"+=, an optimizer step, load_state_dict...) after {f.name} saved it for "
                "backward; change a copy (.clone()) instead, or make the change after backward."
            )


def _stale_view(f: Function, t: Tensor) -> None:
    base, creator = t._view_of
    raise RuntimeError(
        f"{f.name}: an input of shape {t.shape} is a view of a tensor of shape {base.shape} "
        "that was changed in place by a differentiable operation after the view was taken "
        f"(its graph now ends in {base.creator!r}, not {creator!r}); minicnn does not "
        "regenerate the graph of old views as PyTorch does: take the view again after the "
        "in-place change"
    )


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


from minicnn.autograd.tensor import (  # noqa: E402  (Tensor needs Function first)
    Tensor,
    share_storage,
    storage_root,
)
