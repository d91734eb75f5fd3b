"""The fit loop on tiny synthetic problems: learning, history, evaluate/predict, schedulers."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.train import (
    History,
    LRSchedulerCallback,
    MinicnnEngine,
    evaluate,
    fit,
    predict,
    train_epoch,
)

from .helpers import Scripted, blobs, loaders


def test_logistic_regression_learns_and_history_is_complete(problem, linear_model) -> None:
    train, val = loaders(*problem)
    opt = optim.SGD(linear_model.parameters(), lr=0.5)
    history = fit(linear_model, opt, nn.CrossEntropyLoss(), train, 8, engine=MinicnnEngine(),
                  val_loader=val, progress=False)
    assert len(history) == history.epochs == 8
    for key in History.KEYS:
        assert len(getattr(history, key)) == 8
    assert history.acc[0] < 0.9 < history.acc[-1] and history.val_acc[-1] > 0.9
    assert history.loss[-1] < history.loss[0] and history.val_loss[-1] < history.val_loss[0]
    assert history.lr == [0.5] * 8
    assert all(s > 0 for s in history.seconds)
    assert evaluate(linear_model, val, nn.CrossEntropyLoss(), MinicnnEngine()) == pytest.approx(
        (history.val_loss[-1], history.val_acc[-1]))
    restored = History.from_json(json.dumps(json.loads(history.to_json())))
    assert restored == history


def test_epoch_loss_is_the_sample_weighted_mean(problem, linear_model) -> None:
    # 240 samples in batches of 100: the last batch (40) must weigh 40/240, not 1/3
    x, y = problem
    train, _ = loaders(x, y, batch_size=100)
    opt = optim.SGD(linear_model.parameters(), lr=0.0)
    loss, acc = train_epoch(linear_model, opt, nn.CrossEntropyLoss(), train,
                            engine=MinicnnEngine())
    with minicnn.no_grad():
        out = linear_model(minicnn.tensor(x))
        full = nn.CrossEntropyLoss()(out, minicnn.tensor(y)).item()
    assert loss == pytest.approx(full, rel=1e-6)
    assert acc == pytest.approx(float((out.numpy().argmax(1) == y).mean()))


def test_binary_task_learns_with_one_logit(device) -> None:
    x, y = blobs(k=1)
    train, val = loaders(x, y)
    minicnn.manual_seed(0)
    model = nn.Linear(6, 1).to(device)
    opt = optim.SGD(model.parameters(), lr=0.5)
    engine = MinicnnEngine(device)
    history = fit(model, opt, nn.BCEWithLogitsLoss(), train, 5, engine=engine, val_loader=val,
                  progress=False, task="binary")
    assert history.val_acc[-1] > 0.9
    y_true, y_pred, scores = predict(model, val, engine, task="binary")
    assert y_true.shape == y_pred.shape == scores.shape == (240,)
    assert np.array_equal(y_pred, (scores > 0.5).astype(np.int64))
    assert np.all((scores > 0) & (scores < 1))


def test_predict_and_evaluate_restore_the_mode(problem, linear_model) -> None:
    _, val = loaders(*problem)
    model = nn.Sequential(linear_model, nn.Dropout(0.5))
    model.train()
    y_true, y_pred, scores = predict(model, val, MinicnnEngine())
    assert model.training and model[1].training
    assert scores.shape == (240, 3) and np.allclose(scores.sum(axis=1), 1)
    assert np.array_equal(y_pred, scores.argmax(axis=1))
    assert np.array_equal(y_true, problem[1])
    model.eval()
    evaluate(model, val, nn.CrossEntropyLoss(), MinicnnEngine())
    assert not model.training


def test_callback_can_stop_and_sees_every_hook(problem, linear_model) -> None:
    train, _ = loaders(*problem)
    calls = []

    class Recorder:
        def on_train_begin(self, state):
            calls.append("begin")

        def on_epoch_begin(self, epoch):
            calls.append(f"epoch {epoch}")

        def on_epoch_end(self, epoch, logs):
            calls.append(f"end {epoch} {sorted(k for k in logs if logs[k] is not None)}")
            return epoch == 1

        def on_train_end(self, state):
            calls.append(f"train end {state.stop_training}")

    history = fit(linear_model, optim.SGD(linear_model.parameters(), lr=0.1),
                  nn.CrossEntropyLoss(), train, 5, engine=MinicnnEngine(),
                  callbacks=[Recorder()], progress=False)
    keys = "['acc', 'epoch', 'loss', 'lr', 'seconds']"
    assert calls == ["begin", "epoch 0", f"end 0 {keys}", "epoch 1", f"end 1 {keys}",
                     "train end True"]
    assert len(history) == 2 and history.val_loss == [None, None]


def test_schedulers_step_once_per_epoch(problem, linear_model) -> None:
    train, val = loaders(*problem)
    opt = optim.SGD(linear_model.parameters(), lr=0.1)
    step = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(linear_model, opt, nn.CrossEntropyLoss(), train, 3, engine=MinicnnEngine(),
                  scheduler=step, progress=False)
    assert history.lr == pytest.approx([0.1, 0.05, 0.025])

    opt = optim.SGD(linear_model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    history = fit(linear_model, opt, nn.CrossEntropyLoss(), train, 5, engine=MinicnnEngine(),
                  val_loader=val, progress=False,
                  callbacks=[Scripted([1.0] * 5), LRSchedulerCallback(plateau)])
    # best at epoch 0, two bad epochs (> patience 1) after epoch 2: lr / 10 from epoch 3
    assert history.lr == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01])


def test_bad_task_is_refused(problem, linear_model) -> None:
    train, _ = loaders(*problem)
    with pytest.raises(ValueError, match="task"):
        fit(linear_model, optim.SGD(linear_model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
            train, 1, engine=MinicnnEngine(), task="ranking")


def test_progress_bars_only_on_a_terminal_and_without_side_effects(problem, capsys,
                                                                   monkeypatch) -> None:
    def run() -> History:
        minicnn.manual_seed(0)
        model = nn.Linear(6, 3)
        train, val = loaders(*problem)
        return fit(model, optim.SGD(model.parameters(), lr=0.5), nn.CrossEntropyLoss(), train,
                   2, engine=MinicnnEngine(), val_loader=val, progress=True)

    quiet = run()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # stdout is not a terminal under pytest
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    shown = run()
    out = capsys.readouterr()
    assert "minicnn: epoch 2/2 - loss" in out.out and "minicnn epochs" in out.err
    assert "minicnn epoch 2/2" in out.err  # each bar names its engine
    # the bars must not change the batches (tqdm.auto would draw an extra shuffle)
    assert shown.loss == quiet.loss and shown.val_acc == quiet.val_acc
