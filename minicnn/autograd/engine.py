"""The backward engine: reverse mode over the graph, iteratively, in generation order."""
from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from minicnn import memory
from minicnn.autograd.function import check_saved_versions

if TYPE_CHECKING:
    from minicnn.autograd.function import Function
    from minicnn.autograd.tensor import Tensor


def _accumulate_leaf(t: Tensor, g: Any, owned: set[int]) -> None:
    """t.grad += g, never letting two tensors' ``.grad`` share one array."""
    from minicnn.autograd.tensor import Tensor

    if t.grad is None:
        # NOTE: a backward may hand out views (broadcasts, reshapes) or the same array to
        # several inputs (``a + b``); a leaf's .grad must own its memory. A CPU kernel's
        # output on a reused buffer (minicnn.memory) is a view that provably shares
        # its memory with no other array: kept as is, not copied.
        if (getattr(g, "base", None) is not None and not memory.exclusive(g)) \
                or id(g) in owned:
            g = g.copy()
        owned.add(id(g))
        t.grad = Tensor(g)
    else:
        t.grad = Tensor(t.grad.data + g)


def run_backward(root: Tensor, gy: Any, retain_graph: bool = False) -> None:
    """Propagate ``gy`` (the gradient of some scalar w.r.t. ``root``) to every leaf.

    Functions are visited from the highest generation down, so each function's output
    gradient is the complete sum of its consumers' contributions when it runs. A max-heap on
    generation replaces recursion: graph depth is bounded by memory, not by the stack.
    """
    owned: set[int] = set()
    if root.creator is None or root.retains_grad:
        _accumulate_leaf(root, gy, owned)
    if root.creator is None:
        return
    grads: dict[int, Any] = {id(root.creator): gy}
    heap: list[tuple[int, int, Function]] = [(-root.creator.generation, 0, root.creator)]
    counter = 1
    while heap:
        _, _, f = heapq.heappop(heap)
        if f.released:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (at {f!r}): its saved "
                "values were freed after the first backward; call backward(retain_graph=True) "
                "the first time to keep them"
            )
        if f.saved_versions:
            check_saved_versions(f)
        g_out = grads.pop(id(f))
        g_in = f.backward(g_out)
        if not isinstance(g_in, tuple):
            g_in = (g_in,)
        for edge, gx, needed in zip(f.inputs, g_in, f.needs_input_grad):
            if not needed or gx is None:
                continue
            if gx.shape != edge.shape:
                raise RuntimeError(
                    f"{f!r} returned a gradient of shape {tuple(gx.shape)} for an input of "
                    f"shape {tuple(edge.shape)}"
                )
            if gx.dtype != edge.dtype:
                # NOTE: as PyTorch, a gradient has its input's dtype: float32 * float64 gives
                # a float64 gy, but the float32 input's gradient is float32.
                gx = gx.astype(edge.dtype)
            creator = edge.creator
            if creator is None:
                _accumulate_leaf(edge.tensor(), gx, owned)
                continue
            x = edge.tensor()  # an intermediate: None if nobody holds it any more
            if x is not None and x.retains_grad:
                _accumulate_leaf(x, gx, owned)
            key = id(creator)
            if key in grads:
                grads[key] = grads[key] + gx
            else:
                grads[key] = gx
                heapq.heappush(heap, (-creator.generation, counter, creator))
                counter += 1
        if not retain_graph:
            f.release()
