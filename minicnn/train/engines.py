"""Engines: the few things the fit loop cannot duck-type, for minicnn and for PyTorch.

The loop itself only calls ``model(x)``, ``loss_fn(out, y)``, ``loss.backward()``,
``optimizer.zero_grad()``, ``optimizer.step()`` and ``loss.item()``, which both frameworks
spell the same. What differs (the framework's ``nn``, ``optim`` and functional modules, making
a tensor on a device, moving a model there, ``no_grad``, reading arrays back, seeding, and the
array form of a state dict for checkpoints) lives behind ``Engine``. This is the one adapter:
the runner and the benchmarks use it too (the benchmarks add only ``sync`` and the models).
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np


class StateMismatchError(RuntimeError):
    """Saved arrays that do not fit a model: missing, unexpected or mis-shaped keys."""

    def __init__(self, missing: list[str], unexpected: list[str],
                 mismatched: list[tuple[str, tuple, tuple]], model_name: str = "model") -> None:
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [f"the saved state does not match {model_name} (nothing was loaded):"]
        if missing:
            lines.append("  missing keys: " + ", ".join(missing))
        if unexpected:
            lines.append("  unexpected keys: " + ", ".join(unexpected))
        for key, saved, expected in mismatched:
            lines.append(f"  shape mismatch for {key}: saved {list(saved)}, "
                         f"model has {list(expected)}")
        super().__init__("\n".join(lines))


def check_state_arrays(expected: dict[str, tuple], arrays: dict[str, Any],
                       model_name: str = "model") -> None:
    """Raise ``StateMismatchError`` unless ``arrays`` has exactly the keys of ``expected``
    (key -> shape) with the same shapes; every problem is listed in the one error."""
    missing = [k for k in expected if k not in arrays]
    unexpected = [k for k in arrays if k not in expected]
    mismatched = [(k, tuple(np.shape(arrays[k])), tuple(shape))
                  for k, shape in expected.items()
                  if k in arrays and tuple(np.shape(arrays[k])) != tuple(shape)]
    if missing or unexpected or mismatched:
        raise StateMismatchError(missing, unexpected, mismatched, model_name)


def map_arrays(tree: Any, fn: Any, is_leaf: Any) -> Any:
    """``tree`` (nested dicts, lists, tuples) with every leaf ``x`` where ``is_leaf(x)``
    replaced by ``fn(x)``; other values are kept."""
    if is_leaf(tree):
        return fn(tree)
    if isinstance(tree, dict):
        return type(tree)((k, map_arrays(v, fn, is_leaf)) for k, v in tree.items())
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_arrays(v, fn, is_leaf) for v in tree)
    return tree


@runtime_checkable
class Engine(Protocol):
    """What the training loop needs from a framework beyond duck typing."""

    name: str
    device: Any
    nn: Any  # the framework's nn package (layers, losses)
    optim: Any  # its optimisers
    functional: Any  # its nn.functional

    def tensor(self, array: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
        """A batch (NumPy array, minicnn Tensor or this framework's tensor) as this engine's
        tensor on its device, cast to ``dtype`` (a NumPy dtype or this framework's) if given;
        a new leaf that requires a gradient with ``requires_grad``."""

    def to_device(self, model: Any) -> Any:
        """Move ``model``'s parameters and buffers to this engine's device; returns it."""

    def no_grad(self) -> AbstractContextManager:
        """A context in which no graph is recorded."""

    def to_numpy(self, t: Any) -> np.ndarray:
        """The values of tensor ``t`` as a NumPy array on the host."""

    def state_arrays(self, model: Any) -> dict[str, np.ndarray]:
        """``model.state_dict()`` as host NumPy copies, in order."""

    def load_arrays(self, model: Any, arrays: dict[str, Any]) -> None:
        """Load ``arrays`` into ``model``; raise ``StateMismatchError`` (model untouched)
        on missing, unexpected or mis-shaped keys."""

    def optimizer_state_arrays(self, optimizer: Any) -> dict:
        """``optimizer.state_dict()`` with every tensor replaced by a NumPy copy."""

    def load_optimizer_state(self, optimizer: Any, state: dict) -> None:
        """Load a state made by ``optimizer_state_arrays`` into ``optimizer``."""

    def set_seed(self, seed: int) -> None:
        """Seed the framework's global generator (weights, dropout masks, shuffles)."""

    def rng_state(self) -> Any:
        """The framework's global generator state (JSON-serialisable or NumPy arrays)."""

    def set_rng_state(self, state: Any) -> None:
        """Restore a state given by ``rng_state``."""


class MinicnnEngine:
    """The minicnn engine on ``device`` ('cpu' or 'cuda')."""

    name = "minicnn"

    def __init__(self, device: str = "cpu") -> None:
        import minicnn.nn
        import minicnn.nn.functional
        import minicnn.optim

        self.device = str(device)
        self.nn, self.optim, self.functional = minicnn.nn, minicnn.optim, minicnn.nn.functional

    def __repr__(self) -> str:
        return f"MinicnnEngine(device={self.device!r})"

    def tensor(self, array: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
        from minicnn import backend
        from minicnn.autograd.tensor import Tensor

        data = array.data if isinstance(array, Tensor) else array
        if not isinstance(data, np.ndarray) and backend.device_of(data) is backend.CPU:
            data = _torch_to_numpy(data) if _is_torch_tensor(data) else np.asarray(data)
        data = backend.to_device(data, self.device)
        if dtype is not None and data.dtype != np.dtype(dtype):
            data = data.astype(np.dtype(dtype))
        if isinstance(array, Tensor) and data is array.data and not requires_grad:
            return array
        return Tensor(data, requires_grad=requires_grad)

    def to_device(self, model: Any) -> Any:
        model.to(self.device)
        return model

    def no_grad(self) -> AbstractContextManager:
        import minicnn

        return minicnn.no_grad()

    def to_numpy(self, t: Any) -> np.ndarray:
        from minicnn import backend

        return backend.to_host(getattr(t, "data", t))

    def state_arrays(self, model: Any) -> dict[str, np.ndarray]:
        from minicnn import backend

        return {k: np.array(backend.to_host(v.data), copy=True)
                for k, v in model.state_dict().items()}

    def load_arrays(self, model: Any, arrays: dict[str, Any]) -> None:
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        check_state_arrays(expected, arrays, type(model).__name__)
        model.load_state_dict({k: np.asarray(v) for k, v in arrays.items()})

    def optimizer_state_arrays(self, optimizer: Any) -> dict:
        from minicnn import backend
        from minicnn.autograd.tensor import Tensor

        def to_host(x: Any) -> np.ndarray:
            return np.array(backend.to_host(getattr(x, "data", x)), copy=True)

        def is_array(x: Any) -> bool:
            return isinstance(x, (Tensor, np.ndarray)) or (
                hasattr(x, "shape") and hasattr(x, "dtype") and not np.isscalar(x))

        return map_arrays(optimizer.state_dict(), to_host, is_array)

    def load_optimizer_state(self, optimizer: Any, state: dict) -> None:
        optimizer.load_state_dict(state)

    def set_seed(self, seed: int) -> None:
        import minicnn

        minicnn.manual_seed(int(seed))

    def rng_state(self) -> Any:
        from minicnn.random import get_generator

        return get_generator().bit_generator.state

    def set_rng_state(self, state: Any) -> None:
        from minicnn.random import get_generator

        get_generator().bit_generator.state = state


class TorchEngine:
    """The PyTorch engine on ``device`` (torch is imported when the engine is made)."""

    name = "torch"

    def __init__(self, device: str = "cpu") -> None:
        import torch
        import torch.nn.functional

        self._torch = torch
        self.device = torch.device(device)
        self.nn, self.optim, self.functional = torch.nn, torch.optim, torch.nn.functional

    def __repr__(self) -> str:
        return f"TorchEngine(device={str(self.device)!r})"

    def to_device(self, model: Any) -> Any:
        return model.to(self.device)

    def tensor(self, array: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
        t = self._tensor(array, dtype)
        if requires_grad:
            t = t.detach().requires_grad_(True)
        return t

    def _tensor(self, array: Any, dtype: Any = None) -> Any:
        torch = self._torch
        if isinstance(array, torch.Tensor):
            t = array
        else:
            data = getattr(array, "data", array)  # a minicnn Tensor's array
            if not isinstance(data, np.ndarray):
                from minicnn import backend

                data = backend.to_host(data)
            if dtype is not None and not isinstance(dtype, torch.dtype):
                data = data.astype(np.dtype(dtype), copy=False)
            t = torch.from_numpy(np.ascontiguousarray(data))
        if dtype is not None and isinstance(dtype, torch.dtype):
            return t.to(device=self.device, dtype=dtype)
        return t.to(self.device)

    def no_grad(self) -> AbstractContextManager:
        return self._torch.no_grad()

    def to_numpy(self, t: Any) -> np.ndarray:
        return t.detach().cpu().numpy()

    def state_arrays(self, model: Any) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}

    def load_arrays(self, model: Any, arrays: dict[str, Any]) -> None:
        # NOTE: torch's own strict loading copies the matching keys before it raises, so the
        # keys and shapes are checked here first to leave the model untouched on a mismatch.
        current = model.state_dict()
        check_state_arrays({k: tuple(v.shape) for k, v in current.items()}, arrays,
                           type(model).__name__)
        model.load_state_dict({k: self._torch.as_tensor(np.asarray(v), dtype=current[k].dtype)
                               for k, v in arrays.items()})

    def optimizer_state_arrays(self, optimizer: Any) -> dict:
        torch = self._torch
        return map_arrays(optimizer.state_dict(),
                          lambda t: t.detach().cpu().numpy().copy(),
                          lambda x: isinstance(x, torch.Tensor))

    def load_optimizer_state(self, optimizer: Any, state: dict) -> None:
        torch = self._torch
        state = map_arrays(state, lambda a: torch.from_numpy(np.array(a, copy=True)),
                           lambda x: isinstance(x, np.ndarray))
        optimizer.load_state_dict(state)

    def set_seed(self, seed: int) -> None:
        self._torch.manual_seed(int(seed))

    def rng_state(self) -> Any:
        return self._torch.get_rng_state().numpy().copy()

    def set_rng_state(self, state: Any) -> None:
        self._torch.set_rng_state(self._torch.from_numpy(np.asarray(state, dtype=np.uint8)))


def _is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _torch_to_numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy()


def is_torch_model(model: Any) -> bool:
    """True when ``model`` is a ``torch.nn.Module`` (checked without importing torch)."""
    return any(c.__module__.startswith("torch.") for c in type(model).__mro__)


def engine_for(model: Any) -> Engine:
    """The engine of ``model``'s framework, on the device of its first parameter."""
    params = list(model.parameters())
    if is_torch_model(model):
        return TorchEngine(str(params[0].device) if params else "cpu")
    return MinicnnEngine(params[0].device if params else "cpu")


def get_engine(name: str, device: str = "cpu") -> Engine:
    """An engine by name: 'minicnn' or 'torch'."""
    engines = {"minicnn": MinicnnEngine, "torch": TorchEngine}
    if name not in engines:
        raise ValueError(f"unknown engine {name!r}: expected one of {sorted(engines)}")
    return engines[name](device)


def host_array(x: Any) -> np.ndarray:
    """Any batch (NumPy array, minicnn Tensor on any device, torch tensor) as a NumPy array."""
    if isinstance(x, np.ndarray):
        return x
    if _is_torch_tensor(x):
        return _torch_to_numpy(x)
    from minicnn import backend

    return backend.to_host(getattr(x, "data", x))
