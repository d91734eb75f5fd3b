"""What is measured for the course models: their specs (batch, optimiser, loss), a training
step and an inference pass written once for both engines, and their analytic FLOPs.
The single ops are in ``op_cases``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from minicnn.train.engines import Engine


@dataclass(frozen=True)
class ModelSpec:
    """A course model with its course batch size, optimiser and loss."""

    name: str
    cls: str  # class name in minicnn.models.course and minicnn.reference.models
    batch: int
    input: tuple[int, int, int]  # (C, H, W)
    optimizer: str  # 'sgd' or 'adam'
    lr: float
    loss: str  # 'ce' (10 classes), 'bce' (one logit) or 'mse' (reconstruct the input)
    infer_batch: int
    kwargs: dict = field(default_factory=dict)


MODELS = [
    ModelSpec("LogisticRegression", "LogisticRegression", 64, (1, 28, 28), "sgd", 0.01, "ce", 256),
    ModelSpec("CNN1", "CNN1", 64, (1, 28, 28), "sgd", 0.01, "ce", 256),
    ModelSpec("CNN2", "CNN2", 64, (1, 28, 28), "sgd", 0.01, "ce", 256),
    ModelSpec("MLP", "MLP", 64, (1, 28, 28), "sgd", 0.01, "ce", 256),
    ModelSpec("KerasCNN", "KerasCNN", 128, (1, 28, 28), "adam", 1e-3, "ce", 256),
    ModelSpec("CrackCNN", "CrackCNN", 16, (1, 227, 227), "adam", 1e-3, "bce", 32),
    ModelSpec("CrackCNN-BN", "CrackCNN", 16, (1, 227, 227), "adam", 1e-3, "bce", 32,
              {"batch_norm": True}),
    # the third lab: each 28x28 image read as 28 steps of 28 pixels (the model reshapes)
    ModelSpec("LSTMNet", "LSTMNet", 128, (1, 28, 28), "adam", 1e-3, "ce", 256),
    ModelSpec("DenseAutoencoder", "DenseAutoencoder", 256, (3, 32, 32), "adam", 1e-3, "mse",
              256, {"in_features": 3072}),
    ModelSpec("CifarCNN", "CifarCNN", 32, (3, 32, 32), "adam", 1e-3, "ce", 256),
]
MODEL_BY_NAME = {m.name: m for m in MODELS}


def crack_at(size: int) -> ModelSpec:
    """The crack CNN (no BatchNorm) on ``size`` x ``size`` images, at the course's batch."""
    if size < 4:
        raise ValueError(f"the crack CNN needs images of at least 4x4 (two 2x2 poolings), "
                         f"got {size}")
    spec = MODEL_BY_NAME["CrackCNN"]
    return replace(spec, name=f"CrackCNN {size}x{size}", input=(1, size, size),
                   kwargs={**spec.kwargs, "size": size})


def batch_arrays(spec: ModelSpec, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random batch: float32 inputs (N, C, H, W) and the loss's targets (the inputs
    themselves for 'mse', whose inputs are in [0, 1])."""
    rng = np.random.default_rng(seed)
    if spec.loss == "mse":
        x = rng.random((batch, *spec.input), dtype=np.float32)
        return x, x
    x = rng.standard_normal((batch, *spec.input)).astype(np.float32)
    if spec.loss == "bce":
        y = rng.integers(0, 2, (batch, 1)).astype(np.float32)
    else:
        y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def build_model(engine: Engine, spec: ModelSpec, weights: dict[str, np.ndarray] | None = None
                ) -> Any:
    """``spec``'s model in ``engine``'s framework, with ``weights`` if given, on its device."""
    model = getattr(engine.models, spec.cls)(**spec.kwargs)
    if weights is not None:
        engine.load_arrays(model, weights)
    return engine.to_device(model)


def make_optimizer(engine: Engine, spec: ModelSpec, params: Any) -> Any:
    """The course's optimiser of ``spec`` (SGD or Adam at its learning rate)."""
    cls = engine.optim.SGD if spec.optimizer == "sgd" else engine.optim.Adam
    return cls(params, lr=spec.lr)


def make_loss(engine: Engine, spec: ModelSpec) -> Any:
    """The course's loss of ``spec``: cross entropy, BCE with logits or MSE."""
    losses = {"ce": engine.nn.CrossEntropyLoss, "bce": engine.nn.BCEWithLogitsLoss,
              "mse": engine.nn.MSELoss}
    return losses[spec.loss]()


def build_training(engine: Engine, spec: ModelSpec, batch: int | None = None,
                   weights: dict[str, np.ndarray] | None = None) -> Callable[[], None]:
    """One training step (zero_grad, forward, loss, backward, optimiser step) as a callable."""
    model = build_model(engine, spec, weights)
    model.train()
    opt = make_optimizer(engine, spec, model.parameters())
    loss_fn = make_loss(engine, spec)
    xa, ya = batch_arrays(spec, batch or spec.batch)
    x = engine.tensor(xa)
    y = x if ya is xa else engine.tensor(ya)

    def step() -> None:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        engine.sync()

    return step


def build_inference(engine: Engine, spec: ModelSpec,
                    weights: dict[str, np.ndarray] | None = None) -> Callable[[], None]:
    """One forward pass of ``spec.infer_batch`` images in eval mode without a graph."""
    model = build_model(engine, spec, weights)
    model.eval()
    x = engine.tensor(batch_arrays(spec, spec.infer_batch)[0])

    def infer() -> None:
        with engine.no_grad():
            model(x)
        engine.sync()

    return infer


def reference_weights(spec: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Initial weights (PyTorch's initialisation, seeded) shared by both engines' models."""
    import torch

    from minicnn.runner import reference_models

    torch.manual_seed(seed)
    models = reference_models()
    model = getattr(models, spec.cls)(**spec.kwargs)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def lstm_flops(n: int, steps: int, inputs: int, hidden: int, training: bool,
               input_grad: bool) -> int:
    """2 x multiply-adds of one LSTM layer's GEMMs over a sequence of ``steps``.

    Forward, every step: ``x_t W_ih^T`` (2 N I 4H) and ``h_{t-1} W_hh^T`` (2 N H 4H).
    Backward: the weight gradients (as much again), the input gradient ``g W_ih`` (2 N I 4H
    per step, only if the input needs one) and the recurrent gradient ``g W_hh`` for steps
    2..T (the initial state needs none). The gates' elementwise work is left out."""
    x_part, h_part = 2 * n * inputs * 4 * hidden, 2 * n * hidden * 4 * hidden
    fwd = steps * (x_part + h_part)
    if not training:
        return fwd
    return 2 * fwd + (steps * x_part if input_grad else 0) + (steps - 1) * h_part


def model_flops(spec: ModelSpec, batch: int, training: bool) -> int:
    """Multiply-adds x 2 of the convolutions, dense layers and LSTM layers (the rest is
    memory-bound and left out). Forward: 2 N OC C KH KW OH OW per conv, 2 N in out per dense
    layer, ``lstm_flops`` per LSTM layer. A training step adds the weight gradient (as much
    again) and the input gradient (as much again, except for the first layer, whose input
    needs none)."""
    import torch

    from minicnn.runner import reference_models

    model = getattr(reference_models(), spec.cls)(**spec.kwargs)
    total = 0

    def hook(module: Any, inputs: tuple, output: Any) -> None:
        nonlocal total
        x = inputs[0]
        if isinstance(module, torch.nn.LSTM):
            n, t = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
            for k in range(module.num_layers):
                size = module.input_size if k == 0 else module.hidden_size
                total += lstm_flops(n, t, size, module.hidden_size, training,
                                    input_grad=k > 0 or x.requires_grad)
            return
        if isinstance(module, torch.nn.Conv2d):
            oc, c, kh, kw = module.weight.shape
            fwd = 2 * output.shape[0] * oc * c * kh * kw * output.shape[2] * output.shape[3]
        else:
            fwd = 2 * x.numel() // x.shape[-1] * module.in_features * module.out_features
        total += fwd
        if training:
            total += fwd * (2 if x.requires_grad else 1)

    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.LSTM)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    x = torch.zeros((batch, *spec.input))
    model.train(training)
    with torch.set_grad_enabled(training):
        model(x)
    for h in handles:
        h.remove()
    return total
