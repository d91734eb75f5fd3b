"""CIFAR-10 from its official archives: finding, downloading (MD5 checked) and reading.

Two official versions hold the same 60,000 images (50,000 training in five batches, 10,000
test; 32x32 RGB, 10 classes):

- the binary version, ``cifar-10-binary.tar.gz`` -> ``cifar-10-batches-bin/``:
  ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``, each 10,000 records of
  3,073 bytes (the label, then the 1,024 red, 1,024 green and 1,024 blue pixels, rows in
  order), and ``batches.meta.txt`` (the class names, one a line). Plain bytes: read as such.
- the python version, ``cifar-10-python.tar.gz`` -> ``cifar-10-batches-py/``: ``data_batch_1``
  .. ``data_batch_5``, ``test_batch`` and ``batches.meta``, pickled dicts. A pickle can run any
  code when loaded, so they are read only through ``RestrictedUnpickler``, which admits plain
  containers and NumPy arrays and refuses everything else.

For a ``root`` (``--data``), the data root ``$MINICNN_DATA`` and the cache
(``minicnn.data.mnist.cache_dir()``), in this order, each folder ``F`` of ``root``,
``root/cifar10``, ``$MINICNN_DATA``, ``$MINICNN_DATA/cifar10`` and ``<cache>/cifar10`` is searched
for ``F/cifar-10-batches-bin/``, ``F/cifar-10-batches-py/``, then ``F/cifar-10-binary.tar.gz``
and ``F/cifar-10-python.tar.gz`` (``root`` may also be a ``cifar-10-batches-*`` folder
itself). Archives are read in place, never extracted. With ``download=True`` and nothing
found, the binary archive is fetched into ``<cache>/cifar10/``, its MD5 checked first.
"""
from __future__ import annotations

import codecs
import io
import os
import pickle
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from minicnn.data.dataset import Dataset
from minicnn.data.mnist import cache_dir, download_file

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import _reconstruct

CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
BINARY_ARCHIVE = "cifar-10-binary.tar.gz"
PYTHON_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_MD5 = {
    BINARY_ARCHIVE: "c32a1d4ab5d03f1284b67883e8d87530",
    PYTHON_ARCHIVE: "c58f30108f718f92721af3b95e74349a",
}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]
RECORD = 1 + 3 * 32 * 32  # bytes per image of the binary version: label, R, G, B planes


# ------------------------------------------------------------------------------------------
# The restricted unpickler
# ------------------------------------------------------------------------------------------

def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles ``bytes`` at protocol 2: latin1 only."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


def _plain_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype(...)`` as a pickle rebuilds it, refusing dtypes that hold objects."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("refusing a NumPy dtype that holds Python objects")
    return dtype


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler for data files: plain containers (dict, list, tuple, str, bytes, numbers,
    built by pickle's own opcodes) and NumPy arrays, nothing else.

    ``find_class`` is how a pickle names any other callable (``os.system``,
    ``builtins.eval``, a class to instantiate...); it admits only the four that rebuild an
    array (``numpy...multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype`` without
    objects, and ``_codecs.encode`` to latin1, how Python 3 pickles bytes) and raises
    ``pickle.UnpicklingError`` naming anything else.
    """

    ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # files written by NumPy 1
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # ... and by NumPy 2
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _plain_dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a data file may hold only plain "
                "containers and NumPy arrays") from None


def restricted_loads(data: bytes) -> Any:
    """Unpickle ``data`` with ``RestrictedUnpickler`` (Python 2 strings decoded as latin1,
    as the CIFAR files need)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


# ------------------------------------------------------------------------------------------
# Reading the two formats
# ------------------------------------------------------------------------------------------

def _batch_names(train: bool, binary: bool) -> list[str]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    return [f"{n}.bin" for n in names] if binary else names


def read_binary_batch(data: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 32, 32, 3) and labels int64 (N,) from one binary batch's bytes."""
    if len(data) % RECORD:
        raise ValueError(f"{what}: {len(data)} bytes is not a whole number of {RECORD}-byte "
                         "records (a label byte and 32x32x3 pixels)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)  # (N, 3073)
    labels = records[:, 0].astype(np.int64)
    planes = records[:, 1:].reshape(-1, 3, 32, 32)  # (N, C, H, W)
    return _checked(np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), labels, what)


def read_python_batch(data: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 32, 32, 3) and labels int64 (N,) from one pickled batch's bytes."""
    entry = _dict_with_str_keys(restricted_loads(data), what)
    pixels, labels = entry.get("data"), entry.get("labels", entry.get("fine_labels"))
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2 \
            or pixels.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{what}: expected 'data' to be a uint8 array of shape (N, 3072), got "
                         f"{type(pixels).__name__} {getattr(pixels, 'shape', '')}")
    if not isinstance(labels, list) or len(labels) != len(pixels) or \
            not all(isinstance(v, int) for v in labels):
        raise ValueError(f"{what}: expected 'labels' to be a list of {len(pixels)} ints")
    images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 32, 32, 3)
    return _checked(np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64), what)


def _dict_with_str_keys(entry: Any, what: str) -> dict:
    if not isinstance(entry, dict):
        raise ValueError(f"{what}: expected a pickled dict, got {type(entry).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _checked(images: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, ...]:
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise ValueError(f"{what}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    return images, labels


def _read_classes(data: bytes, binary: bool, what: str) -> list[str]:
    if binary:
        names = [line.strip() for line in data.decode("ascii").splitlines() if line.strip()]
    else:
        names = _dict_with_str_keys(restricted_loads(data), what).get("label_names")
    if not isinstance(names, list) or len(names) != len(CLASSES) or \
            not all(isinstance(n, str) for n in names):
        raise ValueError(f"{what}: expected {len(CLASSES)} class names, got {names!r}")
    return names


def _read_files(source: Path, names: list[str]) -> dict[str, bytes]:
    """The bytes of ``names`` from a ``cifar-10-batches-*`` folder or archive (in place)."""
    if source.is_dir():
        missing = [n for n in names if not (source / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{source}: missing {', '.join(missing)}")
        return {n: (source / n).read_bytes() for n in names}
    found: dict[str, bytes] = {}
    with tarfile.open(source, "r:gz") as archive:
        for member in archive:
            folder, _, name = member.name.rpartition("/")
            if member.isfile() and name in names and folder.startswith("cifar-10-batches-"):
                found[name] = archive.extractfile(member).read()
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"{source}: the archive has no cifar-10-batches-*/ "
                         f"{', '.join(missing)}")
    return found


# ------------------------------------------------------------------------------------------
# Finding the files
# ------------------------------------------------------------------------------------------

def search_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in order (see the module docstring)."""
    dirs = []
    if root is not None:
        root = Path(root).expanduser()
        dirs += [root, root / "cifar10"]
    if os.environ.get("MINICNN_DATA"):
        data_root = Path(os.environ["MINICNN_DATA"]).expanduser()
        dirs += [data_root, data_root / "cifar10"]
    return dirs + [cache_dir() / "cifar10"]


def _candidates(folder: Path) -> list[Path]:
    """What may hold CIFAR-10 in ``folder``, in order of preference (binary first)."""
    inside = [folder] if folder.name.startswith("cifar-10-batches-") else []
    return inside + [folder / "cifar-10-batches-bin", folder / "cifar-10-batches-py",
                     folder / BINARY_ARCHIVE, folder / PYTHON_ARCHIVE]


def _is_binary(source: Path) -> bool:
    """True for the binary version's folder or archive, False for the python version's."""
    return source.name in ("cifar-10-batches-bin", BINARY_ARCHIVE)


def find(root: str | os.PathLike | None = None) -> Path | None:
    """The first ``cifar-10-batches-*`` folder or official archive in ``search_dirs(root)``."""
    for folder in search_dirs(root):
        for candidate in _candidates(folder):
            if candidate.is_dir() if candidate.suffix != ".gz" else candidate.is_file():
                return candidate
    return None


# ------------------------------------------------------------------------------------------
# The dataset
# ------------------------------------------------------------------------------------------

class CIFAR10(Dataset):
    """CIFAR-10 (50,000 training and 10,000 test images, 32x32 RGB, 10 classes), as
    ``torchvision.datasets.CIFAR10``.

    ``ds[i]`` is ``(image, target)``: the uint8 (32, 32, 3) image through ``transform`` (if
    given) and the label as an int through ``target_transform``. ``data`` holds every image,
    uint8 (N, 32, 32, 3) (height, width, RGB; torchvision's layout), ``targets`` the labels,
    int64 (N,), ``classes`` the class names read from the files, ``source`` the folder or
    archive read. Found as the module docstring says; none found raises
    ``FileNotFoundError`` naming every place looked in, unless ``download`` fetches the binary
    archive from ``mirrors`` (default ``CIFAR10_MIRRORS``). Malformed files raise ValueError,
    a pickle naming anything but plain data ``pickle.UnpicklingError``.
    """

    classes: list[str]

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False, mirrors: Sequence[str] | None = None) -> None:
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.source = self.locate(root, download, mirrors)
        binary = _is_binary(self.source)
        batches = _batch_names(train, binary)
        meta = "batches.meta.txt" if binary else "batches.meta"
        files = _read_files(self.source, batches + [meta])
        read = read_binary_batch if binary else read_python_batch
        parts = [read(files[name], f"{self.source}/{name}") for name in batches]
        self.data = np.concatenate([images for images, _ in parts])
        self.targets = np.concatenate([labels for _, labels in parts])
        self.classes = _read_classes(files[meta], binary, f"{self.source}/{meta}")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    @staticmethod
    def locate(root: str | os.PathLike | None = None, download: bool = False,
               mirrors: Sequence[str] | None = None) -> Path:
        """The folder or archive to read (found, or downloaded when ``download``)."""
        found = find(root)
        if found is not None:
            return found
        if download:
            return download_file(BINARY_ARCHIVE, CIFAR10_MD5[BINARY_ARCHIVE],
                                 cache_dir() / "cifar10",
                                 CIFAR10_MIRRORS if mirrors is None else mirrors)
        folders = search_dirs(root)
        looked_in = "\n".join(f"  {folder}" for folder in folders)
        raise FileNotFoundError(
            f"CIFAR10: no cifar-10-batches-bin/ or cifar-10-batches-py/ folder and no "
            f"{BINARY_ARCHIVE} or {PYTHON_ARCHIVE} in any of {len(folders)} folders (pass "
            f"root=..., set MINICNN_DATA, or use download=True); looked in:\n{looked_in}")

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __len__(self) -> int:
        return len(self.data)


class ImageArrays(NamedTuple):
    """Images float (N, C, H, W) in [0, 1], labels int64 (N,), class names, and a note of
    where they came from."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    source: str


def to_float_nchw(images: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """uint8 images (N, H, W, C) as floats (N, C, H, W) scaled to [0, 1]: ``x / 255``."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images of shape (N, H, W, C), got {images.dtype} "
                         f"{images.shape}")
    out = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=dtype)  # (N, C, H, W)
    out /= 255
    return out


def load_cifar10(split: str = "train", data_dir: str | os.PathLike | None = None,
                 download: bool = False, mirrors: Sequence[str] | None = None,
                 dtype: Any = np.float32) -> ImageArrays:
    """CIFAR-10's ``split`` ('train' or 'test') as float arrays for a CNN or an autoencoder:
    images (N, 3, 32, 32) in [0, 1] (``dtype``), labels int64, class names and the source."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    dataset = CIFAR10(data_dir, train=split == "train", download=download, mirrors=mirrors)
    return ImageArrays(to_float_nchw(dataset.data, dtype), dataset.targets, dataset.classes,
                       f"CIFAR-10 {split} split ({dataset.source})")
