"""Datasets: indexable collections of samples, as ``torch.utils.data``'s map-style datasets."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.tensor import Tensor


class Dataset(ABC):
    """A map-style dataset: ``len(ds)`` samples, sample ``i`` is ``ds[i]``.

    Subclasses implement ``__getitem__`` (an int index in ``[0, len)`` to one sample, usually
    an ``(x, y)`` tuple of a NumPy array and an int label) and ``__len__``.
    """

    @abstractmethod
    def __getitem__(self, index: int) -> Any:
        """Sample ``index``."""

    @abstractmethod
    def __len__(self) -> int:
        """The number of samples."""


class TensorDataset(Dataset):
    """Samples that are rows of arrays: ``ds[i] = (arrays[0][i], arrays[1][i], ...)``.

    Every array (NumPy array, array-like or minicnn ``Tensor``, kept on the host) must have the
    same first dimension ``N``.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(
            backend.to_host(a.data) if isinstance(a, Tensor) else np.asarray(a) for a in arrays
        )
        sizes = [len(a) for a in self.arrays]
        if len(set(sizes)) != 1:
            raise ValueError(f"all arrays must have the same first dimension, got sizes {sizes}")

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``: ``subset[i] = dataset[indices[i]]``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset indices must lie in [-{n}, {n}) for a dataset of {n} "
                             f"samples, got [{self.indices.min()}, {self.indices.max()}]")

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)
