"""The fit loop: one code path that trains a minicnn model or a PyTorch model.

Everything but batch conversion, ``no_grad`` and reading values back is duck-typed:
``model(x)``, ``loss_fn(out, y)``, ``loss.backward()``, ``optimizer.zero_grad()``,
``optimizer.step()``, ``loss.item()``, ``model.train()`` / ``model.eval()``.

``task='multiclass'``: the model outputs logits ``(N, C)``, targets are class indices ``(N,)``
(int64), accuracy is ``mean(argmax(out, 1) == y)``. ``task='binary'``: the model outputs one
logit per sample ``(N, 1)``, targets are 0/1 and are given to the loss as floats ``(N, 1)``
(as ``BCEWithLogitsLoss`` wants), accuracy is ``mean((out > 0) == y)``. ``task='regression'``:
the targets are arrays of the output's shape (for an autoencoder, the inputs themselves), given
to the loss as floats of the output's dtype; the metric is the mean squared error over every
element, ``mean((out - y)**2)``, and there is no accuracy (``acc`` is None).
"""
from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minicnn.train.engines import Engine, host_array
from minicnn.train.history import History

TASKS = ("multiclass", "binary", "regression")
FLOAT_TARGETS = ("binary", "regression")  # tasks whose targets are floats of the output's dtype


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def _show_progress(progress: bool) -> bool:
    """Progress bars only on an interactive terminal, and only when asked for."""
    return bool(progress) and sys.stdout.isatty()


def _bar(iterable: Iterable, enabled: bool, **kwargs: Any) -> Any:
    """A tqdm bar over ``iterable`` when ``enabled`` (tqdm is imported only then)."""
    if not enabled:
        return iterable
    # NOTE: plain tqdm, not tqdm.auto: its asyncio variant calls iter(iterable) when made,
    # which would draw an extra shuffle from the loader and change the batches.
    from tqdm import tqdm

    return tqdm(iterable, dynamic_ncols=True, **kwargs)


def prepare_batch(engine: Engine, x: Any, y: Any, task: str) -> tuple[Any, Any]:
    """A loader's ``(x, y)`` as the engine's tensors; binary targets as float ``(N, 1)``,
    regression targets as they are, both of ``x``'s dtype (the loop casts them to the output's
    dtype if that differs)."""
    x = engine.tensor(x)
    if task == "binary":
        # NOTE: reshaped where it is (a device batch stays on the device), not via the host.
        y = y.reshape(-1, 1) if hasattr(y, "reshape") else host_array(y).reshape(-1, 1)
    if task in FLOAT_TARGETS:
        return x, engine.tensor(y, dtype=x.dtype)
    return x, engine.tensor(y)


def _loss(engine: Engine, loss_fn: Callable, out: Any, y_t: Any, task: str) -> Any:
    """``loss_fn(out, y)``, float targets cast to the output's dtype first. A regression's
    output and target must have one shape (PyTorch's MSELoss would broadcast them)."""
    if task == "regression" and tuple(out.shape) != tuple(y_t.shape):
        raise ValueError(f"regression: the output has shape {tuple(out.shape)} but the target "
                         f"{tuple(y_t.shape)}: expected the same shape")
    if task in FLOAT_TARGETS and y_t.dtype != out.dtype:
        y_t = engine.tensor(y_t, dtype=out.dtype)
    return loss_fn(out, y_t)


def squared_error_sum(out: np.ndarray, y: np.ndarray) -> float:
    """``sum((out - y)**2)`` in float64 over every element (``out`` and ``y`` of one shape)."""
    if out.shape != y.shape:
        raise ValueError(f"regression: the output has shape {out.shape} but the target "
                         f"{y.shape}: expected the same shape")
    d = out.astype(np.float64) - y.astype(np.float64)
    return float(np.dot(d.ravel(), d.ravel()))


def targets_numpy(y: Any) -> np.ndarray:
    """The labels of a batch as a flat NumPy array."""
    return host_array(y).reshape(-1)


def predictions(logits: np.ndarray, task: str) -> np.ndarray:
    """Class predictions from logits: argmax over classes, or ``logit > 0`` for binary."""
    if task == "binary":
        return (logits.reshape(-1) > 0).astype(np.int64)
    return logits.argmax(axis=1)


def scores_from_logits(logits: np.ndarray, task: str) -> np.ndarray:
    """Probabilities: softmax over classes ``(N, C)``, or the sigmoid ``(N,)`` for binary."""
    logits = logits.astype(np.float64)
    if task == "binary":
        z = logits.reshape(-1)
        return np.exp(-np.logaddexp(0.0, -z))  # sigmoid(z), stable for large |z|
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _current_lr(optimizer: Any) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0]["lr"])
    lr = getattr(optimizer, "lr", None)
    return None if lr is None else float(lr)


@dataclass
class FitState:
    """What callbacks can see and change during ``fit``: set ``stop_training`` to stop
    after the current epoch (or, in ``on_train_begin``, before the first: a resumed run that
    had already stopped). ``callbacks`` are all the callbacks of the fit (a checkpoint saves
    the state of those that have one)."""

    model: Any
    optimizer: Any
    engine: Engine
    history: History
    train_loader: Any = None
    scheduler: Any = None
    epoch: int = 0
    stop_training: bool = False
    extras: dict = field(default_factory=dict)
    callbacks: Sequence[Any] = ()


def train_step(model: Any, optimizer: Any, loss_fn: Callable, x: Any, y: Any, *,
               engine: Engine, task: str = "multiclass") -> tuple[float, int | None, int]:
    """One optimisation step on the batch ``(x, y)``: zero_grad, forward, loss, backward,
    step. Returns ``(loss, number correct, batch size)``; the number correct is None for
    ``task='regression'`` (whose output is not read back: the loss is its metric)."""
    x, y_t = prepare_batch(engine, x, y, task)
    optimizer.zero_grad()
    out = model(x)
    loss = _loss(engine, loss_fn, out, y_t, task)
    loss.backward()
    optimizer.step()
    if task == "regression":
        return float(loss.item()), None, int(out.shape[0])
    logits = engine.to_numpy(out)
    correct = int((predictions(logits, task) == targets_numpy(y)).sum())
    return float(loss.item()), correct, int(logits.shape[0])


def train_epoch(model: Any, optimizer: Any, loss_fn: Callable, loader: Iterable, *,
                engine: Engine, task: str = "multiclass", progress: bool = False,
                desc: str = "train") -> tuple[float, float | None]:
    """One epoch of ``train_step`` over ``loader`` in training mode.

    Returns ``(loss, acc)``: the loss averaged over samples (each batch's mean loss weighted
    by its size) and the fraction of samples classified correctly (None for regression).
    """
    _check_task(task)
    progress = _show_progress(progress)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = _bar(loader, progress, desc=desc, leave=False, total=_len(loader))
    for x, y in bar:
        loss, ok, n = train_step(model, optimizer, loss_fn, x, y, engine=engine, task=task)
        total_loss += loss * n
        correct += ok or 0
        seen += n
        if progress:
            shown = {} if ok is None else {"acc": f"{correct / seen:.4f}"}
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", **shown)
    if seen == 0:
        raise ValueError("the training loader gave no batches")
    return total_loss / seen, None if task == "regression" else correct / seen


def _len(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


@contextlib.contextmanager
def _evaluating(model: Any, engine: Engine) -> Iterator[None]:
    """``model`` in eval mode under the engine's ``no_grad``; its training mode is restored
    afterwards, also after an error."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        with engine.no_grad():
            yield
    finally:
        model.train(was_training)


def evaluate(model: Any, loader: Iterable, loss_fn: Callable, engine: Engine,
             task: str = "multiclass", progress: bool = False) -> tuple[float, float]:
    """``(loss, metric)`` of ``model`` on ``loader`` in eval mode, without recording a graph:
    the sample-weighted mean of the batches' losses, and the task's metric: the accuracy for
    a classifier, the mean squared error ``sum((out - y)**2) / (number of elements)`` (in
    float64 on the host) for regression. The model's training mode is restored afterwards."""
    _check_task(task)
    total_loss, metric_sum, seen, elements = 0.0, 0.0, 0, 0
    batches = _bar(loader, _show_progress(progress), desc="eval", leave=False, total=_len(loader))
    with _evaluating(model, engine):
        for x, y in batches:
            x_t, y_t = prepare_batch(engine, x, y, task)
            out = model(x_t)
            n = int(out.shape[0])
            total_loss += float(_loss(engine, loss_fn, out, y_t, task).item()) * n
            seen += n
            values = engine.to_numpy(out)
            if task == "regression":
                metric_sum += squared_error_sum(values, host_array(y))
                elements += values.size
            else:
                metric_sum += int((predictions(values, task) == targets_numpy(y)).sum())
    if seen == 0:
        raise ValueError("the loader gave no batches")
    return total_loss / seen, metric_sum / (elements if task == "regression" else seen)


def predict(model: Any, loader: Iterable, engine: Engine, task: str = "multiclass"
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(y_true, y_pred, scores)`` as NumPy arrays over the whole loader: labels ``(N,)``,
    predicted classes ``(N,)``, and probabilities (softmax ``(N, C)``, or sigmoid ``(N,)``
    for ``task='binary'``). For ``task='regression'``: the targets, the outputs (both of the
    output's shape) and None."""
    _check_task(task)
    targets, outputs = [], []
    with _evaluating(model, engine):
        for x, y in loader:
            outputs.append(engine.to_numpy(model(prepare_batch(engine, x, y, task)[0])))
            targets.append(host_array(y) if task == "regression" else targets_numpy(y))
    if not outputs:
        raise ValueError("the loader gave no batches")
    y_true, values = np.concatenate(targets), np.concatenate(outputs)
    if task == "regression":
        return y_true, values, None
    return y_true, predictions(values, task), scores_from_logits(values, task)


def _is_plateau(scheduler: Any) -> bool:
    return type(scheduler).__name__ == "ReduceLROnPlateau"


def step_scheduler(scheduler: Any, logs: dict[str, Any], monitor: str = "val_loss") -> None:
    """``scheduler.step(logs[monitor])`` for ReduceLROnPlateau (falling back to the training
    ``loss`` without validation), ``scheduler.step()`` for any other scheduler."""
    if not _is_plateau(scheduler):
        scheduler.step()
        return
    value = logs.get(monitor)
    if value is None:
        value = logs.get(monitor.removeprefix("val_"))
    if value is None:
        raise KeyError(f"ReduceLROnPlateau monitors {monitor!r}, which is not in the logs "
                       f"({sorted(logs)})")
    scheduler.step(value)


def fit(model: Any, optimizer: Any, loss_fn: Callable, train_loader: Iterable, epochs: int,
        *, engine: Engine, val_loader: Iterable | None = None, callbacks: Sequence[Any] = (),
        scheduler: Any = None, start_epoch: int = 0, history: History | None = None,
        progress: bool = True, task: str = "multiclass") -> History:
    """Train ``model`` for epochs ``start_epoch .. epochs - 1`` and return the History.

    ``epochs`` is the index of the last epoch plus one (as Keras' ``epochs`` with
    ``initial_epoch``): to resume after 2 of 3 epochs, ``fit(..., epochs=3, start_epoch=2,
    history=ck.history)``. Per epoch: ``train_epoch`` (model.train(), zero_grad, forward,
    loss, backward, step for each batch), then, with ``val_loader``, ``evaluate`` (eval mode,
    no graph); the epoch's ``logs`` (loss, acc, val_loss, val_acc, lr, seconds; no accuracies
    for regression, whose loss is its metric) are appended to the history; then ``scheduler``
    steps (ReduceLROnPlateau on ``val_loss``, or on ``loss`` without validation); then each
    callback's ``on_epoch_end(epoch, logs)`` runs. A callback stops training by returning True
    or setting ``state.stop_training`` (in ``on_train_begin``: before any epoch, as a resumed
    early stop does); ``on_train_end`` runs in any case. Progress bars (tqdm,
    labelled with the engine's name) show only when ``progress`` and stdout is a terminal.
    """
    _check_task(task)
    history = History() if history is None else history
    state = FitState(model, optimizer, engine, history, train_loader, scheduler,
                     epoch=start_epoch, callbacks=tuple(callbacks))
    show = _show_progress(progress)
    for cb in callbacks:
        _call(cb, "on_train_begin", state)
    epoch_bar = _bar(range(start_epoch, epochs), show, desc=f"{engine.name} epochs",
                     initial=start_epoch, total=epochs)
    for epoch in epoch_bar:
        if state.stop_training:
            break
        state.epoch = epoch
        for cb in callbacks:
            _call(cb, "on_epoch_begin", epoch)
        lr = _current_lr(optimizer)
        t0 = time.perf_counter()
        loss, acc = train_epoch(model, optimizer, loss_fn, train_loader, engine=engine,
                                task=task, progress=show,
                                desc=f"{engine.name} epoch {epoch + 1}/{epochs}")
        logs: dict[str, Any] = {"epoch": epoch, "loss": loss, "acc": acc, "lr": lr}
        if val_loader is not None:
            val_loss, val_metric = evaluate(model, val_loader, loss_fn, engine, task,
                                            progress=False)
            logs["val_loss"] = val_loss
            logs["val_acc"] = None if task == "regression" else val_metric
        logs["seconds"] = time.perf_counter() - t0
        history.append(logs)
        if show:
            epoch_bar.write(f"{engine.name}: {_format_logs(epoch, epochs, logs)}")
        if scheduler is not None:
            step_scheduler(scheduler, logs)
        for cb in callbacks:
            if _call(cb, "on_epoch_end", epoch, logs):
                state.stop_training = True
    for cb in callbacks:
        _call(cb, "on_train_end", state)
    return history


def _call(cb: Any, method: str, *args: Any) -> Any:
    fn = getattr(cb, method, None)
    return fn(*args) if fn is not None else None


def _format_logs(epoch: int, epochs: int, logs: dict[str, Any]) -> str:
    parts = [f"epoch {epoch + 1}/{epochs}"]
    for key in ("loss", "acc", "val_loss", "val_acc"):
        if logs.get(key) is not None:
            parts.append(f"{key} {logs[key]:.4f}")
    if logs.get("lr") is not None:
        parts.append(f"lr {logs['lr']:.3g}")
    parts.append(f"{logs['seconds']:.1f}s")
    return " - ".join(parts)
