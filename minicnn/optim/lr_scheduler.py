"""Learning-rate schedulers with PyTorch's semantics: ``StepLR`` and ``ReduceLROnPlateau``.

Call ``scheduler.step()`` after ``optimizer.step()``, once per epoch (``ReduceLROnPlateau``:
``scheduler.step(val_loss)``). ``get_last_lr()`` gives the lrs now in the optimizer's groups.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, SupportsFloat

import numpy as np

from minicnn.optim.optimizer import Optimizer


def _check_number(owner: str, name: str, value: Any, integer: bool = False,
                  minimum: float | None = None) -> None:
    """TypeError unless ``value`` is a (real or integer) number, not a bool; ValueError if it
    is below ``minimum``."""
    kind = numbers.Integral if integer else numbers.Real
    if not isinstance(value, kind) or isinstance(value, (bool, np.bool_)):
        expected = "an int" if integer else "a real number"
        raise TypeError(f"{owner}: {name} must be {expected}, got {type(value).__name__} "
                        f"{value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} must be at least {minimum}, got {value}")


class LRScheduler:
    """Base class: records each group's ``initial_lr`` and ``base_lrs``, counts
    ``last_epoch``, and on every ``step()`` writes ``get_lr()`` into the groups.

    Construction performs the first step (``last_epoch`` becomes 0), as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming an optimizer")
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        """The lrs for the epoch ``last_epoch`` (already incremented), one per group."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set every group's lr."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lrs set by the last ``step()``."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def _check_state_dict(self, state_dict: Any) -> None:
        """TypeError/ValueError unless ``state_dict`` is a dict of this scheduler's
        attributes (checked before anything is loaded)."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
        unknown = sorted(str(k) for k in state_dict if k not in self.__dict__ or
                         k == "optimizer")
        if unknown:
            raise ValueError(f"{owner}: unknown entries {unknown} (not attributes of "
                             f"{type(self).__name__}): a state of another scheduler?")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (all entries checked first)."""
        self._check_state_dict(state_dict)
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size): multiplied by ``gamma`` every
    ``step_size`` epochs (applied to the current lr, so it chains with other changes)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        _check_number("StepLR", "step_size", step_size, integer=True, minimum=1)
        _check_number("StepLR", "gamma", gamma)
        _check_number("StepLR", "last_epoch", last_epoch, integer=True, minimum=-1)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric has stopped improving.

    ``step(metric)`` once per epoch. The metric improves when it beats the best so far by
    ``threshold``: mode 'min', 'rel': m < best * (1 - threshold); 'min', 'abs':
    m < best - threshold; 'max' likewise upwards. After more than ``patience`` epochs in a row
    without improvement, lr = max(lr * factor, min_lr) (skipped when the change is <= ``eps``),
    then ``cooldown`` epochs pass during which bad epochs are not counted.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: list[float] | float = 0, eps: float = 1e-8) -> None:
        owner = "ReduceLROnPlateau"
        _check_number(owner, "factor", factor, minimum=0.0)
        if factor >= 1.0:
            raise ValueError(f"Factor should be < 1.0, got factor={factor}.")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        _check_number(owner, "patience", patience, integer=True, minimum=0)
        _check_number(owner, "cooldown", cooldown, integer=True, minimum=0)
        _check_number(owner, "threshold", threshold)
        _check_number(owner, "eps", eps)
        for v in min_lr if isinstance(min_lr, (list, tuple)) else [min_lr]:
            _check_number(owner, "min_lr", v, minimum=0.0)
        self.factor = factor
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, "
                                 f"got {len(min_lr)}")
            self.default_min_lr: float | None = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: SupportsFloat) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the lr if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown are ignored
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError("The number of param groups in the optimizer differs from "
                                   "when ReduceLROnPlateau was initialized: update min_lrs")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @staticmethod
    def _check_modes(mode: Any, threshold_mode: Any) -> None:
        if mode not in {"min", "max"}:
            raise ValueError(f"mode {mode!r} is unknown! (expected 'min' or 'max')")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError(f"threshold mode {threshold_mode!r} is unknown! "
                             "(expected 'rel' or 'abs')")

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        self._check_modes(mode, threshold_mode)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (all entries checked first)."""
        self._check_state_dict(state_dict)
        self._check_modes(state_dict.get("mode", self.mode),
                          state_dict.get("threshold_mode", self.threshold_mode))
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
