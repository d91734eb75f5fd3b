"""Plots to PNG files: learning curves and a confusion matrix.

matplotlib is imported when a plot is made, and figures are drawn on the Agg canvas directly
(``matplotlib.figure.Figure``, no pyplot), so no GUI backend is needed or switched.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from minicnn.train.history import History


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _series(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def plot_learning_curves(history: History | dict, path: str | os.PathLike,
                         title: str | None = None) -> str:
    """Loss (left) and accuracy (right) per epoch, training and validation, to a PNG at
    ``path``; returns the path."""
    if isinstance(history, dict):
        history = History.from_dict(history)
    epochs = np.arange(1, len(history) + 1)
    fig = _figure(10, 4)
    for ax, key, label in zip(fig.subplots(1, 2), ("loss", "acc"), ("loss", "accuracy")):
        ax.plot(epochs, _series(getattr(history, key)), "o-", label=f"train {label}")
        val = _series(getattr(history, "val_" + key))
        if np.isfinite(val).any():
            ax.plot(epochs, val, "s--", label=f"validation {label}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
        if len(epochs):
            ax.set_xticks(epochs if len(epochs) <= 20 else epochs[:: len(epochs) // 10 + 1])
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion_matrix(cm: Any, path: str | os.PathLike,
                          class_names: Sequence[str] | None = None, normalize: bool = False,
                          title: str = "Confusion matrix") -> str:
    """The confusion matrix ``cm`` (true classes in rows, predictions in columns) as a
    heat map with the counts written in the cells (rows normalised to fractions with
    ``normalize``), to a PNG at ``path``; returns the path."""
    cm = np.asarray(cm, dtype=np.float64)
    k = cm.shape[0]
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    size = max(4.0, 0.6 * k + 2)
    fig = _figure(size + 1, size)
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8 if k > 10 else 10,
                    color="white" if cm[i, j] > threshold else "black")
    return _save(fig, path)
