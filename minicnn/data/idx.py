"""Reading and validating IDX files, the format of the MNIST and Fashion-MNIST releases.

An IDX file is a big-endian header followed by the raw array::

    magic  = 0x00 0x00 <type code> <number of dimensions>      (4 bytes)
    dims   = one uint32 per dimension                          (4 bytes each)
    data   = prod(dims) values of the type, C order

MNIST images have magic 2051 (0x00000803: unsigned bytes, 3 dimensions N x 28 x 28) and labels
magic 2049 (0x00000801: unsigned bytes, 1 dimension N). Files ending in ``.gz`` are gunzipped.
Every problem raises a ``ValueError`` that names the file, what was expected and what was found.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# IDX type code -> big-endian NumPy dtype
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """The contents of ``path``, gunzipped when its name ends in ``.gz``."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: not a valid gzip file ({exc})") from None


def parse_idx(data: bytes, path: str | os.PathLike, expected_magic: int | None = None
              ) -> np.ndarray:
    """The array stored in the IDX bytes ``data`` (read from ``path``, named in errors).

    Checks the magic number (against ``expected_magic`` when given, else only that it is a
    known IDX type) and that the data is exactly as long as the dimensions declare.
    Returns a new (writable) array in native byte order with shape ``dims``.
    """
    if len(data) < 4:
        raise ValueError(f"{path}: truncated: an IDX file starts with a 4-byte magic number, "
                         f"found only {len(data)} bytes")
    magic = int.from_bytes(data[:4], "big")
    type_code, ndim = data[2], data[3]
    if expected_magic is not None and magic != expected_magic:
        hint = " (the file looks gzip-compressed: name it *.gz)" \
            if data[:2] == _GZIP_MAGIC else ""
        raise ValueError(f"{path}: expected IDX magic number {expected_magic}, "
                         f"found {magic}{hint}")
    if data[:2] != b"\x00\x00" or type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file: magic number {magic} "
                         f"(0x{magic:08x}) has no known IDX type")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated: the header declares {ndim} dimensions "
                         f"({header_size} header bytes), found only {len(data)} bytes")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected_size = header_size + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected_size:
        problem = "truncated" if len(data) < expected_size else "too long"
        raise ValueError(f"{path}: {problem}: the header declares shape {dims}, "
                         f"so {expected_size} bytes, found {len(data)} bytes")
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """The array in the IDX file ``path`` (gzipped or not); see ``parse_idx``."""
    return parse_idx(read_file_bytes(path), path, expected_magic)


def read_images(path: str | os.PathLike, image_shape: tuple[int, int] = (28, 28)
                ) -> np.ndarray:
    """The images of an IDX image file as uint8, shape ``(N, H, W)`` = ``(N, *image_shape)``."""
    images = read_idx(path, IMAGES_MAGIC)
    if images.shape[1:] != tuple(image_shape):
        raise ValueError(f"{path}: expected images of {image_shape[0]}x{image_shape[1]} "
                         f"pixels, found {images.shape[1]}x{images.shape[2]}")
    return images


def read_labels(path: str | os.PathLike, num_classes: int = 10) -> np.ndarray:
    """The labels of an IDX label file as int64, shape ``(N,)``, each in ``[0, num_classes)``."""
    labels = read_idx(path, LABELS_MAGIC)
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"{path}: expected labels in 0..{num_classes - 1}, "
                         f"found {int(labels.max())}")
    return labels.astype(np.int64)
