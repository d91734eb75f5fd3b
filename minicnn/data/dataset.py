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

    def describe(self, index: int) -> str | None:
        """Where sample ``index`` comes from (a file name...), for error messages; None if
        there is nothing to say beyond its index."""
        return None


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
        for i, a in enumerate(self.arrays):
            if a.dtype.hasobject or a.ndim == 0:
                raise TypeError(f"TensorDataset: array {i} must be an array of numbers with a "
                                f"first (sample) dimension, got {type(arrays[i]).__name__} "
                                f"of shape {a.shape} and dtype {a.dtype}")
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
        raw = np.asarray(indices)
        if raw.size and raw.dtype.kind not in "iu":
            raise TypeError(f"Subset: indices must be integers, got an array of dtype "
                            f"{raw.dtype} ({type(indices).__name__})")
        self.indices = raw.astype(np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset indices must lie in [-{n}, {n}) for a dataset of {n} "
                             f"samples, got [{self.indices.min()}, {self.indices.max()}]")

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)

    def describe(self, index: int) -> str | None:
        """The description of the underlying sample (see ``Dataset.describe``)."""
        describe = getattr(self.dataset, "describe", None)
        inner = int(self.indices[index])
        text = describe(inner) if describe is not None else None
        return f"sample {inner} of the full dataset" + (f", {text}" if text else "")
