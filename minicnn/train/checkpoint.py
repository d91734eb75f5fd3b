"""Checkpoints: model, optimiser, epoch and history in one ``.npz`` file, written atomically.

Layout of the file (a NumPy ``.npz``, loaded with ``allow_pickle=False``):

* ``model.<state_dict key>``: the model's arrays;
* ``optimizer.<dotted path>``: every array of the optimiser's nested state
  (e.g. ``optimizer.state.0.exp_avg``); ``extra.<dotted path>`` likewise (RNG, scheduler);
* ``__checkpoint__``: a uint8 array holding UTF-8 JSON: format and version, epoch, history,
  meta, and the structure of the optimiser and extra states with their scalars, each array
  replaced by ``{"__array__": key}``.

The file is written by ``minicnn.fileio.atomic_write``: to a temporary file in the same
directory, flushed and fsync'ed, then ``os.replace``d over the target (atomic on POSIX and
Windows): a crash at any point leaves either the previous checkpoint or the new one, never a
torn file, and the temporary file is removed on any error (Ctrl-C included), or on the next
write if the writer was killed.
"""
from __future__ import annotations

import copy
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minicnn import fileio
from minicnn.train.history import History

FORMAT = "minicnn-checkpoint"
VERSION = 1
HEADER = "__checkpoint__"


class CheckpointError(RuntimeError):
    """A file that is not a readable minicnn checkpoint."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``epoch`` is the number of epochs completed."""

    model: dict[str, np.ndarray]
    optimizer: Any
    epoch: int
    history: History
    meta: dict[str, Any] = field(default_factory=dict)
    extra: Any = None


# ----------------------------------------------------------------------------- nested state
def _encode(obj: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """``obj`` as JSON-able structure; arrays are moved into ``arrays`` under dotted keys."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"{key}: object arrays cannot be stored without pickle")
        while key in arrays:  # NOTE: a dict key holding a dot could collide with a path
            key += "_"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, f"{key}.{k}", arrays) for k, v in obj.items()}
        return {"__dict__": [[_scalar_key(k, key), _encode(v, f"{key}.{k}", arrays)]
                             for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"{key}: cannot store a {type(obj).__name__} in a checkpoint "
                    "(arrays, numbers, strings, None, dicts, lists and tuples only)")


def _scalar_key(k: Any, key: str) -> Any:
    if k is None or isinstance(k, (bool, int, float, str)):
        return k
    raise TypeError(f"{key}: dict key {k!r} of type {type(k).__name__} cannot be stored")


def _decode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of ``_encode`` (a KeyError names an array the file does not hold)."""
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            if obj["__array__"] not in arrays:
                raise KeyError(f"the array {obj['__array__']!r} it refers to is missing")
            return arrays[obj["__array__"]]
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if set(obj) == {"__dict__"}:
            return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
        return {k: _decode(v, arrays) for k, v in obj.items()}
    return obj


# ----------------------------------------------------------------------------- writing
def atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez(path, **arrays)``, all or nothing (``minicnn.fileio.atomic_write``): ``path``
    is always either its old content or the complete new one."""
    with fileio.atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


def save_checkpoint(path: str | os.PathLike, model_arrays: dict[str, np.ndarray],
                    optimizer_arrays: Any = None, epoch: int = 0,
                    history: History | dict | None = None, meta: dict | None = None,
                    extra: Any = None) -> None:
    """Save a checkpoint atomically to ``path`` (a ``.npz`` file).

    ``model_arrays``: ``engine.state_arrays(model)``; ``optimizer_arrays``: the nested state of
    ``engine.optimizer_state_arrays(opt)`` (dicts, lists, tuples, arrays and scalars);
    ``epoch``: epochs completed; ``history``: a History or its dict; ``meta``: JSON-able
    information (engine, model name, ...); ``extra``: more nested state (RNG, scheduler).
    """
    arrays: dict[str, np.ndarray] = {}
    for k, v in model_arrays.items():
        arr = np.asarray(v)
        if arr.dtype.hasobject:
            raise TypeError(f"model.{k}: object arrays cannot be stored without pickle")
        arrays[f"model.{k}"] = arr
    if isinstance(history, History):
        history = history.to_dict()
    header = {
        "format": FORMAT, "version": VERSION, "epoch": int(epoch),
        "history": history if history is not None else History().to_dict(),
        "meta": meta or {}, "model_keys": list(model_arrays),
        "optimizer": _encode(optimizer_arrays, "optimizer", arrays),
        "extra": _encode(extra, "extra", arrays),
    }
    text = json.dumps(header)  # NOTE: Python's JSON keeps inf/nan (as Infinity/NaN)
    arrays[HEADER] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    atomic_savez(path, arrays)


# ----------------------------------------------------------------------------- reading
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, KeyError)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` (no pickle is ever loaded).

    A missing file raises FileNotFoundError; a file that is not a complete minicnn checkpoint
    raises ``CheckpointError`` naming the file and what is wrong with it.
    """
    name = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if HEADER not in z.files:
                raise CheckpointError(f"{name} is not a minicnn checkpoint (no {HEADER} entry)")
            arrays = {k: z[k] for k in z.files}
    except _READ_ERRORS as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CheckpointError(f"cannot read checkpoint {name}: {type(exc).__name__}: "
                              f"{exc}") from exc
    try:
        header = json.loads(arrays.pop(HEADER).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{name}: its {HEADER} entry is not UTF-8 JSON "
                              f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: its {HEADER} entry is not a JSON object")
    if header.get("format") != FORMAT or not isinstance(header.get("version"), int) or \
            header["version"] > VERSION:
        raise CheckpointError(f"{name}: unsupported checkpoint format "
                              f"{header.get('format')!r} version {header.get('version')!r}")
    return _checkpoint_from(name, header, arrays)


def _checkpoint_from(name: str, header: dict, arrays: dict[str, np.ndarray]) -> Checkpoint:
    """The Checkpoint described by a parsed header, or a CheckpointError saying what is
    missing or malformed in it."""
    missing = [k for k in ("epoch", "model_keys", "history", "optimizer") if k not in header]
    if missing:
        raise CheckpointError(f"{name}: the checkpoint header lacks {', '.join(missing)}")
    keys = header["model_keys"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CheckpointError(f"{name}: model_keys must be a list of names, got {keys!r:.100}")
    absent = [k for k in keys if f"model.{k}" not in arrays]
    if absent:
        raise CheckpointError(f"{name}: the model arrays {', '.join(absent)} listed in the "
                              "header are missing from the file")
    epoch = header["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise CheckpointError(f"{name}: epoch must be a non-negative integer, got {epoch!r}")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise CheckpointError(f"{name}: meta must be a JSON object, got {meta!r:.100}")
    try:
        history = History.from_dict(header["history"])
        optimizer = _decode(header["optimizer"], arrays)
        extra = _decode(header.get("extra"), arrays)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{name}: malformed checkpoint header ({type(exc).__name__}: "
                              f"{exc})") from exc
    return Checkpoint(model={k: arrays[f"model.{k}"] for k in keys}, optimizer=optimizer,
                      epoch=epoch, history=history, meta=meta, extra=extra)


def loader_rng_state(loader: Any) -> Any:
    """The state of a data loader's shuffling generator (None if it has none we know)."""
    gen = getattr(loader, "generator", None) or getattr(loader, "_generator", None)
    if isinstance(gen, np.random.Generator):
        return gen.bit_generator.state
    if gen is not None and hasattr(gen, "get_state"):  # a torch.Generator
        return gen.get_state().numpy().copy()
    return None


def set_loader_rng_state(loader: Any, state: Any) -> None:
    """Restore a state given by ``loader_rng_state``."""
    gen = getattr(loader, "generator", None) or getattr(loader, "_generator", None)
    if state is None or gen is None:
        return
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
    else:
        import torch

        gen.set_state(torch.from_numpy(np.asarray(state, dtype=np.uint8)))


def training_extra(engine: Any, scheduler: Any = None, train_loader: Any = None) -> dict:
    """The state beyond model and optimiser that an exact resume needs: the engine's and the
    training loader's random generators and the scheduler's state."""
    extra: dict[str, Any] = {"rng": {"engine": engine.rng_state(),
                                     "loader": loader_rng_state(train_loader)}}
    if scheduler is not None and hasattr(scheduler, "state_dict"):
        extra["scheduler"] = scheduler.state_dict()
    return extra


def resume(path: str | os.PathLike, model: Any, optimizer: Any, engine: Any, *,
           scheduler: Any = None, train_loader: Any = None) -> Checkpoint:
    """Restore ``model``, ``optimizer`` (and, when given and saved, ``scheduler``, the engine's
    random generator and ``train_loader``'s shuffling generator) from a checkpoint.

    All or nothing: the file is read and checked first (``CheckpointError`` if it is not a
    readable checkpoint), and if any part then fails to load (``StateMismatchError`` for a
    model that does not match, the optimizer's error for a state of another optimizer...),
    everything loaded so far is put back as it was before the error propagates.
    Continue with ``fit(..., start_epoch=ck.epoch, history=ck.history)``.
    """
    ck = load_checkpoint(path)
    extra = ck.extra if isinstance(ck.extra, dict) else {}
    rng = extra.get("rng") if isinstance(extra.get("rng"), dict) else {}
    undo = _snapshot(model, optimizer, engine, scheduler, train_loader)
    try:
        engine.load_arrays(model, ck.model)
        if optimizer is not None and ck.optimizer is not None:
            engine.load_optimizer_state(optimizer, ck.optimizer)
        if scheduler is not None and extra.get("scheduler") is not None:
            scheduler.load_state_dict(extra["scheduler"])
        if rng.get("engine") is not None and ck.meta.get("engine", engine.name) == engine.name:
            engine.set_rng_state(rng["engine"])
        if train_loader is not None:
            set_loader_rng_state(train_loader, rng.get("loader"))
    except BaseException:
        undo()
        raise
    return ck


def _snapshot(model: Any, optimizer: Any, engine: Any, scheduler: Any,
              train_loader: Any) -> Any:
    """A function that puts the model, optimizer, scheduler and generators back as they are
    now (copies are taken here)."""
    model_arrays = engine.state_arrays(model)
    opt_state = engine.optimizer_state_arrays(optimizer) if optimizer is not None else None
    sched_state = copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None
    rng_state = engine.rng_state()
    loader_state = loader_rng_state(train_loader) if train_loader is not None else None

    def undo() -> None:
        engine.load_arrays(model, model_arrays)
        if opt_state is not None:
            engine.load_optimizer_state(optimizer, opt_state)
        if sched_state is not None:
            scheduler.load_state_dict(copy.deepcopy(sched_state))
        engine.set_rng_state(rng_state)
        if train_loader is not None:
            set_loader_rng_state(train_loader, loader_state)

    return undo
