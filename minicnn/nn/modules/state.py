"""``Module.load_state_dict``: every key and value checked first, then everything copied."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import Tensor, increment_version


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: the keys it did not find, and those it did not use."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _size(shape: tuple) -> str:
    return f"torch.Size({list(shape)})"


def _source_array(key: str, value: Any) -> tuple[Any, str | None]:
    """(array, None) for a usable state_dict value, or (None, what is wrong with it).

    Accepted: a minicnn Tensor, a NumPy or device array, a number, or anything ``np.asarray``
    makes a numeric array of (a CPU torch tensor, a nested list)."""
    where = f'While copying the parameter named "{key}", '
    if isinstance(value, Tensor):
        arr = value.data
    elif type(value) is np.ndarray or backend.device_of(value) is not backend.CPU:
        arr = value
    elif value is None or isinstance(value, (str, bytes, dict, set)):
        return None, (f"{where}expected a Tensor, an array or a number from the checkpoint "
                      f"but received {type(value).__name__}")
    else:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:
            return None, f"{where}its value ({type(value).__name__}) is not an array: {exc}"
    if arr.dtype.kind not in "biuf":
        return None, (f"{where}expected a numeric array, got dtype {arr.dtype} "
                      f"({type(value).__name__})")
    return arr, None


def load_state_dict(module: Any, state_dict: Mapping[str, Any], strict: bool) -> IncompatibleKeys:
    """The body of ``Module.load_state_dict`` (see there)."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
    own = dict(module._state_items())
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    errors: list[str] = []
    if strict:
        if missing:
            errors.append("Missing key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in missing)))
        if unexpected:
            errors.append("Unexpected key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in unexpected)))
    sources = {}
    for key, t in own.items():
        if key not in state_dict:
            continue
        arr, problem = _source_array(key, state_dict[key])
        if problem is None and tuple(arr.shape) != t.shape:
            problem = (f"size mismatch for {key}: copying a param with shape "
                       f"{_size(tuple(arr.shape))} from checkpoint, the shape in current model "
                       f"is {_size(t.shape)}.")
        if problem is None and t.dtype.kind in "biu" and arr.dtype.kind == "f" and \
                not bool((arr == arr.round()).all()):
            problem = (f'While copying the parameter named "{key}", its {t.dtype} tensor '
                       f"cannot hold the non-integer values of a {arr.dtype} array")
        if problem is not None:
            errors.append(problem)
            continue
        # NOTE: converted (device, dtype) now, so that copying below cannot fail half-way.
        arr = backend.to_device(arr, backend.device_of(t.data))
        sources[key] = arr.astype(t.dtype, copy=False)
    if errors:
        raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
            type(module).__name__, "\n\t".join(errors)))
    for key, arr in sources.items():
        t = own[key]
        t.data[...] = arr
        increment_version(t)
    return IncompatibleKeys(missing, unexpected)
