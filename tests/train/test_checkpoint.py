"""Checkpoints: round trip, crash safety (exceptions and hard exits mid-write), exact resume,
and loading a checkpoint that does not match the model."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.data import DataLoader, TensorDataset
from minicnn.train import (
    CheckpointError,
    History,
    MinicnnEngine,
    ModelCheckpoint,
    StateMismatchError,
    fit,
    load_checkpoint,
    resume,
    save_checkpoint,
)

from .helpers import blobs

ROOT = Path(__file__).resolve().parents[2]


def _arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"0.weight": rng.normal(size=(4, 3)), "0.bias": rng.normal(size=4).astype(np.float32),
            "bn.num_batches_tracked": np.array(7, dtype=np.int64)}


def test_round_trip_of_nested_state(tmp_path) -> None:
    model = _arrays(0)
    opt_state = {"state": {0: {"step": 3, "exp_avg": np.arange(4.0)},
                           1: {"step": np.array(3.0, np.float32), "momentum_buffer": None}},
                 "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                   "foreach": None, "maximize": False}]}
    history = History(loss=[1.0, 0.5], acc=[0.5, 0.75], val_loss=[None, 0.6],
                      val_acc=[None, 0.7], lr=[0.1, 0.1], seconds=[1.5, 1.25])
    extra = {"best": math.inf, "rng": {"state": 2**100 + 3, "name": "PCG64"}}
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, opt_state, epoch=2, history=history, meta={"engine": "x"},
                    extra=extra)
    with np.load(path, allow_pickle=False) as z:  # a plain npz: dotted keys, no pickle
        assert "optimizer.state.0.exp_avg" in z.files and "model.0.weight" in z.files
    ck = load_checkpoint(path)
    assert list(ck.model) == list(model)
    for key, value in model.items():
        assert ck.model[key].dtype == value.dtype and np.array_equal(ck.model[key], value)
    assert ck.epoch == 2 and ck.history == history and ck.meta == {"engine": "x"}
    assert ck.extra == extra
    got = ck.optimizer
    assert list(got["state"]) == [0, 1] and got["state"][0]["step"] == 3
    assert np.array_equal(got["state"][0]["exp_avg"], np.arange(4.0))
    assert got["state"][1]["step"].dtype == np.float32
    assert got["state"][1]["momentum_buffer"] is None
    assert got["param_groups"] == opt_state["param_groups"]  # the tuple stays a tuple


def test_unreadable_files_and_object_arrays_are_refused(tmp_path) -> None:
    with pytest.raises(TypeError, match="object"):
        save_checkpoint(tmp_path / "x.npz", {"w": np.array([None, 1], dtype=object)})
    good = tmp_path / "good.npz"
    save_checkpoint(good, _arrays(0))
    torn = tmp_path / "torn.npz"
    torn.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="torn.npz"):
        load_checkpoint(torn)
    other = tmp_path / "other.npz"
    np.savez(other, w=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a minicnn checkpoint"):
        load_checkpoint(other)
    assert not list(tmp_path.glob(".*.tmp"))


def test_exception_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ck.npz"
    save_checkpoint(path, _arrays(0), epoch=1)
    import numpy.lib.format as npy_format

    real, calls = npy_format.write_array, []

    def failing(fid, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            fid.write(b"half an array")
            raise OSError("disk full")
        return real(fid, array, *args, **kwargs)

    monkeypatch.setattr(npy_format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _arrays(1), epoch=2)
    monkeypatch.undo()
    ck = load_checkpoint(path)
    assert ck.epoch == 1 and np.array_equal(ck.model["0.weight"], _arrays(0)["0.weight"])
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]  # the temporary file is gone


CRASH = textwrap.dedent("""
    import os, sys
    import numpy as np
    import numpy.lib.format as npy_format
    sys.path.insert(0, {root!r})
    from minicnn.train.checkpoint import save_checkpoint

    where = sys.argv[2]
    real, calls = npy_format.write_array, []

    def dying(fid, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            fid.write(b"half an array")
            fid.flush()
            os._exit(17)
        return real(fid, array, *args, **kwargs)

    if where == "write":
        npy_format.write_array = dying
    else:  # complete temporary file, killed just before the rename
        os.replace = lambda *a: os._exit(17)
    rng = np.random.default_rng(1)
    save_checkpoint(sys.argv[1], {{"0.weight": rng.normal(size=(4, 3)),
                                   "0.bias": np.ones(4)}}, epoch=2)
""")


@pytest.mark.parametrize("where", ["write", "rename"])
def test_hard_crash_never_leaves_a_torn_checkpoint(tmp_path, where) -> None:
    script = tmp_path / "crash.py"
    script.write_text(CRASH.format(root=str(ROOT)))
    path = tmp_path / "ck.npz"
    run = [sys.executable, str(script), str(path), where]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # no checkpoint yet: the crash leaves none (only a hidden temporary file)
    assert subprocess.run(run, env=env, check=False).returncode == 17
    assert not path.exists()
    save_checkpoint(path, _arrays(0), epoch=1)
    assert subprocess.run(run, env=env, check=False).returncode == 17
    ck = load_checkpoint(path)
    assert ck.epoch == 1 and np.array_equal(ck.model["0.weight"], _arrays(0)["0.weight"])
    assert all(p.name.endswith(".tmp") for p in tmp_path.glob(".ck.npz.*"))


def _setup(init_seed: int):
    x, y = blobs(n=120, dtype=np.float64)
    train = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=5)
    val = DataLoader(TensorDataset(x, y), batch_size=64)
    minicnn.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    model.double()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    # NOTE: mode 'max' on a falling val_loss: every epoch after the first is "bad", so the
    # scheduler acts (its state matters for the resume)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    return model, opt, sched, train, val


def _run(model, opt, sched, train, val, epochs, **kwargs):
    return fit(model, opt, nn.CrossEntropyLoss(), train, epochs, engine=MinicnnEngine(),
               val_loader=val, scheduler=sched, progress=False, **kwargs)


def test_resume_continues_bit_for_bit(tmp_path) -> None:
    engine = MinicnnEngine()
    model, opt, sched, train, val = _setup(0)
    straight = _run(model, opt, sched, train, val, 3)
    expected, expected_sched = engine.state_arrays(model), sched.state_dict()

    model, opt, sched, train, val = _setup(0)
    _run(model, opt, sched, train, val, 2,
         callbacks=[ModelCheckpoint(tmp_path / "ck.npz", save_best_only=False)])
    # a new process: other weights, other global seed, fresh loader, optimiser and scheduler
    model, opt, sched, train, val = _setup(123)
    ck = resume(tmp_path / "ck.npz", model, opt, engine, scheduler=sched, train_loader=train)
    assert ck.epoch == 2 and len(ck.history) == 2
    resumed = _run(model, opt, sched, train, val, 3, start_epoch=ck.epoch, history=ck.history)

    got = engine.state_arrays(model)
    for key, value in expected.items():
        assert got[key].dtype == np.float64 and np.array_equal(got[key], value), key
    for key in ("loss", "acc", "val_loss", "val_acc", "lr"):
        assert getattr(resumed, key) == getattr(straight, key), key
    assert straight.lr == [0.05, 0.05, 0.025] and sched.state_dict() == expected_sched


@pytest.mark.parametrize("engine_name", ["minicnn", "torch"])
def test_mismatched_checkpoint_is_refused_and_model_untouched(tmp_path, engine_name) -> None:
    if engine_name == "torch":
        torch = pytest.importorskip("torch")
        from minicnn.train import TorchEngine

        engine, model = TorchEngine(), torch.nn.Sequential(torch.nn.Linear(3, 4),
                                                           torch.nn.Linear(4, 2))
    else:
        engine, model = MinicnnEngine(), nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = engine.state_arrays(model)
    arrays = {k: np.ones_like(v) for k, v in before.items()}
    del arrays["1.bias"]
    arrays["0.weight"] = np.ones((5, 3))
    arrays["2.weight"] = np.ones((2, 2))
    save_checkpoint(tmp_path / "bad.npz", arrays)
    with pytest.raises(StateMismatchError) as info:
        resume(tmp_path / "bad.npz", model, None, engine)
    message = str(info.value)
    assert "missing keys: 1.bias" in message and "unexpected keys: 2.weight" in message
    assert "shape mismatch for 0.weight: saved [5, 3], model has [4, 3]" in message
    after = engine.state_arrays(model)
    for key, value in before.items():
        assert np.array_equal(after[key], value)
