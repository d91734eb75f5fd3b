"""EarlyStopping and ModelCheckpoint on scripted monitored values."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn import nn, optim
from minicnn.train import EarlyStopping, MinicnnEngine, ModelCheckpoint, fit, load_checkpoint

from .helpers import Scripted, Snapshots, loaders

VAL_LOSS = [1.0, 0.5, 0.6, 0.55, 0.7, 0.4, 0.3, 0.2]


def _fit(model, problem, callbacks, epochs=8):
    train, val = loaders(*problem)
    return fit(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), train,
               epochs, engine=MinicnnEngine(), val_loader=val, callbacks=callbacks,
               progress=False)


def test_early_stopping_stops_at_patience_and_restores_best(problem, linear_model) -> None:
    snaps = Snapshots()
    stop = EarlyStopping(patience=3)
    history = _fit(linear_model, problem, [Scripted(VAL_LOSS), snaps, stop])
    # best 0.5 at epoch 1; epochs 2, 3, 4 do not beat it: stop after epoch 4
    assert len(history) == 5
    assert (stop.best, stop.best_epoch, stop.stopped_epoch) == (0.5, 1, 4)
    final = MinicnnEngine().state_arrays(linear_model)
    for key, value in snaps.arrays[1].items():
        assert np.array_equal(final[key], value)
    assert not np.array_equal(snaps.arrays[4]["weight"], snaps.arrays[1]["weight"])


def test_early_stopping_min_delta_mode_max_and_no_restore(problem, linear_model) -> None:
    acc = [0.5, 0.6, 0.605, 0.61, 0.9]
    snaps = Snapshots()
    stop = EarlyStopping(monitor="val_acc", mode="max", patience=2, min_delta=0.02,
                         restore_best=False)
    history = _fit(linear_model, problem, [Scripted(acc, "val_acc"), snaps, stop], epochs=5)
    assert len(history) == 4 and stop.best_epoch == 1 and stop.stopped_epoch == 3
    assert np.array_equal(linear_model.weight.detach().numpy(), snaps.arrays[-1]["weight"])


def test_early_stopping_needs_the_monitored_value(problem, linear_model) -> None:
    train, _ = loaders(*problem)
    with pytest.raises(KeyError, match="val_loss"):
        fit(linear_model, optim.SGD(linear_model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
            train, 2, engine=MinicnnEngine(), callbacks=[EarlyStopping()], progress=False)


def test_checkpoint_saves_only_improvements(problem, linear_model, tmp_path) -> None:
    path = tmp_path / "runs" / "best.npz"
    snaps = Snapshots()
    best = ModelCheckpoint(path, meta={"model": "linear"})
    every = ModelCheckpoint(tmp_path / "ck-{epoch:02d}-{val_loss:.2f}.npz", save_best_only=False)
    _fit(linear_model, problem, [Scripted(VAL_LOSS[:5]), snaps, best, every], epochs=5)
    ck = load_checkpoint(path)
    assert ck.epoch == 2 and len(ck.history) == 2  # best val_loss 0.5 after epoch 2 of 5
    assert ck.meta == {"engine": "minicnn", "monitor": "val_loss", "best": 0.5,
                       "model": "linear"}
    for key, value in snaps.arrays[1].items():
        assert np.array_equal(ck.model[key], value)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ck-01-1.00.npz", "ck-02-0.50.npz", "ck-03-0.60.npz",
                     "ck-04-0.55.npz", "ck-05-0.70.npz", "runs"]
    assert every.last_path.endswith("ck-05-0.70.npz")
