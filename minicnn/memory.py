"""Reusing large host buffers: on the CPU, fresh memory is a large part of a training step.

A new large NumPy array is new memory from the operating system: glibc maps anything above
its mmap threshold (at most 32 MiB, and every block in a worker thread's arena) afresh and
unmaps it on free, so each 4 KiB page of it faults on first touch and the kernel zeroes it,
every training step again (measurements in benchmarks/README.md).

``empty(shape, dtype)`` hands out arrays backed by cached blocks ("slabs") instead. A slab is
free again once no array uses it: every view of a slab holds a reference to the slab itself
(NumPy points a view's ``base`` at the array that owns the memory, never at an intermediate
view), so ``sys.getrefcount(slab)`` counts its users exactly. Training repeats the same
shapes every step, so after the first step the arrays come from slabs freed by the step
before (the smallest free slab that fits, if at most twice the size asked for). Small arrays
(below ``MIN_BYTES``) come from ``np.empty`` as usual. The cache holds at most
``LIMIT_BYTES`` of slabs; over that, the free ones are released.
"""
from __future__ import annotations

import bisect
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 18
LIMIT_BYTES = 4 << 30
_PAGE = 4096

_slabs: list[np.ndarray] = []  # sorted by size
_slab_ids: set[int] = set()
_total = 0
_lock = threading.Lock()


def _calibrate() -> int:
    """``sys.getrefcount`` of a slab nobody else uses, seen as ``_take`` sees it (the count
    of such borrowed references differs between Python versions)."""
    probe = [np.empty(_PAGE, np.uint8)]
    for slab in probe:
        return sys.getrefcount(slab)
    raise AssertionError


_FREE_REFS = _calibrate()


def _take(nbytes: int) -> np.ndarray | None:
    """The smallest free slab of ``nbytes`` to ``2 * nbytes`` (called with the lock held)."""
    for slab in _slabs:
        if slab.size >= nbytes and sys.getrefcount(slab) == _FREE_REFS:
            return slab if slab.size <= 2 * nbytes else None
    return None


def _release_free() -> None:
    """Drop every slab no array uses (called with the lock held)."""
    global _total
    keep = []
    for slab in _slabs:
        if sys.getrefcount(slab) == _FREE_REFS:
            _total -= slab.size
            _slab_ids.discard(id(slab))
        else:
            keep.append(slab)
    _slabs[:] = keep


def empty(shape: tuple[int, ...] | int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array, as ``np.empty``, on reused memory when large."""
    global _total
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        slab = _take(nbytes)
        if slab is None:
            size = -(-nbytes // _PAGE) * _PAGE
            if _total + size > LIMIT_BYTES:
                _release_free()
            slab = np.empty(size, np.uint8)
            bisect.insort(_slabs, slab, key=lambda a: a.size)
            _slab_ids.add(id(slab))
            _total += size
        # NOTE: every view below has ``base is slab``, which is what makes the count exact.
        return slab[:nbytes].view(dtype).reshape(shape)


def _refs_of_base(a: np.ndarray) -> int:
    base = a.base
    return sys.getrefcount(base)


def _calibrate_exclusive() -> int:
    """``_refs_of_base(view)`` for a slab in the cache list used by that one view only."""
    probe = [np.empty(_PAGE, np.uint8)]
    view = probe[0][:8]
    return _refs_of_base(view)


_EXCLUSIVE_REFS = _calibrate_exclusive()


def exclusive(a: np.ndarray) -> bool:
    """True when ``a`` is the only array using its memory: a slab view no other array shares.

    The backward engine asks this before keeping a gradient as a leaf's ``.grad``: a view of
    an arbitrary array might share memory with another tensor, a sole user of a slab cannot.
    """
    # NOTE: no local reference to the base here: it would add one to the count.
    if getattr(a, "base", None) is None or id(a.base) not in _slab_ids:
        return False
    return _refs_of_base(a) == _EXCLUSIVE_REFS


def zeros(shape: tuple[int, ...] | int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """As ``np.zeros``, on reused memory when large."""
    a = empty(shape, dtype)
    a.fill(0)
    return a


def cached_bytes() -> int:
    """Bytes held by the cache (in use or free)."""
    return _total


def clear() -> None:
    """Release every slab no array uses."""
    with _lock:
        _release_free()
