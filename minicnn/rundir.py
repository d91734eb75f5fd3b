"""A run's folder (``--out``): its settings, per-epoch checkpoints, each finished engine's
results and final weights, and the reports, every file written all or nothing
(``minicnn.fileio``), so a kill at any moment leaves complete files and ``--resume`` goes on
from the last checkpoint.

Layout, for engine ``E`` and seed ``S``::

    run.json                  the settings of the run (what --resume must repeat)
    checkpoint-E-seedS.npz    model, optimiser, RNG states and history after the last epoch
                              (removed once the engine has finished that seed)
    result-E-seedS.json       the finished run: history, test loss and accuracy (or MSE),
                              predictions (or a few reconstructions), early stopping
    weights-E-seedS.npz       its final weights (``np.load`` gives the state_dict arrays)
    report.json, report.md    the report, rewritten after each finished seed
    curves.png, confusion-E.png (classifiers), reconstructions-E.png (autoencoders)
"""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from minicnn import fileio

SETTINGS_FILE = "run.json"
OPTION_NAMES = {"command": "the command", "experiment": "the experiment", "engine": "--engine",
                "epochs": "--epochs", "seed": "--seed", "seeds": "--seeds", "limit": "--limit",
                "data": "--data", "device": "--device"}


def default_out(experiment: str, now: datetime.datetime | None = None) -> Path:
    """``runs/<experiment>-<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3``... if that exists)."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{experiment}-{stamp}"
    n = 2
    while path.exists():
        path = Path("runs") / f"{experiment}-{stamp}-{n}"
        n += 1
    return path


def check_out(out: str | os.PathLike, resume: bool) -> None:
    """Refuse, before any work, an ``--out`` that cannot hold this run: an existing file; a
    folder holding another run without ``--resume``; ``--resume`` of a folder that does not
    exist. (``--resume`` of an existing folder where nothing was saved yet starts afresh.)"""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out} is an existing file: expected a folder (new or holding "
                         f"a run to resume)")
    if resume and not path.is_dir():
        raise ValueError(f"--resume: {out} does not exist: expected the folder of a run")
    started = (path / SETTINGS_FILE).is_file()
    if not resume and started:
        raise ValueError(f"--out {out} already holds a run ({SETTINGS_FILE}): add --resume "
                         f"to continue it, or choose another --out")


class RunDir:
    """The folder of one run. ``settings`` are stored in ``run.json``; with ``resume`` they
    must equal the stored ones (a ValueError names the first option that differs).
    ``RunDir.active`` is the last one opened (the command line's Ctrl-C line reads it)."""

    active: ClassVar[RunDir | None] = None

    def __init__(self, path: str | os.PathLike, settings: dict[str, Any],
                 resume: bool = False) -> None:
        check_out(path, resume)
        self.path = Path(path)
        self.settings = dict(settings)
        self.saved: str | None = None  # what the last checkpoint holds, for the Ctrl-C line
        if resume:
            self._remove_stale_temps()
        if resume and (self.path / SETTINGS_FILE).is_file():
            stored = json.loads((self.path / SETTINGS_FILE).read_text(encoding="utf-8"))
            for key, value in self.settings.items():
                if stored.get(key) != value:
                    raise ValueError(
                        f"--resume: {OPTION_NAMES.get(key, key)} {value} differs from the run "
                        f"in {self.path} ({stored.get(key)}): repeat its command line")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self.write_json(SETTINGS_FILE, self.settings)
        RunDir.active = self

    def _remove_stale_temps(self) -> None:
        """Remove the temporary files of writers killed in this folder (``fileio`` names them
        ``.{target}.{pid}.{random}.tmp``)."""
        for tmp in self.path.glob(f".*{fileio.TMP_SUFFIX}"):
            target = tmp.name[1:].rsplit(".", 3)[0]
            fileio.remove_stale_temps(self.path / target)

    def file(self, name: str) -> Path:
        return self.path / name

    def checkpoint_path(self, engine: str, seed: int) -> Path:
        return self.file(f"checkpoint-{engine}-seed{seed}.npz")

    def result_path(self, engine: str, seed: int) -> Path:
        return self.file(f"result-{engine}-seed{seed}.json")

    def weights_path(self, engine: str, seed: int) -> Path:
        return self.file(f"weights-{engine}-seed{seed}.npz")

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.file(name)
        fileio.write_text(path, json.dumps(obj, indent=2) + "\n")
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.file(name)
        fileio.write_text(path, text)
        return path

    def load_result(self, engine: str, seed: int) -> dict[str, Any] | None:
        """The stored result of a finished (engine, seed), or None."""
        path = self.result_path(engine, seed)
        if not path.is_file():
            return None
        result = json.loads(path.read_text(encoding="utf-8"))
        for key, dtype in (("y_true", np.int64), ("y_pred", np.int64),
                           ("reconstructions", np.float64)):
            if key in result:
                result[key] = np.asarray(result[key], dtype=dtype)
        return result

    def save_result(self, engine: str, seed: int, result: dict[str, Any],
                    weights: dict[str, np.ndarray]) -> None:
        """Store a finished (engine, seed): final weights, then the result, then remove its
        checkpoint (a kill in between leaves a state that resumes correctly)."""
        with fileio.atomic_write(self.weights_path(engine, seed)) as f:
            np.savez(f, **weights)
        arrays = ("y_true", "y_pred", "reconstructions")
        record = {k: v for k, v in result.items() if k not in (*arrays, "history")}
        record["history"] = result["history"].to_dict()
        record.update({k: np.asarray(result[k]).tolist() for k in arrays if k in result})
        fileio.write_text(self.result_path(engine, seed), json.dumps(record) + "\n")
        self.checkpoint_path(engine, seed).unlink(missing_ok=True)
        self.saved = f"{engine} seed {seed} finished"
