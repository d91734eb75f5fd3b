"""Helpers of the training tests: tiny synthetic problems and recording callbacks."""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn.data import DataLoader, TensorDataset


def blobs(n: int = 240, d: int = 6, k: int = 3, seed: int = 0,
          dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Linearly separable classes: labels are the argmax of a random linear map."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = (x @ rng.normal(size=(d, k))).argmax(axis=1) if k > 1 else (x[:, 0] > 0)
    return x.astype(dtype), y.astype(np.int64)


def loaders(x: np.ndarray, y: np.ndarray, batch_size: int = 32,
            seed: int = 1) -> tuple[DataLoader, DataLoader]:
    """A shuffled, seeded training loader and an ordered validation loader."""
    ds = TensorDataset(x, y)
    return (DataLoader(ds, batch_size=batch_size, shuffle=True, seed=seed),
            DataLoader(ds, batch_size=64))


class Scripted:
    """A callback that overwrites ``logs[key]`` with scripted values, epoch by epoch (put it
    before the callbacks that should see them)."""

    def __init__(self, values: list[float], key: str = "val_loss") -> None:
        self.values, self.key = values, key

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        logs[self.key] = self.values[epoch]


class Snapshots:
    """A callback that keeps a copy of the model's arrays after every epoch."""

    def __init__(self) -> None:
        self.arrays: list[dict] = []

    def on_train_begin(self, state: Any) -> None:
        self.state = state

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.arrays.append(self.state.engine.state_arrays(self.state.model))
