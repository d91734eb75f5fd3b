"""The same ``fit`` trains a PyTorch model: learning, parity with minicnn, exact resume."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.data import DataLoader, TensorDataset
from minicnn.train import MinicnnEngine, ModelCheckpoint, TorchEngine, fit, predict, resume

from .helpers import blobs, loaders

torch = pytest.importorskip("torch")


def test_torch_model_learns_through_the_same_fit(problem) -> None:
    train, val = loaders(*problem)
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    engine = TorchEngine()
    history = fit(model, opt, torch.nn.CrossEntropyLoss(), train, 6, engine=engine,
                  val_loader=val, progress=False)
    assert history.val_acc[-1] > 0.9 and history.loss[-1] < history.loss[0]
    y_true, y_pred, scores = predict(model, val, engine)
    assert y_pred.shape == (240,) and scores.shape == (240, 3)
    assert (y_true == y_pred).mean() == pytest.approx(history.val_acc[-1])


def test_binary_torch_model(problem) -> None:
    x, y = blobs(k=1)
    train, val = loaders(x, y)
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 1)
    history = fit(model, torch.optim.SGD(model.parameters(), lr=0.5),
                  torch.nn.BCEWithLogitsLoss(), train, 4, engine=TorchEngine(), val_loader=val,
                  progress=False, task="binary")
    assert history.val_acc[-1] > 0.9


def _twins(seed: int):
    """A minicnn model and its torch twin with the same float64 weights."""
    minicnn.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(),
                                 torch.nn.Linear(8, 3)).double()
    TorchEngine().load_arrays(theirs, MinicnnEngine().state_arrays(ours))
    return ours, theirs


def test_both_engines_agree_step_for_step_in_float64(problem) -> None:
    x, y = blobs(dtype=np.float64)
    ours, theirs = _twins(0)
    runs = []
    for model, engine, opt_cls, loss in (
            (ours, MinicnnEngine(), optim.SGD, nn.CrossEntropyLoss()),
            (theirs, TorchEngine(), torch.optim.SGD, torch.nn.CrossEntropyLoss())):
        train, val = loaders(x, y, seed=3)  # the same shuffles for both
        opt = opt_cls(model.parameters(), lr=0.1, momentum=0.9)
        runs.append(fit(model, opt, loss, train, 3, engine=engine, val_loader=val,
                        progress=False))
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(getattr(runs[0], key), getattr(runs[1], key), rtol=1e-9)
    assert runs[0].acc == runs[1].acc
    a, b = MinicnnEngine().state_arrays(ours), TorchEngine().state_arrays(theirs)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-12)


def _torch_setup(seed: int):
    x, y = blobs(n=120, dtype=np.float64)
    train = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=5)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                torch.nn.Linear(16, 3)).double()
    return model, torch.optim.Adam(model.parameters(), lr=1e-2), train


def test_torch_resume_continues_bit_for_bit(tmp_path) -> None:
    engine, loss = TorchEngine(), torch.nn.CrossEntropyLoss()
    model, opt, train = _torch_setup(0)
    straight = fit(model, opt, loss, train, 3, engine=engine, progress=False)
    expected = engine.state_arrays(model)

    model, opt, train = _torch_setup(0)
    fit(model, opt, loss, train, 2, engine=engine, progress=False,
        callbacks=[ModelCheckpoint(tmp_path / "ck.npz", monitor="loss",
                                   save_best_only=False)])
    model, opt, train = _torch_setup(99)
    ck = resume(tmp_path / "ck.npz", model, opt, engine, train_loader=train)
    resumed = fit(model, opt, loss, train, 3, engine=engine, progress=False,
                  start_epoch=ck.epoch, history=ck.history)
    assert resumed.loss == straight.loss and resumed.acc == straight.acc
    got = engine.state_arrays(model)
    assert all(np.array_equal(got[k], v) for k, v in expected.items())
    assert int(opt.state_dict()["state"][0]["step"]) == 3 * 8


@pytest.mark.parametrize("name", ["minicnn", "torch"])
def test_the_one_adapter_gives_framework_modules_leaves_and_devices(name: str) -> None:
    """What the runner and the benchmarks take from an engine, the same for both."""
    from minicnn.train import get_engine

    engine = get_engine(name)
    model = engine.to_device(engine.nn.Linear(3, 2))
    assert isinstance(engine.optim.SGD(model.parameters(), lr=0.1), engine.optim.Optimizer)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    leaf = engine.tensor(x, requires_grad=True)
    assert leaf.requires_grad and engine.tensor(x).requires_grad is False
    engine.functional.relu(model(leaf)).sum().backward()
    assert leaf.grad is not None and tuple(leaf.grad.shape) == (2, 3)
    np.testing.assert_array_equal(engine.to_numpy(leaf), x)
