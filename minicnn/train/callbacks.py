"""Callbacks for ``fit``: early stopping, checkpoints, and learning-rate scheduling.

``fit`` calls, when present, ``on_train_begin(state)``, ``on_epoch_begin(epoch)``,
``on_epoch_end(epoch, logs) -> bool | None`` (True stops training) and
``on_train_end(state)``; ``state`` is the loop's ``FitState`` (model, optimizer, engine,
history, train_loader, scheduler, ``stop_training``).
"""
from __future__ import annotations

import math
import os
from typing import Any

from minicnn.train.checkpoint import save_checkpoint, training_extra
from minicnn.train.loop import FitState, step_scheduler


class Callback:
    """Base class: every hook does nothing; ``self.state`` is set by ``on_train_begin``."""

    state: FitState | None = None

    def on_train_begin(self, state: FitState) -> None:
        self.state = state

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        return None

    def on_train_end(self, state: FitState) -> None:
        pass


class _Monitor:
    """Tracks the best value of ``monitor`` in ``mode`` 'min' or 'max' with ``min_delta``."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))
        self.best = math.inf if mode == "min" else -math.inf

    def value(self, logs: dict[str, Any]) -> float:
        value = logs.get(self.monitor)
        if value is None:
            raise KeyError(f"monitored quantity {self.monitor!r} is not in the logs "
                           f"({sorted(k for k, v in logs.items() if v is not None)}); "
                           "is there a validation loader?")
        return float(value)

    def improved(self, value: float) -> bool:
        """True (and ``best`` updated) when ``value`` beats ``best`` by more than min_delta."""
        if self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved (by more than ``min_delta``) for ``patience``
    epochs. With ``restore_best``, the weights of the best epoch are put back into the model
    when training ends. After training: ``best``, ``best_epoch``, ``stopped_epoch`` (the
    epoch after which training stopped, or None)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "min",
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor, self.patience, self.restore_best = monitor, int(patience), restore_best
        self.wait = 0
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.best_weights: dict | None = None

    @property
    def best(self) -> float:
        return self._monitor.best

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        self.wait, self.stopped_epoch = 0, None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        if self._monitor.improved(self._monitor.value(logs)):
            self.wait, self.best_epoch = 0, epoch
            if self.restore_best and self.state is not None:
                self.best_weights = self.state.engine.state_arrays(self.state.model)
            return None
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return None

    def on_train_end(self, state: FitState) -> None:
        if self.restore_best and self.best_weights is not None:
            state.engine.load_arrays(state.model, self.best_weights)


class ModelCheckpoint(Callback):
    """Save model, optimiser, epoch, history (and the RNG and scheduler states an exact
    resume needs) to ``path`` after each epoch, or, with ``save_best_only``, only when
    ``monitor`` improves. ``path`` may hold ``{epoch}`` and log keys: ``'ck-{epoch:02d}.npz'``
    (epoch counted from 1). ``meta`` is stored with the checkpoint; ``last_path`` is the
    file written last."""

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", mode: str = "min",
                 save_best_only: bool = True, meta: dict | None = None) -> None:
        self.path, self.save_best_only, self.meta = os.fspath(path), save_best_only, meta or {}
        self._monitor = _Monitor(monitor, mode)
        self.monitor = monitor
        self.last_path: str | None = None

    @property
    def best(self) -> float:
        return self._monitor.best

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        if self.save_best_only and not self._monitor.improved(self._monitor.value(logs)):
            return None
        state = self.state
        if state is None:
            raise RuntimeError("ModelCheckpoint used outside fit (on_train_begin not called)")
        fields = {k: v for k, v in logs.items() if k != "epoch"}
        path = self.path.format(epoch=epoch + 1, **fields)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = state.engine
        scheduler = state.scheduler or state.extras.get("scheduler")
        meta = {"engine": engine.name, "monitor": self.monitor, **self.meta}
        if logs.get(self.monitor) is not None:
            meta["best" if self.save_best_only else "value"] = float(logs[self.monitor])
        save_checkpoint(path, engine.state_arrays(state.model),
                        engine.optimizer_state_arrays(state.optimizer), epoch=epoch + 1,
                        history=state.history, meta=meta,
                        extra=training_extra(engine, scheduler, state.train_loader))
        self.last_path = path
        return None


class LRSchedulerCallback(Callback):
    """Step ``scheduler`` at the end of each epoch: ``ReduceLROnPlateau`` with
    ``logs[monitor]``, any other scheduler with ``step()``. (Equivalent to
    ``fit(scheduler=...)``; use one or the other, not both.)"""

    def __init__(self, scheduler: Any, monitor: str = "val_loss") -> None:
        self.scheduler, self.monitor = scheduler, monitor

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        state.extras["scheduler"] = self.scheduler  # so ModelCheckpoint saves its state

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        step_scheduler(self.scheduler, logs, self.monitor)
        return None
