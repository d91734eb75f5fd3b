"""Fixtures for the data tests: the shared real data, IDX file writers, a clean environment."""
from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def mnist_dir() -> Path:
    """The official MNIST files shipped in ``<repo>/../shared/data/mnist``."""
    path = SHARED_DATA / "mnist"
    if not (path / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"shared MNIST files not found in {path}")
    return path


@pytest.fixture
def cracks_dir() -> Path:
    """The 700 brick crack images in ``<repo>/../shared/data/cracks-brick``."""
    path = SHARED_DATA / "cracks-brick"
    if not (path / "Positive").is_dir():
        pytest.skip(f"shared crack images not found in {path}")
    return path


@pytest.fixture(autouse=True)
def _isolated_data_env(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> Path:
    """No MINICNN_DATA, and an empty MINICNN_CACHE, so that no test sees the user's files."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setenv("MINICNN_CACHE", str(cache))
    return cache


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """``array`` (uint8) in the IDX format; ``magic`` overrides the header's magic number."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


@pytest.fixture
def write_idx() -> Callable[..., Path]:
    """``write_idx(path, array, magic=None, cut=0)``: an IDX file (gzipped if ``path`` ends in
    ``.gz``), ``cut`` bytes shorter than it should be."""

    def write(path: Path, array: np.ndarray, magic: int | None = None, cut: int = 0) -> Path:
        data = idx_bytes(array, magic)
        data = data[:len(data) - cut]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        return path

    return write


@pytest.fixture
def small_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Twelve random 28x28 uint8 images and their labels 0-9."""
    generator = np.random.default_rng(7)
    images = generator.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = generator.integers(0, 10, size=12).astype(np.uint8)
    return images, labels
