"""``CrackImages``: a folder of crack / no-crack photographs (the Özgenel concrete layout).

The folder holds ``Positive/`` (images with a crack, label 1) and ``Negative/`` (without, label
0), as the 40,000-image concrete data set (227x227 RGB JPEGs) and the brick set in
``shared/data/cracks-brick`` do. Files are listed when the dataset is made and decoded one at a
time in ``__getitem__``, so memory holds one image, never the whole set.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from minicnn.data.dataset import Dataset
from minicnn.data.transforms import Compose, Grayscale, ToTensor

CLASSES = ("Negative", "Positive")  # label = index, as torchvision's ImageFolder sorts them
_JPEG_END = b"\xff\xd9"  # the end-of-image marker closing every complete JPEG


def check_image(path: Path) -> str | None:
    """Why ``path`` is not a readable image, or None if it looks complete.

    Cheap: Pillow identifies the file from its header and ``verify()`` checks its structure
    without decoding pixels. As ``verify()`` does nothing more for JPEGs, a JPEG must also end
    with the end-of-image marker (after any zero padding): a truncated JPEG does not.
    """
    return inspect_image(path)[0]


def inspect_image(path: Path) -> tuple[str | None, tuple[int, int] | None]:
    """(``check_image(path)``, the image's (width, height) from its header, None if unread)."""
    try:
        with Image.open(path) as img:
            image_format, size = img.format, img.size
            img.verify()
    # NOTE: Pillow raises many types for broken files (OSError, SyntaxError, struct.error, ...).
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}", None
    if image_format == "JPEG":
        with open(path, "rb") as f:
            f.seek(max(os.path.getsize(path) - 4096, 0))
            tail = f.read().rstrip(b"\x00")
        if not tail.endswith(_JPEG_END):
            return "truncated JPEG (no end-of-image marker)", size
    return None, size


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


class CrackImages(Dataset):
    """The images under ``root/Negative`` (label 0) and ``root/Positive`` (label 1).

    ``ds[i]`` is ``(x, label)`` where ``x = transform(image)`` for the decoded RGB PIL image;
    the default transform is ``Compose([Grayscale(), ToTensor()])``, the course's input: float32
    ``(1, H, W)`` in ``[0, 1]``. Samples are ordered by label, then by file name.

    Every file in the two folders is checked when the dataset is made (``check_image``: header
    and structure, no pixel decoding). Unreadable files are skipped with one warning giving
    their count, or raise ``ValueError`` with ``strict=True``. A missing class folder raises
    ``FileNotFoundError``; one with no readable image raises ``ValueError``.

    Images must have one size to be batched. With the default transform (which keeps the
    size), images whose size differs from the most common one are named, with both sizes, in
    a warning (a ``ValueError`` with ``strict=True``); a batch holding one of them fails with
    its file name (``describe``). A transform that resizes (``transforms.Resize``) makes them
    usable.
    """

    classes: ClassVar[list[str]] = list(CLASSES)

    def __init__(self, root: str | os.PathLike, transform: Callable[[Any], Any] | None = None,
                 strict: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.transform = transform if transform is not None else \
            Compose([Grayscale(), ToTensor()])
        self.samples: list[tuple[Path, int]] = []
        self.skipped: list[tuple[Path, str]] = []
        self.sizes: list[tuple[int, int]] = []  # (width, height) of each sample's image
        for label, name in enumerate(CLASSES):
            folder = self.root / name
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: class folder not found: {self.root} must "
                                        f"hold {' and '.join(c + '/' for c in CLASSES)}")
            files = sorted(p for p in folder.iterdir() if p.is_file())
            good = []
            for path in files:
                problem, size = inspect_image(path)
                if problem is None:
                    good.append(path)
                    self.sizes.append(size)
                else:
                    self.skipped.append((path, problem))
            if not good:
                raise ValueError(f"{folder}: no readable image in the class folder "
                                 f"({len(files)} files)")
            self.samples += [(path, label) for path in good]
        self.targets = np.array([label for _, label in self.samples], dtype=np.int64)
        if self.skipped:
            listing = "; ".join(f"{path}: {problem}" for path, problem in self.skipped[:5])
            more = f"; ... ({len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
            message = (f"{self.root}: {len(self.skipped)} unreadable file(s) of "
                       f"{len(self.samples) + len(self.skipped)}: {listing}{more}")
            if strict:
                raise ValueError(message)
            warnings.warn(f"{message}; skipped them", stacklevel=2)
        if transform is None:
            self._check_sizes(strict)

    def _check_sizes(self, strict: bool) -> None:
        """Warn (raise if ``strict``) about images whose size differs from the most common."""
        counts = Counter(self.sizes)
        common = counts.most_common(1)[0][0]
        odd = [(path, size) for (path, _), size in zip(self.samples, self.sizes)
               if size != common]
        if not odd:
            return
        listing = "; ".join(f"{path} is {_size_text(size)}" for path, size in odd[:5])
        more = f"; ... ({len(odd) - 5} more)" if len(odd) > 5 else ""
        message = (f"{self.root}: {len(odd)} image(s) differ in size from the other "
                   f"{counts[common]} ({_size_text(common)}): {listing}{more}; a batch holding "
                   "one of them cannot be stacked: resize them (transforms.Resize) or remove "
                   "them")
        if strict:
            raise ValueError(message)
        warnings.warn(message, stacklevel=3)

    def describe(self, index: int) -> str:
        """The file of sample ``index`` and its image size, e.g. '.../Positive/1.jpg (227x227
        image)'."""
        return f"{self.samples[index][0]} ({_size_text(self.sizes[index])} image)"

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        try:
            with Image.open(path) as img:
                image = img.convert("RGB")
        except OSError as exc:
            raise OSError(f"{path}: cannot decode image: {exc}") from exc
        return self.transform(image), label

    def __len__(self) -> int:
        return len(self.samples)
