"""What is measured: the course models' training steps and inference, and single ops at the
shapes those models use, each written once for both engines, plus their analytic FLOPs."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minicnn.train.engines import Engine

clock = time.perf_counter


# ------------------------------------------------------------------------------------ models
@dataclass(frozen=True)
class ModelSpec:
    """A course model with its course batch size, optimiser and loss."""

    name: str
    cls: str  # class name in minicnn.models.course and minicnn.reference.models
    batch: int
    input: tuple[int, int, int]  # (C, H, W)
    optimizer: str  # 'sgd' or 'adam'
    lr: float
    loss: str  # 'ce' (10 classes) or 'bce' (one logit)
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
]
MODEL_BY_NAME = {m.name: m for m in MODELS}


def batch_arrays(spec: ModelSpec, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random batch: float32 images (N, C, H, W) and the loss's targets."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *spec.input)).astype(np.float32)
    if spec.loss == "bce":
        y = rng.integers(0, 2, (batch, 1)).astype(np.float32)
    else:
        y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def build_model(engine: Engine, spec: ModelSpec, weights: dict[str, np.ndarray] | None = None
                ) -> Any:
    model = getattr(engine.models, spec.cls)(**spec.kwargs)
    if weights is not None:
        engine.load_arrays(model, weights)
    return engine.to_device(model)


def build_training(engine: Engine, spec: ModelSpec, batch: int | None = None,
                   weights: dict[str, np.ndarray] | None = None) -> Callable[[], None]:
    """One training step (zero_grad, forward, loss, backward, optimiser step) as a callable."""
    model = build_model(engine, spec, weights)
    model.train()
    if spec.optimizer == "sgd":
        opt = engine.optim.SGD(model.parameters(), lr=spec.lr)
    else:
        opt = engine.optim.Adam(model.parameters(), lr=spec.lr)
    loss_fn = engine.nn.CrossEntropyLoss() if spec.loss == "ce" else engine.nn.BCEWithLogitsLoss()
    xa, ya = batch_arrays(spec, batch or spec.batch)
    x, y = engine.tensor(xa), engine.tensor(ya)

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


def model_flops(spec: ModelSpec, batch: int, training: bool) -> int:
    """Multiply-adds x 2 of the convolutions and dense layers (the rest is memory-bound and
    left out). Forward: 2 N OC C KH KW OH OW per conv, 2 N in out per dense layer. A training
    step adds the weight gradient (as much again) and the input gradient (as much again,
    except for the first layer, whose input needs none)."""
    import torch

    from minicnn.runner import reference_models

    model = getattr(reference_models(), spec.cls)(**spec.kwargs)
    total = 0

    def hook(module: Any, inputs: tuple, output: Any) -> None:
        nonlocal total
        x = inputs[0]
        if isinstance(module, torch.nn.Conv2d):
            oc, c, kh, kw = module.weight.shape
            fwd = 2 * output.shape[0] * oc * c * kh * kw * output.shape[2] * output.shape[3]
        else:
            fwd = 2 * x.numel() // x.shape[-1] * module.in_features * module.out_features
        total += fwd
        if training:
            total += fwd * (2 if x.requires_grad else 1)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    x = torch.zeros((batch, *spec.input))
    model.train(training)
    with torch.set_grad_enabled(training):
        model(x)
    for h in handles:
        h.remove()
    return total


# ------------------------------------------------------------------------------------- ops
@dataclass(frozen=True)
class OpSpec:
    """One op at one shape, as a model uses it."""

    name: str  # e.g. 'conv2d CNN2.conv2'
    op: str  # conv2d, max_pool2d, batch_norm, relu, linear, cross_entropy, bce_with_logits
    shape: tuple  # the input's shape
    params: dict = field(default_factory=dict)
    input_grad: bool = True  # whether the input needs a gradient (False for first layers)

    def flops(self) -> int | None:
        """2 x multiply-adds of forward + backward (conv2d, linear); None for the others."""
        if self.op == "conv2d":
            n, c, h, w = self.shape
            oc, k, p = self.params["out"], self.params["k"], self.params["padding"]
            oh, ow = h + 2 * p - k + 1, w + 2 * p - k + 1
            fwd = 2 * n * oc * c * k * k * oh * ow
        elif self.op == "linear":
            n, i = self.shape
            fwd = 2 * n * i * self.params["out"]
        else:
            return None
        return fwd * (3 if self.input_grad else 2)


def _conv(name: str, shape: tuple, out: int, padding: int, input_grad: bool = True) -> OpSpec:
    return OpSpec(f"conv2d {name}", "conv2d", shape, {"out": out, "k": 3, "padding": padding},
                  input_grad)


OPS = [
    _conv("CNN2.conv1", (64, 1, 28, 28), 32, 1, input_grad=False),
    _conv("CNN2.conv2", (64, 32, 14, 14), 64, 1),
    _conv("KerasCNN.conv1", (128, 1, 28, 28), 32, 0, input_grad=False),
    _conv("KerasCNN.conv2", (128, 32, 13, 13), 64, 0),
    _conv("Crack.conv1", (16, 1, 227, 227), 16, 1, input_grad=False),
    _conv("Crack.conv2", (16, 16, 113, 113), 32, 1),
    OpSpec("max_pool2d CNN2.pool1", "max_pool2d", (64, 32, 28, 28)),
    OpSpec("max_pool2d CNN2.pool2", "max_pool2d", (64, 64, 14, 14)),
    OpSpec("max_pool2d KerasCNN.pool1", "max_pool2d", (128, 32, 26, 26)),
    OpSpec("max_pool2d KerasCNN.pool2", "max_pool2d", (128, 64, 11, 11)),
    OpSpec("max_pool2d Crack.pool1", "max_pool2d", (16, 16, 227, 227)),
    OpSpec("max_pool2d Crack.pool2", "max_pool2d", (16, 32, 113, 113)),
    OpSpec("batch_norm KerasCNN.bn1", "batch_norm", (128, 32, 26, 26)),
    OpSpec("batch_norm KerasCNN.bn2", "batch_norm", (128, 64, 11, 11)),
    OpSpec("batch_norm Crack.bn1", "batch_norm", (16, 16, 227, 227)),
    OpSpec("batch_norm Crack.bn2", "batch_norm", (16, 32, 113, 113)),
    OpSpec("relu CNN2.conv1", "relu", (64, 32, 28, 28)),
    OpSpec("relu Crack.conv1", "relu", (16, 16, 227, 227)),
    OpSpec("linear MLP.fc1", "linear", (64, 784), {"out": 512}, input_grad=False),
    OpSpec("linear CNN2.fc1", "linear", (64, 3136), {"out": 128}),
    OpSpec("linear KerasCNN.fc1", "linear", (128, 1600), {"out": 128}),
    OpSpec("linear Crack.fc1", "linear", (16, 100352), {"out": 64}),
    OpSpec("cross_entropy CNN2", "cross_entropy", (64, 10)),
    OpSpec("cross_entropy KerasCNN", "cross_entropy", (128, 10)),
    OpSpec("bce_with_logits Crack", "bce_with_logits", (16, 1)),
]


def build_op(engine: Engine, spec: OpSpec, seed: int = 0) -> Callable[[], tuple[float, float]]:
    """A callable running the op forward and backward once; returns (forward s, backward s)."""
    rng = np.random.default_rng(seed)
    F = engine.functional

    def arr(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    x = engine.tensor(arr(*spec.shape), requires_grad=spec.input_grad)
    leaves = [x]
    if spec.op == "conv2d":
        c, oc, k = spec.shape[1], spec.params["out"], spec.params["k"]
        W = engine.tensor(arr(oc, c, k, k, scale=(c * k * k) ** -0.5), requires_grad=True)
        b = engine.tensor(arr(oc, scale=0.1), requires_grad=True)
        leaves += [W, b]

        def forward() -> Any:
            return F.conv2d(x, W, b, padding=spec.params["padding"])
    elif spec.op == "max_pool2d":
        def forward() -> Any:
            return F.max_pool2d(x, 2)
    elif spec.op == "batch_norm":
        c = spec.shape[1]
        gamma = engine.tensor(1 + arr(c, scale=0.1), requires_grad=True)
        beta = engine.tensor(arr(c, scale=0.1), requires_grad=True)
        rm, rv = engine.tensor(np.zeros(c, np.float32)), engine.tensor(np.ones(c, np.float32))
        leaves += [gamma, beta]

        def forward() -> Any:
            return F.batch_norm(x, rm, rv, gamma, beta, training=True)
    elif spec.op == "relu":
        def forward() -> Any:
            return F.relu(x)
    elif spec.op == "linear":
        i, o = spec.shape[1], spec.params["out"]
        W = engine.tensor(arr(o, i, scale=i ** -0.5), requires_grad=True)
        b = engine.tensor(arr(o, scale=0.1), requires_grad=True)
        leaves += [W, b]

        def forward() -> Any:
            return F.linear(x, W, b)
    elif spec.op == "cross_entropy":
        t = engine.tensor(rng.integers(0, spec.shape[1], spec.shape[0]).astype(np.int64))

        def forward() -> Any:
            return F.cross_entropy(x, t)
    elif spec.op == "bce_with_logits":
        t = engine.tensor(rng.integers(0, 2, spec.shape).astype(np.float32))

        def forward() -> Any:
            return F.binary_cross_entropy_with_logits(x, t)
    else:
        raise ValueError(f"unknown op {spec.op!r}")

    with engine.no_grad():
        out_shape = tuple(forward().shape)
    gy = None if out_shape == () else engine.tensor(arr(*out_shape))

    def run() -> tuple[float, float]:
        for leaf in leaves:
            leaf.grad = None
        t0 = clock()
        y = forward()
        engine.sync()
        t1 = clock()
        if gy is None:
            y.backward()
        else:
            y.backward(gy)
        engine.sync()
        return t1 - t0, clock() - t1

    return run
