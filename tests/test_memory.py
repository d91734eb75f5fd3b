"""minicnn.memory: large buffers are reused once no array uses them, never before."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn import memory

BIG = (256, 1024)  # 1 MiB of float32


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    memory.clear()  # free slabs other tests left could otherwise serve these requests


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_reused_after_release() -> None:
    a = memory.empty(BIG, np.float32)
    address = _address(a)
    del a
    b = memory.empty(BIG, np.float32)
    assert _address(b) == address


def test_never_reused_while_a_view_lives() -> None:
    a = memory.empty(BIG, np.float32)
    a[...] = 7
    view = a[::2].T[1:]  # a view of a view of a view: its base is the slab itself
    address = _address(a)
    del a
    b = memory.empty(BIG, np.float32)
    assert not np.shares_memory(b, view)
    b[...] = 0
    assert (view == 7).all()
    assert _address(b) != address


def test_shapes_dtypes_and_zeros() -> None:
    a = memory.zeros((3, 100, 1000), np.float64)
    assert a.shape == (3, 100, 1000) and a.dtype == np.float64 and a.flags.c_contiguous
    assert not a.any()
    small = memory.empty((4, 4), np.float32)  # below MIN_BYTES: a plain array
    assert small.base is None


def test_a_smaller_request_takes_a_free_slab_up_to_twice_its_size() -> None:
    a = memory.empty(BIG, np.float32)
    address = _address(a)
    del a
    b = memory.empty((200, 1024), np.float32)
    assert _address(b) == address
    del b
    c = memory.empty((100, 1024), np.float32)  # less than half: a new slab
    assert _address(c) != address


def test_exclusive() -> None:
    a = memory.empty(BIG, np.float32)
    assert memory.exclusive(a)
    b = a[1:]
    assert not memory.exclusive(a) and not memory.exclusive(b)
    del b
    assert memory.exclusive(a)
    assert not memory.exclusive(np.ones(10)) and not memory.exclusive(np.ones(10)[1:])
