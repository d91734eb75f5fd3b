"""Callbacks for ``fit``: early stopping, checkpoints, and learning-rate scheduling.

``fit`` calls, when present, ``on_train_begin(state)``, ``on_epoch_begin(epoch)``,
``on_epoch_end(epoch, logs) -> bool | None`` (True stops training) and
``on_train_end(state)``; ``state`` is the loop's ``FitState`` (model, optimizer, engine,
history, train_loader, scheduler, ``stop_training``, callbacks).

A callback with a state of its own (``EarlyStopping``) has ``state_dict()`` and
``load_state_dict()``; ``ModelCheckpoint`` saves the states of all the fit's callbacks in the
checkpoint's ``extra["callbacks"]``, and ``load_callback_states`` puts them back on resume.
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
    epochs (Keras' rule). With ``restore_best`` (Keras' ``restore_best_weights``), the weights
    of the best epoch are put back into the model when training ends, whether it stopped early
    or ran all its epochs (Keras 3; tf.keras 2 restored them only when it stopped). After
    training: ``best``, ``best_epoch``, ``stopped_epoch`` (the epoch after which training
    stopped, or None). ``state_dict()`` / ``load_state_dict()`` carry all of it, the best weights
    included, across a checkpoint: a state loaded before ``fit`` survives its
    ``on_train_begin`` (and a run that had stopped stays stopped)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "min",
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor, self.patience, self.restore_best = monitor, int(patience), restore_best
        self.wait = 0
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.best_weights: dict | None = None
        self._loaded = False

    @property
    def best(self) -> float:
        return self._monitor.best

    def state_dict(self) -> dict[str, Any]:
        """The counters, the best value and epoch, and the best weights (arrays or None)."""
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state given by ``state_dict`` (kept by the next ``on_train_begin``)."""
        self.wait, self._monitor.best = int(state["wait"]), float(state["best"])
        self.best_epoch, self.stopped_epoch = state["best_epoch"], state["stopped_epoch"]
        weights = state["best_weights"]
        self.best_weights = None if weights is None else dict(weights)
        self._loaded = True

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        if self._loaded:  # a resumed run: keep the loaded state
            self._loaded = False
            state.stop_training = state.stop_training or self.stopped_epoch is not None
            return
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
        extra = training_extra(engine, scheduler, state.train_loader)
        extra["callbacks"] = callback_states(state.callbacks)
        save_checkpoint(path, engine.state_arrays(state.model),
                        engine.optimizer_state_arrays(state.optimizer), epoch=epoch + 1,
                        history=state.history, meta=meta, extra=extra)
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


def _state_key(index: int, callback: Any) -> str:
    return f"{index}-{type(callback).__name__}"


def callback_states(callbacks: Any) -> dict[str, Any]:
    """``{"<position>-<class>": state}`` of the callbacks that have a ``state_dict``."""
    return {_state_key(i, cb): cb.state_dict() for i, cb in enumerate(callbacks)
            if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict")}


def load_callback_states(callbacks: Any, extra: Any) -> None:
    """Give each callback with a ``load_state_dict`` its state from a checkpoint's ``extra``
    (saved by ``ModelCheckpoint`` from the same list of callbacks, in the same order). A
    callback whose state is missing raises a ValueError: the checkpoint was made with other
    callbacks, and resuming would silently change the run."""
    saved = extra.get("callbacks", {}) if isinstance(extra, dict) else {}
    for i, cb in enumerate(callbacks):
        if not hasattr(cb, "load_state_dict"):
            continue
        key = _state_key(i, cb)
        if key not in saved:
            raise ValueError(f"the checkpoint holds no state for callback {key} (it has "
                             f"{sorted(saved) or 'none'}): it was made with other callbacks")
        cb.load_state_dict(saved[key])
