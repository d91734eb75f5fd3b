"""``History``: the per-epoch record of a training run, as lists, serialisable to JSON."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

from minicnn import fileio


@dataclass
class History:
    """One entry per epoch: training ``loss`` and ``acc`` (means over the epoch's samples),
    ``val_loss`` and ``val_acc`` (None without a validation loader), the learning rate ``lr``
    used during the epoch and the epoch's wall time ``seconds``. A regression (an autoencoder)
    has no accuracy: ``acc`` and ``val_acc`` are None, and its loss (the MSE) is its metric."""

    loss: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    lr: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    KEYS = ("loss", "acc", "val_loss", "val_acc", "lr", "seconds")

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def epochs(self) -> int:
        """The number of epochs recorded."""
        return len(self.loss)

    def append(self, logs: dict[str, Any]) -> None:
        """Record one epoch from ``logs`` (missing keys are recorded as None)."""
        for key in self.KEYS:
            value = logs.get(key)
            getattr(self, key).append(None if value is None else float(value))

    def last(self) -> dict[str, Any]:
        """The last epoch's entries as a dict."""
        return {key: getattr(self, key)[-1] for key in self.KEYS} if len(self) else {}

    def to_dict(self) -> dict[str, list]:
        """A plain dict of lists (non-finite numbers become None, so the JSON is standard)."""
        return {f.name: [_finite(v) for v in getattr(self, f.name)] for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, list]) -> History:
        """The History of a dict made by ``to_dict`` (unknown keys are ignored)."""
        return cls(**{k: list(d.get(k, [])) for k in cls.KEYS})

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> History:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | os.PathLike) -> None:
        """Write the history to ``path`` as JSON (all or nothing: ``minicnn.fileio``)."""
        fileio.write_text(path, self.to_json(indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v
