"""Plots to PNG files: learning curves, a confusion matrix, and an autoencoder's test images
above their reconstructions.

matplotlib is imported when a plot is made, and figures are drawn on the Agg canvas directly
(``matplotlib.figure.Figure``, no pyplot), so no GUI backend is needed or switched. Files are
written all or nothing (``minicnn.fileio``).
"""
from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from minicnn import fileio
from minicnn.train.history import History


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    fileio.write_bytes(path, buffer.getvalue())
    return path


def _series(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _histories(history: Any) -> dict[str, History]:
    """``{label: History}`` from a History, a history dict, or a mapping of labels to them."""
    if isinstance(history, History):
        return {"": history}
    if isinstance(history, Mapping) and "loss" in history:
        return {"": History.from_dict(history)}
    if isinstance(history, Mapping):
        return {str(k): v if isinstance(v, History) else History.from_dict(v)
                for k, v in history.items()}
    raise TypeError(f"history must be a History, a dict of its lists or a mapping of labels to "
                    f"those, got {type(history).__name__}")


def plot_learning_curves(history: History | dict | Mapping[str, History | dict],
                         path: str | os.PathLike, title: str | None = None) -> str:
    """Loss (left) and accuracy (right) per epoch, training (solid) and validation (dashed),
    to a PNG at ``path``; returns the path. ``history`` may map labels (engine names) to
    histories: each gets one colour, all on the same axes. Without any accuracy (a regression,
    whose loss is its metric) the loss alone is drawn."""
    runs = _histories(history)
    with_acc = any(np.isfinite(_series(h.acc)).any() for h in runs.values())
    panels = (("loss", "loss"), ("acc", "accuracy")) if with_acc else (("loss", "loss"),)
    fig = _figure(10 if with_acc else 6, 4)
    longest = max((len(h) for h in runs.values()), default=0)
    epochs_all = np.arange(1, longest + 1)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, label) in zip(axes, panels):
        for i, (name, h) in enumerate(runs.items()):
            colour, prefix = f"C{i}", f"{name} " if name else ""
            size = max(8 - 3 * i, 3)  # NOTE: smaller markers on top keep equal curves visible
            epochs = np.arange(1, len(h) + 1)
            ax.plot(epochs, _series(getattr(h, key)), "o-", color=colour, markersize=size,
                    label=f"{prefix}train")
            val = _series(getattr(h, "val_" + key))
            if np.isfinite(val).any():
                ax.plot(epochs, val, "s--", color=colour, markersize=size,
                        label=f"{prefix}validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
        if longest:
            ax.set_xticks(epochs_all if longest <= 20 else epochs_all[:: longest // 10 + 1])
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


def _displayable(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (N, H, W) images as (N, H, W) or (N, H, W, 3) in [0, 1]."""
    images = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0)
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0]  # (N, H, W)
    if images.ndim == 4 and images.shape[1] == 3:
        return images.transpose(0, 2, 3, 1)  # (N, H, W, 3)
    if images.ndim == 3:
        return images
    raise ValueError(f"expected images of shape (N, 1 or 3, H, W) or (N, H, W), got "
                     f"{images.shape}")


def plot_reconstructions(images: Any, reconstructions: Any, path: str | os.PathLike,
                         title: str | None = None) -> str:
    """The test ``images`` (top row) above their ``reconstructions`` (bottom row), pixel
    values in [0, 1] (gray for one channel, RGB for three), to a PNG at ``path``; returns the
    path. Both are ``(N, C, H, W)`` (or ``(N, H, W)``) of the same shape."""
    top, bottom = _displayable(images), _displayable(reconstructions)
    if top.shape != bottom.shape or len(top) == 0:
        raise ValueError(f"expected images and reconstructions of one shape with at least one "
                         f"image, got {np.shape(images)} and {np.shape(reconstructions)}")
    n = len(top)
    fig = _figure(max(1.2 * n, 4.0), 3.0)
    grid = fig.subplots(2, n, squeeze=False)
    for row, (images_row, label) in enumerate(((top, "test image"),
                                               (bottom, "reconstruction"))):
        for j in range(n):
            ax = grid[row, j]
            ax.imshow(images_row[j], cmap="gray" if images_row.ndim == 3 else None,
                      vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        grid[row, 0].set_ylabel(label)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
