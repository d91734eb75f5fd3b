"""Forward hooks and pre-hooks, as torch.nn.Module's: call order, arguments, replacement of
inputs and outputs, removal, and the summary built on them."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minicnn
from minicnn import nn


def _trace(tl: Any) -> tuple[list, np.ndarray]:
    """The hook calls seen on Linear -> ReLU -> Linear, with a pre-hook that doubles the
    first layer's input and a hook that adds 1 to the ReLU's output, then all removed."""
    model = tl.nn.Sequential(tl.nn.Linear(3, 2), tl.nn.ReLU(), tl.nn.Linear(2, 1)).double()
    with (tl.no_grad()):
        model[0].weight.copy_(tl.tensor([[1.0, -1.0, 0.5], [0.25, 2.0, -1.0]]))
        model[0].bias.fill_(0.5)
        model[2].weight.fill_(1.0)
        model[2].bias.fill_(0.0)
    calls: list = []

    def pre(module: Any, args: tuple) -> Any:
        calls.append(("pre", type(module).__name__, tuple(args[0].shape)))
        return args[0] * 2  # one value: becomes the 1-tuple of arguments

    def post(module: Any, args: tuple, output: Any) -> Any:
        calls.append(("post", type(module).__name__, tuple(output.shape)))
        return output + 1 if isinstance(module, tl.nn.ReLU) else None

    def first(module: Any, args: tuple, output: Any) -> None:
        calls.append(("first", type(module).__name__))

    handles = [model[0].register_forward_pre_hook(pre)]
    handles += [m.register_forward_hook(post) for m in model]
    handles.append(model[1].register_forward_hook(first, prepend=True))
    x = tl.tensor(np.array([[1.0, 2.0, 3.0]]))
    out = model(x)
    for h in handles:
        h.remove()
    handles[0].remove()  # a second removal does nothing
    plain = model(x)
    calls.append(("after", float(plain.detach().numpy().ravel()[0])))
    return calls, out.detach().numpy()


def test_hooks_match_torch() -> None:
    got, expected = _trace(minicnn), _trace(torch)
    assert got[0] == expected[0]
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-12)
    assert got[0][0] == ("pre", "Linear", (1, 3)) and ("first", "ReLU") in got[0]


def test_handle_as_context_manager_and_a_hook_that_is_not_callable() -> None:
    layer = nn.Linear(2, 2)
    seen: list = []
    with layer.register_forward_hook(lambda m, a, o: seen.append(o.shape)):
        layer(minicnn.zeros(4, 2))
    layer(minicnn.zeros(4, 2))
    assert seen == [(4, 2)]
    assert not layer._forward_hooks
    with pytest.raises(TypeError, match="callable"):
        layer.register_forward_hook("not a function")


def test_summary_uses_hooks_and_leaves_none_behind() -> None:
    from minicnn.models import CNN2
    from minicnn.train import summary_rows

    model = CNN2()
    rows = summary_rows(model, (1, 28, 28))
    assert [r["name"] for r in rows][:2] == ["Conv2d-1", "MaxPool2d-2"]
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all("forward" not in vars(m) for m in model.modules())


def test_one_export_list_for_minicnn_nn() -> None:
    import minicnn.nn.modules as modules

    assert nn.__all__ == [*modules.__all__, "functional", "init"]
    assert all(hasattr(nn, name) for name in nn.__all__)
    layers = {name for name in dir(modules) if isinstance(getattr(modules, name), type)
              and issubclass(getattr(modules, name), (nn.Module, minicnn.Tensor))}
    assert layers == set(modules.__all__)
