"""Datasets and the DataLoader: batch shapes and dtypes, drop_last, len, shuffles that are
reproducible for a seed, new each epoch, and cover every index once; device moves."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import backend
from minicnn.autograd.tensor import Tensor
from minicnn.data import DataLoader, Dataset, Subset, TensorDataset, collate


@pytest.fixture
def dataset(rng) -> TensorDataset:
    """Ten samples: x[i] is a (2, 3) float32 array filled with i, y[i] = i % 3 (uint8)."""
    x = np.repeat(np.arange(10, dtype=np.float32), 6).reshape(10, 2, 3)
    y = (np.arange(10) % 3).astype(np.uint8)
    return TensorDataset(x, y)


def epoch(loader: DataLoader) -> list[np.ndarray]:
    """The sample ids (x's fill value) of each batch of one epoch."""
    return [x.data[:, 0, 0].astype(np.int64) for x, _ in loader]


def test_datasets():
    with pytest.raises(TypeError):
        Dataset()
    data = TensorDataset(np.arange(5), Tensor(np.arange(5.0)))
    assert len(data) == 5 and data[2] == (2, 2.0)
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))
    subset = Subset(data, [4, 0, -1])
    assert len(subset) == 3 and [subset[i][0] for i in range(3)] == [4, 0, 4]
    with pytest.raises(IndexError, match="Subset indices"):
        Subset(data, [5])


def test_batches_shapes_and_dtypes(dataset):
    loader = DataLoader(dataset, batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [x.shape for x, _ in batches] == [(4, 2, 3), (4, 2, 3), (2, 2, 3)]
    for x, y in batches:
        assert isinstance(x, Tensor) and isinstance(y, Tensor)
        assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([y.data for _, y in batches]),
                                  np.arange(10) % 3)
    assert [b.tolist() for b in epoch(loader)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_drop_last(dataset):
    loader = DataLoader(dataset, batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(b) for b in epoch(loader)] == [4, 4]
    assert len(DataLoader(dataset, batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(dataset, batch_size=11, drop_last=True)) == 0
    assert len(DataLoader(dataset, batch_size=11)) == 1


def test_collate_keeps_arrays_dtype_and_makes_labels_int64():
    images = [np.zeros((28, 28), np.uint8)] * 3
    x, y = collate(list(zip(images, [1, 2, 3])))
    assert x.dtype == np.uint8 and x.shape == (3, 28, 28)
    assert y.dtype == np.int64 and y.tolist() == [1, 2, 3]
    x, y = collate([(np.ones(2), 0.5), (np.ones(2), 1.5)])
    assert y.dtype == np.float64  # float targets are kept as they are


def test_shuffle_every_index_once_new_order_each_epoch(dataset):
    loader = DataLoader(dataset, batch_size=3, shuffle=True, seed=5)
    epochs = [np.concatenate(epoch(loader)) for _ in range(4)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))
    assert len({tuple(order) for order in epochs}) == 4


def test_shuffle_reproducible_for_a_seed(dataset):
    def orders(loader: DataLoader) -> list[list[int]]:
        return [np.concatenate(epoch(loader)).tolist() for _ in range(3)]

    assert orders(DataLoader(dataset, 4, shuffle=True, seed=1)) == \
        orders(DataLoader(dataset, 4, shuffle=True, seed=1))
    assert orders(DataLoader(dataset, 4, shuffle=True, seed=1)) != \
        orders(DataLoader(dataset, 4, shuffle=True, seed=2))
    minicnn.manual_seed(9)  # seed=None: drawn from minicnn's generator
    first = orders(DataLoader(dataset, 4, shuffle=True))
    minicnn.manual_seed(9)
    assert orders(DataLoader(dataset, 4, shuffle=True)) == first


def test_batch_indices_give_the_epochs_batches(dataset):
    loader = DataLoader(dataset, batch_size=4, shuffle=True, seed=3)
    with pytest.raises(RuntimeError, match="call iter"):
        loader.batch_indices()
    for _ in range(2):
        iterator = iter(loader)
        indices = loader.batch_indices()  # known before the first batch
        got = [x.data[:, 0, 0].astype(np.int64) for x, _ in iterator]
        assert [b.tolist() for b in got] == [b.tolist() for b in indices]
    assert [b.tolist() for b in DataLoader(dataset, 4).batch_indices()] == \
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_device(dataset, device):
    for x, y in DataLoader(dataset, batch_size=4, device=device):
        assert backend.device_of(x.data).name == device
        assert backend.device_of(y.data).name == device


class _DeviceArray:
    """Stand-in for a GPU array: holds a host array, is no NumPy array."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.dtype, self.shape = array.dtype, array.shape


def test_cuda_batches_are_moved_with_to_device(dataset):
    fake = backend.Device("cuda", _DeviceArray, np, _DeviceArray, lambda a: a.array)
    previous = backend.register_device(fake)
    try:
        x, y = next(iter(DataLoader(dataset, batch_size=4, device="cuda")))
        assert type(x.data) is _DeviceArray and type(y.data) is _DeviceArray
        assert x.shape == (4, 2, 3) and y.dtype == np.int64
        np.testing.assert_array_equal(y.data.array, [0, 1, 2, 0])
    finally:
        backend.unregister_device("cuda", previous)
