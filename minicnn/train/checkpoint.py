"""Checkpoints: model, optimiser, epoch and history in one ``.npz`` file, written atomically.

Layout of the file (a NumPy ``.npz``, loaded with ``allow_pickle=False``):

* ``model.<state_dict key>``: the model's arrays;
* ``optimizer.<dotted path>``: every array of the optimiser's nested state
  (e.g. ``optimizer.state.0.exp_avg``); ``extra.<dotted path>`` likewise (RNG, scheduler);
* ``__checkpoint__``: a uint8 array holding UTF-8 JSON: format and version, epoch, history,
  meta, and the structure of the optimiser and extra states with their scalars, each array
  replaced by ``{"__array__": key}``.

The file is written to a temporary file in the same directory, flushed and fsync'ed, then
``os.replace``d over the target (atomic on POSIX and Windows), and the directory is fsync'ed:
a crash at any point leaves either the previous checkpoint or the new one, never a torn file.
"""
from __future__ import annotations

import json
import os
import secrets
import zipfile
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    """The inverse of ``_encode``."""
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if set(obj) == {"__dict__"}:
            return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
        return {k: _decode(v, arrays) for k, v in obj.items()}
    return obj


# ----------------------------------------------------------------------------- writing
def _fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories can't be opened)."""
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez(path, **arrays)``, written to a temporary file beside ``path``, fsync'ed and
    renamed into place, so ``path`` is always either its old content or the complete new one.
    On an exception the temporary file is removed and the exception propagates."""
    path = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(path)
    tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # NOTE: os.open with mode 0o666 lets the umask decide the permissions, as open() would
    # (mkstemp would make the checkpoint private, 0o600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


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
def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` (no pickle is ever loaded)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if HEADER not in z.files:
                raise CheckpointError(f"{os.fspath(path)} is not a minicnn checkpoint "
                                      f"(no {HEADER} entry)")
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CheckpointError(f"cannot read checkpoint {os.fspath(path)}: {exc}") from exc
    header = json.loads(arrays.pop(HEADER).tobytes().decode("utf-8"))
    if header.get("format") != FORMAT or header.get("version", 0) > VERSION:
        raise CheckpointError(f"{os.fspath(path)}: unsupported checkpoint format "
                              f"{header.get('format')!r} version {header.get('version')!r}")
    model = {k: arrays[f"model.{k}"] for k in header["model_keys"]}
    return Checkpoint(
        model=model,
        optimizer=_decode(header["optimizer"], arrays),
        epoch=int(header["epoch"]),
        history=History.from_dict(header["history"]),
        meta=header.get("meta", {}),
        extra=_decode(header.get("extra"), arrays),
    )


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

    The model is checked first: a mismatch raises ``StateMismatchError`` before anything is
    changed. Continue with ``fit(..., start_epoch=ck.epoch, history=ck.history)``.
    """
    ck = load_checkpoint(path)
    engine.load_arrays(model, ck.model)
    if optimizer is not None and ck.optimizer is not None:
        engine.load_optimizer_state(optimizer, ck.optimizer)
    extra = ck.extra if isinstance(ck.extra, dict) else {}
    if scheduler is not None and extra.get("scheduler") is not None:
        scheduler.load_state_dict(extra["scheduler"])
    rng = extra.get("rng") or {}
    if rng.get("engine") is not None and ck.meta.get("engine", engine.name) == engine.name:
        engine.set_rng_state(rng["engine"])
    if train_loader is not None:
        set_loader_rng_state(train_loader, rng.get("loader"))
    return ck
