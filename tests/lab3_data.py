"""Small data sets in the official file formats, built in a test's folder: CIFAR-10's binary
archive (``cifar-10-binary.tar.gz``) and Fashion-MNIST's gzipped IDX files. No CIFAR-10 file
exists on this machine, and the tests must not depend on Debian's Fashion-MNIST package."""
from __future__ import annotations

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")


def _labelled_images(rng: np.random.Generator, n: int, shape: tuple[int, ...]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images, every class present at least twice (a stratified split needs it),
    each class a little brighter than the one before, so there is something to learn."""
    labels = np.concatenate([np.repeat(np.arange(10), 2), rng.integers(0, 10, n - 20)])
    labels = rng.permutation(labels).astype(np.int64)
    noise = rng.integers(0, 160, size=(n, *shape))
    images = np.clip(noise + 9 * labels.reshape(-1, *[1] * len(shape)), 0, 255)
    return images.astype(np.uint8), labels


def write_cifar10_binary(folder: Path, per_batch: int = 24, test: int = 40,
                         seed: int = 0) -> Path:
    """``folder/cifar-10-binary.tar.gz`` as the official one is laid out: five training
    batches of ``per_batch`` records and a test batch of ``test`` records (a label byte, then
    the 1,024 red, green and blue bytes), and ``batches.meta.txt``."""
    rng = np.random.default_rng(seed)
    files = {"batches.meta.txt": ("\n".join(CIFAR_CLASSES) + "\n\n").encode()}
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in names:
        images, labels = _labelled_images(rng, test if name == "test_batch.bin" else per_batch,
                                          (32, 32, 3))
        planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # (N, 3072): R, G, B
        files[name] = np.concatenate([labels.astype(np.uint8)[:, None], planes], 1).tobytes()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cifar-10-binary.tar.gz"
    with tarfile.open(path, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _idx(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array: magic (0, 0, 0x08, ndim), the sizes big-endian, the data."""
    head = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.astype(np.uint8).tobytes()


def write_fashion_mnist(folder: Path, train: int = 120, test: int = 60, seed: int = 1) -> Path:
    """The four gzipped IDX files of a small Fashion-MNIST in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", train), ("t10k", test)):
        images, labels = _labelled_images(rng, n, (28, 28))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))
    return folder
