"""Array backend: which array module (NumPy or CuPy) holds an array, and host/device moves.

Every op asks ``get_array_module(x)`` for ``xp`` and calls ``xp.exp``, ``xp.matmul``, ... so the
same code runs on NumPy arrays (CPU) and CuPy arrays (GPU). CuPy is optional: without it the
``cuda`` device is simply not registered. Tests register a strict stand-in device through
``register_device`` to prove that no op calls NumPy on device data.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Device:
    """A place arrays live: its name, its array type, its array module and its transfers."""

    name: str
    array_type: type
    xp: ModuleType
    to_device: Callable[[np.ndarray], Any]
    to_host: Callable[[Any], np.ndarray]


CPU = Device("cpu", np.ndarray, np, np.asarray, np.asarray)
_devices: dict[str, Device] = {"cpu": CPU}
_cuda_probe_done = False
_cuda_missing_reason = ""


def register_device(device: Device) -> Device | None:
    """Register ``device`` under its name; return the device it replaces (or None)."""
    previous = _devices.get(device.name)
    _devices[device.name] = device
    return previous


def unregister_device(name: str, previous: Device | None = None) -> None:
    """Remove the device ``name``, restoring ``previous`` if given."""
    if previous is None:
        _devices.pop(name, None)
    else:
        _devices[name] = previous


def _probe_cuda() -> None:
    """Register CuPy as the ``cuda`` device if CuPy imports and sees a GPU."""
    global _cuda_probe_done, _cuda_missing_reason
    if "cuda" in _devices:
        # NOTE: a registered device (a test stand-in) answers for now; not marked as probed,
        # so that once it is unregistered the next call still looks for CuPy and a reason.
        return
    _cuda_probe_done = True
    try:
        import cupy
    except ImportError:
        _cuda_missing_reason = (
            "CuPy is not installed: install the GPU extra with "
            "`pip install 'minicnn[gpu]'` (CuPy for CUDA 13)"
        )
        return
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        count, detail = 0, f" ({exc})"
    else:
        detail = ""
    if count == 0:
        _cuda_missing_reason = (f"CuPy is installed but no CUDA GPU is visible{detail}: check "
                                "the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES")
        return
    register_device(Device("cuda", cupy.ndarray, cupy, cupy.asarray, cupy.asnumpy))


def cuda_available() -> bool:
    """True when a ``cuda`` device (CuPy with a GPU, or a test stand-in) is registered."""
    if not _cuda_probe_done:
        _probe_cuda()
    return "cuda" in _devices


def get_device(name: str) -> Device:
    """The registered device called ``name`` ('cpu', 'cuda' or 'cuda:0')."""
    key = str(name).split(":")[0]
    if key == "cuda" and not _cuda_probe_done:
        _probe_cuda()
    try:
        return _devices[key]
    except KeyError:
        if key == "cuda":
            raise RuntimeError(f"device 'cuda' requested but {_cuda_missing_reason}") from None
        raise ValueError(f"unknown device {name!r}: expected 'cpu' or 'cuda'") from None


def device_of(array: Any) -> Device:
    """The device that holds ``array`` (CPU for NumPy arrays and Python scalars)."""
    if type(array) is np.ndarray:
        return CPU
    if not _cuda_probe_done and not isinstance(array, (np.generic, int, float, bool)):
        _probe_cuda()
    for device in _devices.values():
        if device is not CPU and isinstance(array, device.array_type):
            return device
    return CPU


def get_array_module(*arrays: Any) -> ModuleType:
    """The array module (``numpy`` or a device's, e.g. ``cupy``) of the first device array."""
    for a in arrays:
        if type(a) is not np.ndarray and a is not None:
            device = device_of(a)
            if device is not CPU:
                return device.xp
    return np


def to_device(array: Any, device: str | Device) -> Any:
    """``array`` moved to ``device`` (no copy when it is already there)."""
    target = device if isinstance(device, Device) else get_device(device)
    source = device_of(array)
    if source is target:
        return array
    host = source.to_host(array) if source is not CPU else np.asarray(array)
    return host if target is CPU else target.to_device(host)


def to_host(array: Any) -> np.ndarray:
    """``array`` as a NumPy array on the host (an explicit device-to-host transfer)."""
    return device_of(array).to_host(array)
