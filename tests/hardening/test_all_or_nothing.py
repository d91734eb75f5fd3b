"""All-or-nothing state changes: load_state_dict of modules and optimisers, checkpoint reading
and resuming validate everything first and change nothing on failure; malformed checkpoint
files are named with what is wrong; checkpoint writes leave no temporary file behind."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.train import CheckpointError, MinicnnEngine, load_checkpoint, resume
from minicnn.train.checkpoint import HEADER, save_checkpoint


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _snapshot(model: nn.Module) -> dict[str, tuple[np.ndarray, int]]:
    return {k: (v.numpy().copy(), v._version) for k, v in model.state_dict().items()}


def _assert_unchanged(model: nn.Module, before: dict) -> None:
    for key, t in model.state_dict().items():
        np.testing.assert_array_equal(t.numpy(), before[key][0], err_msg=key)
        assert t._version == before[key][1], key


# --------------------------------------------------------------------- Module.load_state_dict
@pytest.mark.parametrize("value,pattern", [
    ("abc", r'"2.bias", expected a Tensor, an array or a number.*str'),
    (None, r'"2.bias".*received NoneType'),
    (np.array(["a", "b"]), r'"2.bias", expected a numeric array, got dtype <U1'),
    ([1.0, [2.0, 3.0]], r'"2.bias", its value \(list\) is not an array'),
    (np.zeros(3), r"size mismatch for 2.bias: copying a param with shape torch.Size\(\[3\]\)"),
], ids=["text", "none", "text-array", "ragged-list", "shape"])
def test_a_bad_last_entry_loads_nothing(value: Any, pattern: str) -> None:
    model = _model()
    source = {k: np.full(tuple(v.shape), 7, dtype=v.dtype) for k, v in
              model.state_dict().items()}
    source["2.bias"] = value
    before = _snapshot(model)
    with pytest.raises(RuntimeError, match=pattern):
        model.load_state_dict(source)
    _assert_unchanged(model, before)


def test_non_integer_values_for_an_integer_buffer_and_a_non_mapping_are_refused() -> None:
    model = _model()
    before = _snapshot(model)
    source = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    source["1.num_batches_tracked"] = np.array(2.5)
    with pytest.raises(RuntimeError, match=r'"1.num_batches_tracked".*int64.*non-integer'):
        model.load_state_dict(source)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got list"):
        model.load_state_dict(list(source.items()))
    _assert_unchanged(model, before)
    source["1.num_batches_tracked"] = np.array(3.0)  # an integral float is fine, as in torch
    model.load_state_dict(source)
    assert int(model[1].num_batches_tracked.item()) == 3


# --------------------------------------------------------------------- Optimizer.load_state_dict
def _trained(opt_cls: Any, **kwargs: Any) -> tuple[nn.Module, Any]:
    minicnn.manual_seed(1)
    model = _model()
    opt = opt_cls(model.parameters(), **kwargs)
    for _ in range(2):
        opt.zero_grad()
        model(minicnn.randn(8, 3)).pow(2).sum().backward()
        opt.step()
    return model, opt


def _opt_snapshot(opt: Any) -> tuple:
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    state = {id(p): {k: np.array(v, copy=True) for k, v in s.items()}
             for p, s in opt.state.items()}
    return groups, state


def _assert_opt_unchanged(opt: Any, before: tuple) -> None:
    groups, state = _opt_snapshot(opt)
    assert groups == before[0]
    assert state.keys() == before[1].keys()
    for key, values in state.items():
        for name, value in values.items():
            np.testing.assert_array_equal(value, before[1][key][name])


def _bad_optimizer_states() -> list:
    sgd_state = _trained(optim.SGD, lr=0.1, momentum=0.9)[1].state_dict()
    adam_state = _trained(optim.Adam, lr=0.01)[1].state_dict()
    wrong_shape = _trained(optim.SGD, lr=0.1, momentum=0.9)[1].state_dict()
    wrong_shape["state"][2]["momentum_buffer"] = np.zeros((3, 3))
    unknown = _trained(optim.SGD, lr=0.1, momentum=0.9)[1].state_dict()
    unknown["state"][17] = {"momentum_buffer": np.zeros(2)}
    text_lr = _trained(optim.SGD, lr=0.1, momentum=0.9)[1].state_dict()
    text_lr["param_groups"][0]["lr"] = "0.1"
    text_state = _trained(optim.SGD, lr=0.1, momentum=0.9)[1].state_dict()
    text_state["state"][0]["momentum_buffer"] = "fast"
    fewer = _trained(optim.SGD, lr=0.1, momentum=0.9)[1].state_dict()
    fewer["param_groups"][0]["params"] = fewer["param_groups"][0]["params"][:-1]
    return [
        (adam_state, ValueError, r"parameter group 0 .*has no momentum, dampening, nesterov "
                                 r"\(hyper-parameters of SGD\).*betas.*another optimizer"),
        (wrong_shape, ValueError, r"state 'momentum_buffer' of parameter 2 has shape \(3, 3\), "
                                  r"but the parameter has shape \(4,\)"),
        (unknown, ValueError, r"state for parameter 17"),
        (text_lr, TypeError, r"lr \(in parameter group 0\) must be a real number, got str"),
        (text_state, TypeError, r"state 'momentum_buffer' of parameter 0 must be an array"),
        (fewer, ValueError, r"doesn't match the size of optimizer's group.*\[5\], expected \[6\]"),
        ({"param_groups": sgd_state["param_groups"]}, ValueError, r"has no state entry"),
        ([sgd_state], TypeError, r"expected a dict with 'state' and 'param_groups', got list"),
        ({"state": {}, "param_groups": "all"}, TypeError, r"'param_groups' must be a list"),
    ]


@pytest.mark.parametrize("index", range(9))
def test_an_optimizer_state_that_does_not_fit_changes_nothing(index: int) -> None:
    state, error, pattern = _bad_optimizer_states()[index]
    model, opt = _trained(optim.SGD, lr=0.1, momentum=0.9)
    _, twin = _trained(optim.SGD, lr=0.1, momentum=0.9)
    before = _opt_snapshot(opt)
    with pytest.raises(error, match=pattern):
        opt.load_state_dict(state)
    _assert_opt_unchanged(opt, before)
    # and it still steps as its twin that saw no failed load
    assert opt.state_dict()["param_groups"] == twin.state_dict()["param_groups"]


# --------------------------------------------------------------------- checkpoints
def _training_setup(opt_cls: Any = optim.SGD) -> tuple:
    minicnn.manual_seed(5)
    model = _model()
    opt = opt_cls(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    model(minicnn.randn(8, 3)).sum().backward()
    opt.step()
    sched.step()
    return model, opt, sched


def _save(path: Path, model: Any, opt: Any, sched: Any = None) -> None:
    engine = MinicnnEngine()
    extra = {"scheduler": sched.state_dict()} if sched is not None else None
    save_checkpoint(path, engine.state_arrays(model), engine.optimizer_state_arrays(opt),
                    epoch=3, meta={"engine": "minicnn"}, extra=extra)


def _everything(model: Any, opt: Any, sched: Any) -> tuple:
    engine = MinicnnEngine()
    return (engine.state_arrays(model), _opt_snapshot(opt), dict(sched.state_dict()),
            engine.rng_state())


def _assert_same(before: tuple, model: Any, opt: Any, sched: Any) -> None:
    arrays, opt_state, sched_state, rng = before
    now = MinicnnEngine().state_arrays(model)
    for k, v in arrays.items():
        np.testing.assert_array_equal(now[k], v, err_msg=k)
    _assert_opt_unchanged(opt, opt_state)
    assert sched.state_dict() == sched_state
    assert MinicnnEngine().rng_state() == rng


def test_resume_with_another_optimizer_changes_nothing(tmp_path: Path) -> None:
    _save(tmp_path / "adam.npz", *_training_setup(optim.Adam))
    model, opt, sched = _training_setup(optim.SGD)
    minicnn.manual_seed(99)
    before = _everything(model, opt, sched)
    with pytest.raises(ValueError, match=r"momentum.*another optimizer"):
        resume(tmp_path / "adam.npz", model, opt, MinicnnEngine(), scheduler=sched)
    _assert_same(before, model, opt, sched)


def test_resume_failing_at_the_scheduler_puts_model_and_optimizer_back(tmp_path: Path) -> None:
    saved_model, saved_opt, _ = _training_setup()
    plateau = optim.lr_scheduler.ReduceLROnPlateau(saved_opt)
    _save(tmp_path / "ck.npz", saved_model, saved_opt, plateau)  # a scheduler of another kind
    model, opt, sched = _training_setup()
    with minicnn.no_grad():
        model[0].weight.add_(1.0)  # differs from the checkpoint: loading it would show
    before = _everything(model, opt, sched)
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: unknown entries"):
        resume(tmp_path / "ck.npz", model, opt, MinicnnEngine(), scheduler=sched)
    _assert_same(before, model, opt, sched)


def _write_npz(path: Path, header: Any, **arrays: np.ndarray) -> None:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    np.savez(path, **{HEADER: np.frombuffer(text, dtype=np.uint8)}, **arrays)


GOOD = {"format": "minicnn-checkpoint", "version": 1, "epoch": 2, "history": {},
        "meta": {}, "model_keys": ["w"], "optimizer": None, "extra": None}


@pytest.mark.parametrize("header,arrays,pattern", [
    (b"{not json", {"model.w": np.zeros(2)}, r"__checkpoint__ entry is not UTF-8 JSON"),
    (b"\xff\xfe", {"model.w": np.zeros(2)}, r"not UTF-8 JSON"),
    ([1, 2], {"model.w": np.zeros(2)}, r"is not a JSON object"),
    ({**GOOD, "version": 7}, {"model.w": np.zeros(2)}, r"unsupported checkpoint format"),
    ({k: v for k, v in GOOD.items() if k != "epoch"}, {"model.w": np.zeros(2)},
     r"header lacks epoch"),
    (GOOD, {}, r"model arrays w listed in the header are missing"),
    ({**GOOD, "epoch": -1}, {"model.w": np.zeros(2)}, r"epoch must be a non-negative integer"),
    ({**GOOD, "epoch": "2"}, {"model.w": np.zeros(2)}, r"epoch must be.*'2'"),
    ({**GOOD, "model_keys": "w"}, {"model.w": np.zeros(2)}, r"model_keys must be a list"),
    ({**GOOD, "optimizer": {"__array__": "optimizer.state.0.m"}}, {"model.w": np.zeros(2)},
     r"malformed checkpoint header.*'optimizer.state.0.m'.*missing"),
    ({**GOOD, "history": [1, 2]}, {"model.w": np.zeros(2)}, r"malformed checkpoint header"),
    ({**GOOD, "meta": "x"}, {"model.w": np.zeros(2)}, r"meta must be a JSON object"),
], ids=["json", "utf8", "not-object", "version", "no-epoch", "no-array", "negative-epoch",
        "text-epoch", "keys", "missing-ref", "history", "meta"])
def test_malformed_checkpoint_names_the_file_and_the_problem(tmp_path: Path, header: Any,
                                                             arrays: dict, pattern: str) -> None:
    path = tmp_path / "broken.npz"
    _write_npz(path, header, **arrays)
    with pytest.raises(CheckpointError, match=pattern) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", os.urandom(256)],
                         ids=["empty", "zip-header", "random"])
def test_unreadable_bytes_and_directories(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="junk.npz"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.npz")


def test_a_corrupted_member_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ck.npz"
    save_checkpoint(path, {"w": np.arange(1000.0)}, epoch=1)
    data = bytearray(path.read_bytes())
    start = data.index(b"model.w.npy") + 200  # inside the array's bytes
    data[start:start + 50] = b"\x00" * 50
    path.write_bytes(bytes(data))
    try:
        ck = load_checkpoint(path)
    except CheckpointError as exc:
        assert "ck.npz" in str(exc)
    else:  # a stored (uncompressed) member: the bytes changed, the structure did not
        assert not np.array_equal(ck.model["w"], np.arange(1000.0))


def test_ctrl_c_during_a_checkpoint_write_keeps_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ck.npz"
    save_checkpoint(path, {"w": np.zeros(3)}, epoch=1)
    real = np.savez

    def interrupted(file: Any, **arrays: Any) -> None:
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": np.ones(3)}, epoch=2)
    monkeypatch.setattr(np, "savez", real)
    assert load_checkpoint(path).epoch == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


def test_stale_temporaries_of_a_killed_writer_are_removed_on_the_next_write(
        tmp_path: Path) -> None:
    path = tmp_path / "ck.npz"
    dead = tmp_path / ".ck.npz.999999999.0badf00d.tmp"  # no such process
    dead.write_bytes(b"left by a killed writer")
    save_checkpoint(path, {"w": np.zeros(3)}, epoch=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
