"""The two engines behind one small interface, so every case is written once.

An ``Engine`` gives a case what differs between minicnn and PyTorch: its ``nn``, ``optim``,
functional module and course models, how a NumPy array becomes a tensor on the device, how to
wait for the device (``sync``), and ``no_grad``. The device is a parameter everywhere.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np


class Engine:
    name: str
    device: str
    nn: Any
    optim: Any
    F: Any
    models: Any

    def tensor(self, array: np.ndarray, requires_grad: bool = False) -> Any:
        raise NotImplementedError

    def sync(self) -> None:
        """Wait until the device has finished the queued work (a no-op on the CPU)."""

    def no_grad(self) -> AbstractContextManager:
        raise NotImplementedError

    def load_weights(self, model: Any, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def weights(self, model: Any) -> dict[str, np.ndarray]:
        raise NotImplementedError


class MinicnnEngine(Engine):
    name = "minicnn"

    def __init__(self, device: str = "cpu") -> None:
        import minicnn
        import minicnn.nn
        import minicnn.nn.functional
        import minicnn.optim
        from minicnn import backend
        from minicnn.models import course

        self.device = device
        self._minicnn, self._backend = minicnn, backend
        self._device = backend.get_device(device)
        self.nn, self.optim, self.F, self.models = (minicnn.nn, minicnn.optim,
                                                    minicnn.nn.functional, course)

    def tensor(self, array: np.ndarray, requires_grad: bool = False) -> Any:
        data = self._backend.to_device(np.ascontiguousarray(array), self._device)
        return self._minicnn.Tensor(data, requires_grad=requires_grad)

    def sync(self) -> None:
        if self._device is not self._backend.CPU:
            self._device.xp.cuda.Stream.null.synchronize()

    def no_grad(self) -> AbstractContextManager:
        return self._minicnn.no_grad()

    def to_device(self, model: Any) -> Any:
        return model.to(self.device)

    def load_weights(self, model: Any, arrays: dict[str, np.ndarray]) -> None:
        model.load_state_dict(arrays)

    def weights(self, model: Any) -> dict[str, np.ndarray]:
        return {k: self._backend.to_host(v.data) for k, v in model.state_dict().items()}


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, device: str = "cpu") -> None:
        import torch
        import torch.nn.functional

        from reference import models

        self.device = device
        self._torch = torch
        self.nn, self.optim, self.F, self.models = torch.nn, torch.optim, torch.nn.functional, \
            models

    def tensor(self, array: np.ndarray, requires_grad: bool = False) -> Any:
        t = self._torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return t.requires_grad_(requires_grad)

    def sync(self) -> None:
        if self.device != "cpu":
            self._torch.cuda.synchronize()

    def no_grad(self) -> AbstractContextManager:
        return self._torch.no_grad()

    def to_device(self, model: Any) -> Any:
        return model.to(self.device)

    def load_weights(self, model: Any, arrays: dict[str, np.ndarray]) -> None:
        current = model.state_dict()
        model.load_state_dict({k: self._torch.as_tensor(np.asarray(v), dtype=current[k].dtype)
                               for k, v in arrays.items()})

    def weights(self, model: Any) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


ENGINES = {"minicnn": MinicnnEngine, "torch": TorchEngine}


def settle_allocator() -> None:
    """Put glibc's malloc in the state a real training script reaches at once.

    glibc serves blocks above its mmap threshold (128 KiB at start) with fresh pages from the
    kernel, page-faulted and zeroed on first touch, and raises the threshold (to at most
    32 MiB) when such a block is freed. Any training script frees large blocks early (loading
    and normalising the data), after which PyTorch's activations come from reused heap memory;
    a benchmark process that never did would time PyTorch faulting on every allocation (CNN2:
    ~1,900 faults, 4 ms of system time per step). One 31 MiB block allocated and freed settles
    it. minicnn recycles its large buffers itself (``minicnn.memory``) either way.
    """
    block = np.ones(31 << 20, np.uint8)
    del block


def make_engine(name: str, device: str = "cpu") -> Engine:
    return ENGINES[name](device)


def device_unavailable(device: str) -> str | None:
    """None when both engines can run on ``device``; otherwise the reason, in one line."""
    if not device.startswith("cuda"):
        return None
    reasons = []
    try:
        import torch

        if not torch.cuda.is_available():
            reasons.append("torch sees no CUDA GPU")
    except ImportError:
        reasons.append("torch is not installed")
    from minicnn import backend

    try:
        backend.get_device(device)
    except (RuntimeError, ValueError) as exc:
        reasons.append(f"minicnn: {exc}")
    return "; ".join(reasons) or None
