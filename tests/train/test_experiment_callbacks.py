"""The CIFAR-10 experiment's callbacks as the runner builds them (Keras' EarlyStopping with
restore_best_weights, and Keras' ReduceLROnPlateau rule run by each engine's PyTorch-style
scheduler), firing as configured in both engines, and
their state carried across a checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import minicnn
from minicnn.experiments import get_experiment
from minicnn.runner import build_callbacks, optimizer_and_loss
from minicnn.train import (
    EarlyStopping,
    LRSchedulerCallback,
    ModelCheckpoint,
    fit,
    get_engine,
    load_checkpoint,
)
from minicnn.train.callbacks import callback_states, load_callback_states

from .helpers import Scripted, Snapshots, loaders

# best after epoch 1; then no improvement: with Keras' patience 5 the lr halves after the 5th
# bad epoch (epoch 6; PyTorch's own patience 5 would wait for the 6th), with patience 10
# training stops after the 10th (epoch 11)
VAL_LOSS = [1.0, 0.9] + [0.95] * 18


def _model(engine: str) -> object:
    if engine == "torch":
        torch.manual_seed(0)
        return torch.nn.Linear(6, 3)
    minicnn.manual_seed(0)
    return minicnn.nn.Linear(6, 3)


@pytest.mark.parametrize("engine_name", ["minicnn", "torch"])
def test_cifar10_callbacks_fire_as_configured(engine_name: str, problem) -> None:
    exp = get_experiment("cifar10_cnn")
    engine = get_engine(engine_name)
    model = _model(engine_name)
    optimizer, loss_fn = optimizer_and_loss(engine, exp, model)
    callbacks = build_callbacks(exp, engine, optimizer)
    stop, lr_cb = callbacks
    assert isinstance(stop, EarlyStopping) and isinstance(lr_cb, LRSchedulerCallback)
    assert (stop.monitor, stop.patience, stop.restore_best) == ("val_loss", 10, True)
    plateau = lr_cb.scheduler
    assert type(plateau).__module__.split(".")[0] == engine_name  # the engine's own scheduler
    assert (plateau.factor, plateau.patience, plateau.min_lrs, plateau.mode) == \
        (0.5, 4, [1e-7], "min")  # Keras' patience 5 in PyTorch's counting
    assert (plateau.threshold, plateau.threshold_mode) == (1e-4, "abs")  # Keras' min_delta
    snaps = Snapshots()
    train, val = loaders(*problem)
    history = fit(model, optimizer, loss_fn, train, exp.epochs, engine=engine, val_loader=val,
                  callbacks=[Scripted(VAL_LOSS), snaps, *callbacks], progress=False)
    assert len(history) == 12 and (stop.best_epoch, stop.stopped_epoch) == (1, 11)
    assert history.lr == pytest.approx([1e-3] * 7 + [5e-4] * 5)
    final = engine.state_arrays(model)
    for key, value in snaps.arrays[1].items():  # the best epoch's weights are back
        np.testing.assert_array_equal(final[key], value)
    assert not np.array_equal(snaps.arrays[-1]["weight"], snaps.arrays[1]["weight"])


def test_min_lr_bounds_the_halving() -> None:
    exp = get_experiment("cifar10_cnn")
    for name in ("minicnn", "torch"):
        engine = get_engine(name)
        model = _model(name)
        optimizer, _ = optimizer_and_loss(engine, exp, model)
        optimizer.param_groups[0]["lr"] = 1.5e-7
        scheduler = build_callbacks(exp, engine, optimizer)[1].scheduler
        for value in [1.0] + [2.0] * 6:
            scheduler.step(value)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-7), name  # not 7.5e-8


def test_early_stopping_state_survives_a_checkpoint(problem, linear_model,
                                                    tmp_path: Path) -> None:
    engine = get_engine("minicnn")
    train, val = loaders(*problem)
    stop = EarlyStopping(patience=2)
    checkpoint = ModelCheckpoint(tmp_path / "ck.npz", save_best_only=False)
    optimizer = minicnn.optim.SGD(linear_model.parameters(), lr=0.1)
    fit(linear_model, optimizer, minicnn.nn.CrossEntropyLoss(), train, 4, engine=engine,
        val_loader=val, callbacks=[Scripted([1.0, 0.5, 0.7, 0.8]), stop, checkpoint],
        progress=False)
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1
    ck = load_checkpoint(tmp_path / "ck.npz")
    resumed = EarlyStopping(patience=2)
    load_callback_states([object(), resumed, object()], ck.extra)
    saved, loaded = callback_states([None, stop])["1-EarlyStopping"], resumed.state_dict()
    assert {k: v for k, v in loaded.items() if k != "best_weights"} == \
        {"wait": 2, "best": 0.5, "best_epoch": 1, "stopped_epoch": 3}
    for key, value in saved["best_weights"].items():
        np.testing.assert_array_equal(loaded["best_weights"][key], value)
    # a run that had stopped stays stopped when resumed: no epoch runs, the best weights
    # are put back (over the last epoch's, loaded as a resume would)
    engine.load_arrays(linear_model, ck.model)
    assert not np.array_equal(ck.model["weight"], saved["best_weights"]["weight"])
    history = fit(linear_model, optimizer, minicnn.nn.CrossEntropyLoss(), train, 6,
                  engine=engine, val_loader=val, callbacks=[resumed], start_epoch=4,
                  history=ck.history, progress=False)
    assert len(history) == 4
    for key, value in saved["best_weights"].items():
        np.testing.assert_array_equal(engine.state_arrays(linear_model)[key], value)
    with pytest.raises(ValueError, match="holds no state for callback 0-EarlyStopping"):
        load_callback_states([EarlyStopping()], ck.extra)
