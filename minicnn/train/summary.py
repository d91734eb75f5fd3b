"""``summary``: the torchsummary table of a model (layers, output shapes, parameter counts,
memory estimates), for minicnn models and PyTorch models alike."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np

from minicnn.train.engines import Engine, engine_for

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
LINE = "-" * 64
DOUBLE = "=" * 64
MB = 1024.0 ** 2


def _input_sizes(input_size: Any) -> list[tuple[int, ...]]:
    """``input_size`` (one size, or a list of sizes for several inputs) as a list of tuples of
    positive ints; a TypeError or ValueError naming ``input_size`` otherwise."""
    if not isinstance(input_size, (tuple, list)) or len(input_size) == 0:
        raise TypeError(f"summary: input_size must be a non-empty tuple of ints such as "
                        f"(1, 28, 28), or a list of such tuples, got {input_size!r}")
    sizes = [input_size] if not isinstance(input_size[0], (tuple, list)) else input_size
    for size in sizes:
        if not isinstance(size, (tuple, list)) or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in size):
            raise TypeError(f"summary: input_size must hold ints (the sizes of one sample, "
                            f"without the batch dimension), got {input_size!r}")
        if any(n < 1 for n in size):
            raise ValueError(f"summary: input_size must hold positive sizes, got "
                             f"{input_size!r}")
    return [tuple(int(n) for n in size) for size in sizes]


def _shape(t: Any, batch_size: int) -> list:
    """``[batch_size, *t.shape[1:]]``, or a list of those for a tuple/list of outputs."""
    if isinstance(t, (tuple, list)):
        return [_shape(o, batch_size) for o in t]
    return [batch_size] + [int(s) for s in tuple(t.shape)[1:]]


def _numel(shape: list) -> int:
    """The number of values per sample of an output shape (lists of shapes summed)."""
    if shape and isinstance(shape[0], list):
        return sum(_numel(s) for s in shape)
    return int(abs(np.prod(shape)))


def _own_params(module: Any) -> tuple[int, int]:
    """(all, trainable) parameter counts held by ``module`` itself (not its children)."""
    params = list(module.parameters(recurse=False))
    return (sum(int(p.numel()) for p in params),
            sum(int(p.numel()) for p in params if p.requires_grad))


def summary_rows(model: Any, input_size: Sequence[int] | Sequence[Sequence[int]],
                 engine: Engine | None = None, batch_size: int = -1) -> list[dict[str, Any]]:
    """One forward pass on a zero batch of 2 (in eval mode, without a graph), recording one
    row per call of each layer (every module but the model itself and pure containers), in
    the order the calls finish: ``{'name': 'Conv2d-1', 'output_shape': [-1, 32, 28, 28],
    'params': 320, 'trainable': 320}``. The rows come from forward hooks
    (``register_forward_hook``), removed afterwards; the model's modes are restored."""
    sizes = _input_sizes(input_size)
    engine = engine or engine_for(model)
    params = list(model.parameters())
    dtype = params[0].dtype if params else np.float32
    xs = [engine.tensor(np.zeros((2,) + s, dtype=np.float32), dtype=dtype) for s in sizes]
    rows: list[dict[str, Any]] = []

    def hook(module: Any, inputs: tuple, output: Any) -> None:
        n_all, n_trainable = _own_params(module)
        rows.append({"name": f"{type(module).__name__}-{len(rows) + 1}",
                     "output_shape": _shape(output, batch_size),
                     "params": n_all, "trainable": n_trainable})

    modes = [(m, m.training) for m in model.modules()]
    with ExitStack() as stack:
        for m in model.modules():
            if m is not model and type(m).__name__ not in CONTAINERS:
                stack.enter_context(m.register_forward_hook(hook))
        model.eval()
        try:
            with engine.no_grad():
                model(*xs)
        finally:
            for m, mode in modes:
                m.training = mode
    return rows


def summary(model: Any, input_size: Sequence[int] | Sequence[Sequence[int]],
            engine: Engine | None = None, batch_size: int = -1,
            print_fn: Callable[[str], Any] | None = print) -> str:
    """The torchsummary table of ``model`` for inputs of ``input_size`` (without the batch
    dimension, e.g. ``(1, 28, 28)``; a list of sizes for several inputs); printed with
    ``print_fn`` (None: not printed) and returned. Print it once: either let ``summary``
    print it (the default), or pass ``print_fn=None`` and print the returned text.

    As torchsummary: rows ``Conv2d-1  [-1, 32, 28, 28]  320`` from one forward pass of a zero
    batch of 2, float32 = 4 bytes, Input size = values of one sample (times ``|batch_size|``),
    Forward/backward pass size = 2 x the values of every row's output (activations and their
    gradients), Params size = total parameters. Unlike torchsummary, the totals count every
    parameter of the model once (torchsummary sums the rows, so a layer called twice counts
    twice) and several inputs add their sizes (torchsummary multiplies them all together).
    """
    sizes = _input_sizes(input_size)
    engine = engine or engine_for(model)
    rows = summary_rows(model, input_size, engine, batch_size)
    seen: OrderedDict[int, Any] = OrderedDict((id(p), p) for p in model.parameters())
    total = sum(int(p.numel()) for p in seen.values())
    trainable = sum(int(p.numel()) for p in seen.values() if p.requires_grad)
    total_output = sum(_numel(r["output_shape"]) for r in rows)

    input_mb = abs(sum(int(np.prod(s)) for s in sizes) * batch_size * 4.0 / MB)
    output_mb = abs(2.0 * total_output * 4.0 / MB)  # x2 for gradients
    params_mb = abs(total * 4.0 / MB)
    lines = [LINE, "{:>20}  {:>25} {:>15}".format("Layer (type)", "Output Shape", "Param #"),
             DOUBLE]
    for r in rows:
        lines.append("{:>20}  {:>25} {:>15}".format(r["name"], str(r["output_shape"]),
                                                    f"{r['params']:,}"))
    lines += [
        DOUBLE,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        LINE,
        f"Input size (MB): {input_mb:0.2f}",
        f"Forward/backward pass size (MB): {output_mb:0.2f}",
        f"Params size (MB): {params_mb:0.2f}",
        f"Estimated Total Size (MB): {input_mb + output_mb + params_mb:0.2f}",
        LINE,
    ]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
