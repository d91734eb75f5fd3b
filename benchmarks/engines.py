"""The engines of ``minicnn.train.engines`` (one adapter, shared with the runner and the fit
loop), plus what timing needs: ``sync`` (wait for the device) and the course models of each
framework (``models``: ``minicnn.models.course`` or ``minicnn.reference.models``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minicnn.train.engines import Engine, MinicnnEngine, TorchEngine


class BenchMinicnn(MinicnnEngine):
    """The minicnn engine, with its course models and a device sync."""

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        from minicnn import backend
        from minicnn.models import course

        self.models = course
        self._backend, self._device = backend, backend.get_device(device)

    def sync(self) -> None:
        """Wait until the device has finished the queued work (a no-op on the CPU)."""
        if self._device is not self._backend.CPU:
            self._device.xp.cuda.Stream.null.synchronize()


class BenchTorch(TorchEngine):
    """The PyTorch engine, with the reference models and a device sync."""

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        from minicnn.runner import reference_models

        self.models = reference_models()

    def sync(self) -> None:
        """Wait until the device has finished the queued work (a no-op on the CPU)."""
        if self.device.type != "cpu":
            self._torch.cuda.synchronize()


ENGINES: dict[str, type[Any]] = {"minicnn": BenchMinicnn, "torch": BenchTorch}


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
    """A benchmark engine (``Engine`` with ``sync`` and ``models``): 'minicnn' or 'torch'."""
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
