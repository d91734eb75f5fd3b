"""The kernel-mode switch: ``minicnn.kernels.use`` / ``MINICNN_KERNELS`` and
``implementation``, the one place that decides which implementation an entry point runs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minicnn import kernels

ROOT = Path(__file__).resolve().parents[2]


class _CudaLike(np.ndarray):
    """A NumPy array that claims a CUDA array interface."""

    @property
    def __cuda_array_interface__(self) -> dict:
        return self.__array_interface__


class _Other(np.ndarray):
    """An array type that is neither NumPy's own nor a CUDA array."""


def test_use_as_plain_call_and_context_manager() -> None:
    start = kernels.mode()
    try:
        with kernels.use("reference") as ctx:
            assert isinstance(ctx, kernels.use)
            assert kernels.mode() == "reference"
            with kernels.use("fast"):
                assert kernels.mode() == "fast"
            assert kernels.mode() == "reference"
        assert kernels.mode() == start
        kernels.use("reference")
        assert kernels.mode() == "reference"
        kernels.use("fast")
        assert kernels.mode() == "fast"
    finally:
        kernels.use(start)


def test_context_restores_the_mode_after_an_error() -> None:
    start = kernels.mode()
    with pytest.raises(RuntimeError, match="boom"), kernels.use("reference"):
        raise RuntimeError("boom")
    assert kernels.mode() == start


def test_unknown_mode_is_refused_and_changes_nothing() -> None:
    start = kernels.mode()
    with pytest.raises(ValueError, match=r"one of fast, reference, got 'numba'"):
        kernels.use("numba")
    assert kernels.mode() == start


@pytest.mark.parametrize("value, expected", [("reference", "reference"), ("fast", "fast"),
                                             (" reference ", "reference"), ("", "fast")])
def test_environment_variable_sets_the_starting_mode(value: str, expected: str) -> None:
    env = dict(os.environ, MINICNN_KERNELS=value)
    out = subprocess.run([sys.executable, "-c", "import minicnn.kernels as k; print(k.mode())"],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


def test_bad_environment_variable_is_a_clear_error() -> None:
    env = dict(os.environ, MINICNN_KERNELS="slow")
    out = subprocess.run([sys.executable, "-c", "import minicnn"], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "MINICNN_KERNELS: kernel mode must be one of fast, reference, got 'slow'" in out.stderr


def test_implementation_by_array_type_size_and_mode() -> None:
    a = np.zeros(10)
    with kernels.use("fast"):
        assert kernels.implementation(a) == "numba"
        assert kernels.implementation(a, min_size=10) == "numba"  # at the threshold: fast
        assert kernels.implementation(a, min_size=11) == "reference"  # below it
        assert kernels.implementation(a.view(_CudaLike)) == "cuda"
        assert kernels.implementation(a.view(_CudaLike), min_size=1000) == "cuda"
        assert kernels.implementation(a.view(_Other)) == "reference"
        assert kernels.implementation([1.0, 2.0]) == "reference"
    with kernels.use("reference"):
        for arr in (a, a.view(_CudaLike), a.view(_Other)):
            assert kernels.implementation(arr) == "reference"


def test_is_cuda_array() -> None:
    a = np.zeros(3)
    assert kernels.is_cuda_array(a.view(_CudaLike))
    assert not kernels.is_cuda_array(a)
    assert not kernels.is_cuda_array(a.view(_Other))


@pytest.mark.parametrize("size, blocks", [(1, 1), (256, 1), (257, 2), (1000, 4)])
def test_cuda_grid_covers_every_element(size: int, blocks: int) -> None:
    assert kernels.cuda_grid(size) == (blocks, kernels.CUDA_THREADS)
    assert blocks * kernels.CUDA_THREADS >= size > (blocks - 1) * kernels.CUDA_THREADS
