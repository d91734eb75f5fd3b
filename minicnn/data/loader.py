"""``DataLoader``: a dataset's samples in (optionally shuffled) batches of minicnn Tensors."""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import Tensor
from minicnn.data.dataset import Dataset
from minicnn.random import get_generator


def collate(samples: list[Any], names: list[str] | None = None) -> tuple[np.ndarray, ...]:
    """Stack a list of samples field by field: ``[(x0, y0), (x1, y1)] -> (X, Y)``.

    Each field becomes one array with a new leading batch axis ``(B, ...)``, keeping its dtype,
    except that integer (or boolean) scalars, i.e. class labels, become int64 ``(B,)``.
    Samples whose fields differ in shape raise a ValueError naming the first odd sample and
    both shapes (``names[i]`` describes sample i, e.g. its file).
    """
    if not isinstance(samples[0], (tuple, list)):
        samples = [(s,) for s in samples]
    if len({len(s) for s in samples}) != 1:
        raise ValueError(f"collate: samples have different numbers of fields: "
                         f"{sorted({len(s) for s in samples})}")
    fields = []
    for k, values in enumerate(zip(*samples)):
        arrays = [np.asarray(v) for v in values]
        for i, a in enumerate(arrays):
            if a.shape != arrays[0].shape:
                odd, first = (f"sample {i}", "sample 0") if names is None else (names[i],
                                                                                names[0])
                raise ValueError(
                    f"cannot batch field {k} of {odd}: its shape {a.shape} differs from the "
                    f"shape {arrays[0].shape} of {first} (every sample of a batch must have "
                    "one shape: resize the odd one, e.g. with transforms.Resize)")
        batch = np.stack(arrays)  # (B, ...)
        if batch.ndim == 1 and batch.dtype.kind in "biu":
            batch = batch.astype(np.int64, copy=False)
        fields.append(batch)
    return tuple(fields)


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"DataLoader: {name} must be a bool, got {type(value).__name__} "
                        f"{value!r}")
    return bool(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples, as minicnn Tensors.

    Each batch is a tuple with one Tensor per sample field, usually ``(x, y)``: ``x`` stacks the
    samples' arrays ``(B, ...)``, ``y`` the labels as int64 ``(B,)``. With ``device='cuda'`` the
    arrays are moved to that device before they are wrapped. ``len(loader)`` is the number of
    batches: ``ceil(N / batch_size)``, or ``floor(N / batch_size)`` with ``drop_last`` (the last,
    incomplete batch is then left out).

    With ``shuffle``, every ``iter(loader)`` (every epoch) draws a new permutation of the
    ``N`` indices from the loader's own generator, seeded with ``seed``; with ``seed=None`` that
    seed is drawn from minicnn's global generator when the loader is made, so the sequence of
    epochs is reproducible after ``minicnn.manual_seed``. ``batch_indices()`` gives the index
    batches of the epoch in progress, to feed another framework exactly the same batches.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 device: str | None = None) -> None:
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: dataset must be indexable and sized (a Dataset), got "
                            f"{type(dataset).__name__}")
        if not _is_int(batch_size):
            raise TypeError(f"DataLoader: batch_size must be a positive int, got "
                            f"{type(batch_size).__name__} {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size}")
        if seed is not None and not _is_int(seed):
            raise TypeError(f"DataLoader: seed must be an int or None, got "
                            f"{type(seed).__name__} {seed!r}")
        if seed is not None and seed < 0:
            raise ValueError(f"DataLoader: seed must be non-negative, got {seed}")
        if device is not None and not isinstance(device, (str, backend.Device)):
            raise TypeError(f"DataLoader: device must be a device name such as 'cuda', got "
                            f"{type(device).__name__} {device!r}")
        if isinstance(device, str):
            backend.get_device(device)  # an unknown or unavailable device fails here, not later
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = _check_flag(shuffle, "shuffle")
        self.drop_last = _check_flag(drop_last, "drop_last")
        self.seed = int(get_generator().integers(2**63)) if seed is None else int(seed)
        self.device = device
        self._generator = np.random.default_rng(self.seed)
        self._batches: list[np.ndarray] | None = None

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _epoch_batches(self) -> list[np.ndarray]:
        """The index batches of a new epoch (a fresh permutation when shuffling)."""
        n = len(self.dataset)
        order = self._generator.permutation(n) if self.shuffle else np.arange(n)
        return [order[start:start + self.batch_size]
                for start in range(0, len(self) * self.batch_size, self.batch_size)]

    def batch_indices(self) -> list[np.ndarray]:
        """The dataset indices of each batch of the epoch started by the last ``iter()``.

        Without shuffling the order is always ``0, 1, ..., N-1``, so this works before any
        ``iter()`` too; with shuffling it raises until an epoch has been started.
        """
        if self._batches is None:
            if self.shuffle:
                raise RuntimeError("no epoch started yet: call iter(loader) first, each iter() "
                                   "draws the epoch's order")
            return self._epoch_batches()
        return [batch.copy() for batch in self._batches]

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        # NOTE: drawn here, not inside the generator below, so that batch_indices() already
        # gives this epoch's order right after iter(loader), before the first batch.
        self._batches = self._epoch_batches()
        return self._iterate(self._batches)

    def _iterate(self, batches: list[np.ndarray]) -> Iterator[tuple[Tensor, ...]]:
        describe = getattr(self.dataset, "describe", None)
        for indices in batches:
            samples = [self.dataset[int(i)] for i in indices]
            try:
                fields = collate(samples)
            except ValueError:
                names = [f"sample {int(i)}" + (f" ({describe(int(i))})" if describe else "")
                         for i in indices]
                fields = collate(samples, names)  # raises again, naming the samples
            if self.device is not None:
                fields = tuple(backend.to_device(f, self.device) for f in fields)
            yield tuple(Tensor(f) for f in fields)
