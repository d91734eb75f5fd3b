"""Command-line runs in tests: an isolated working folder, a Ctrl-C at a chosen checkpoint,
and comparing two run folders (``--out``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minicnn.runner


def offline_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network, the user's cache and ``$MINICNN_DATA`` out of reach, and ``tmp_path`` as the
    working folder (where the default ``runs/`` goes)."""
    monkeypatch.setenv("MINICNN_OFFLINE", "1")
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def interrupt_after(monkeypatch: pytest.MonkeyPatch, checkpoints: int) -> None:
    """Ctrl-C (KeyboardInterrupt) right after the ``checkpoints``-th checkpoint is saved."""
    real = minicnn.runner._Checkpoint.on_epoch_end
    count = {"n": 0}

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        real(self, epoch, logs)
        count["n"] += 1
        if count["n"] == checkpoints:
            raise KeyboardInterrupt

    monkeypatch.setattr(minicnn.runner._Checkpoint, "on_epoch_end", on_epoch_end)


def spy_class_names(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """A list that receives the class names of every confusion matrix plotted from now on."""
    import minicnn.train

    names: list[tuple] = []
    real = minicnn.train.plot_confusion_matrix

    def spy(cm, path, class_names=None, **kwargs):
        names.append(tuple(class_names))
        return real(cm, path, class_names=class_names, **kwargs)

    monkeypatch.setattr(minicnn.train, "plot_confusion_matrix", spy)
    return names


TIMINGS = ("seconds", "time_ratio", "conditions")  # wall clock, date, load average


def without_timings(tree: Any) -> Any:
    """``tree`` without its wall-clock entries (the only ones a resume may change)."""
    if isinstance(tree, dict):
        return {k: without_timings(v) for k, v in tree.items() if k not in TIMINGS}
    if isinstance(tree, list):
        return [without_timings(v) for v in tree]
    return tree


def assert_same_run(a: Path, b: Path) -> None:
    """Equal reports (but for timings) and bit-identical weights in two run folders."""
    ra, rb = (json.loads((p / "report.json").read_text()) for p in (a, b))
    assert without_timings(ra) == without_timings(rb)
    weights = sorted(p.name for p in a.glob("weights-*.npz"))
    assert weights and weights == sorted(p.name for p in b.glob("weights-*.npz"))
    for name in weights:
        with np.load(a / name) as wa, np.load(b / name) as wb:
            assert wa.files == wb.files
            for k in wa.files:
                np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"{name}: {k}")
    for p in (a, b):
        assert not list(p.glob("checkpoint-*")) and not list(p.glob(".*.tmp"))
