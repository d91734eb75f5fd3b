"""What is measured for single ops: each op at the shapes the course models use, forward and
backward written once for both engines, plus a chain of many small ops (the per-op overhead).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minicnn.train.engines import Engine

from .cases import lstm_flops

clock = time.perf_counter


@dataclass(frozen=True)
class OpSpec:
    """One op at one shape, as a model uses it."""

    name: str  # e.g. 'conv2d CNN2.conv2'
    op: str  # conv2d, max_pool2d, batch_norm, relu, linear, cross_entropy, bce_with_logits,
    #          lstm, chain
    shape: tuple  # the input's shape
    params: dict = field(default_factory=dict)
    input_grad: bool = True  # whether the input needs a gradient (False for first layers)

    def flops(self) -> int | None:
        """2 x multiply-adds of forward + backward (conv2d, linear, lstm); None for the others."""
        if self.op == "conv2d":
            n, c, h, w = self.shape
            oc, k, p = self.params["out"], self.params["k"], self.params["padding"]
            oh, ow = h + 2 * p - k + 1, w + 2 * p - k + 1
            fwd = 2 * n * oc * c * k * k * oh * ow
        elif self.op == "linear":
            n, i = self.shape
            fwd = 2 * n * i * self.params["out"]
        elif self.op == "lstm":
            n, t, i = self.shape
            return lstm_flops(n, t, i, self.params["hidden"], training=True,
                              input_grad=self.input_grad)
        else:
            return None
        return fwd * (3 if self.input_grad else 2)


def _conv(name: str, shape: tuple, out: int, padding: int, input_grad: bool = True) -> OpSpec:
    return OpSpec(f"conv2d {name}", "conv2d", shape, {"out": out, "k": 3, "padding": padding},
                  input_grad)


CHAIN_LENGTH = 1000

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
    OpSpec("linear Autoencoder.fc1", "linear", (256, 3072), {"out": 1024}, input_grad=False),
    OpSpec("cross_entropy CNN2", "cross_entropy", (64, 10)),
    OpSpec("cross_entropy KerasCNN", "cross_entropy", (128, 10)),
    OpSpec("bce_with_logits Crack", "bce_with_logits", (16, 1)),
    # LSTMNet: the first layer returns the whole sequence and its input (the images) needs no
    # gradient; the second is read at its last step only (h_n), as the model does.
    OpSpec("lstm LSTMNet.lstm1", "lstm", (128, 28, 28), {"hidden": 128, "output": "sequence"},
           input_grad=False),
    OpSpec("lstm LSTMNet.lstm2", "lstm", (128, 28, 128), {"hidden": 64, "output": "last"}),
    OpSpec(f"chain of {CHAIN_LENGTH} small ops", "chain", (16, 16), {"length": CHAIN_LENGTH}),
]


def lstm_forward(engine: Engine, spec: OpSpec, x: Any, arr: Callable[..., np.ndarray]
                  ) -> tuple[Callable[[], Any], list[Any]]:
    """An LSTM layer (batch_first) with the same seeded weights in both engines."""
    i, h = spec.shape[2], spec.params["hidden"]
    lstm = engine.nn.LSTM(i, h, batch_first=True)
    bound = h ** -0.5
    engine.load_arrays(lstm, {
        "weight_ih_l0": arr(4 * h, i, scale=bound), "weight_hh_l0": arr(4 * h, h, scale=bound),
        "bias_ih_l0": arr(4 * h, scale=bound), "bias_hh_l0": arr(4 * h, scale=bound)})
    lstm = engine.to_device(lstm)
    last = spec.params["output"] == "last"

    def forward() -> Any:
        out, (h_n, _) = lstm(x)
        return h_n if last else out

    return forward, list(lstm.parameters())


def chain_forward(engine: Engine, spec: OpSpec, x: Any, arr: Callable[..., np.ndarray]
                   ) -> Callable[[], Any]:
    """``length`` elementwise ops cycling through ``y * w``, ``y + b``, ``tanh(y)`` (bounded,
    so no overflow or denormals however long the chain); ``w`` and ``b`` need no gradient."""
    w = engine.tensor(1 + arr(*spec.shape, scale=0.1))
    b = engine.tensor(arr(*spec.shape, scale=0.1))
    length = spec.params["length"]

    def forward() -> Any:
        y = x
        for k in range(length):
            y = y * w if k % 3 == 0 else y + b if k % 3 == 1 else y.tanh()
        return y

    return forward


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
    elif spec.op == "lstm":
        forward, params = lstm_forward(engine, spec, x, arr)
        leaves += params
    elif spec.op == "chain":
        forward = chain_forward(engine, spec, x, arr)
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
