"""Image transforms with torchvision's semantics, on PIL images and NumPy arrays.

Two kinds of input, told apart by type, as torchvision tells PIL images from tensors:

- an *image* (before ``ToTensor``): a PIL image, or a uint8 array ``(H, W)`` or ``(H, W, C)``;
- a *tensor image* (after ``ToTensor``): a floating array ``(C, H, W)``.

``Grayscale`` and ``Resize`` take images and go through Pillow exactly as torchvision does for
PIL images, so their outputs are bit-identical to torchvision's. ``CenterCrop`` and
``RandomCrop`` take either kind. ``Normalize`` takes tensor images. Every transform returns a
NumPy array (images stay uint8 ``(H, W[, C])``); the ``DataLoader`` turns batches into Tensors.
Random draws come from minicnn's global generator (``minicnn.manual_seed``).
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from minicnn.random import get_generator

ImageLike = Any  # PIL.Image.Image | np.ndarray


def _is_tensor_image(img: ImageLike) -> bool:
    """True for a floating array, taken as a ``(C, H, W)`` tensor image."""
    return isinstance(img, np.ndarray) and img.dtype.kind == "f"


def _to_array(img: ImageLike) -> np.ndarray:
    """``img`` as an array: a PIL image becomes ``(H, W)`` or ``(H, W, C)``; arrays pass."""
    if isinstance(img, Image.Image):
        return np.array(img)
    if isinstance(img, np.ndarray):
        return img
    raise TypeError(f"expected a PIL image or a NumPy array, got {type(img).__name__}")


def _to_pil(img: ImageLike, transform: str) -> Image.Image:
    """``img`` (a PIL image or a uint8 ``(H, W[, C])`` array) as a PIL image."""
    if isinstance(img, Image.Image):
        return img
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim not in (2, 3):
        described = (f"array of dtype {img.dtype} and shape {img.shape}"
                     if isinstance(img, np.ndarray) else type(img).__name__)
        raise TypeError(f"{transform} needs a PIL image or a uint8 (H, W) or (H, W, C) array "
                        f"(apply it before ToTensor), got {described}")
    if img.ndim == 3 and img.shape[2] == 1:
        return Image.fromarray(img[:, :, 0])
    return Image.fromarray(img)


def _pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    """``size`` as ``(height, width)``: an int means a square."""
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{name} must be an int or a (height, width) pair, got {size}")


def _padding_ltrb(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """torchvision's padding forms as (left, top, right, bottom).

    An int pads all four borders; ``(lr, tb)`` pads left/right by ``lr`` and top/bottom by
    ``tb``; ``(l, t, r, b)`` gives each border.
    """
    if isinstance(padding, numbers.Integral):
        p = int(padding)
        return p, p, p, p
    padding = tuple(int(p) for p in padding)
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return padding
    raise ValueError(f"padding must be an int or a sequence of 1, 2 or 4 ints, got {padding}")


def _spatial_axes(img: np.ndarray, tensor_image: bool) -> tuple[int, int]:
    """The (height, width) axes: the last two of a tensor image, the first two of an image."""
    return (img.ndim - 2, img.ndim - 1) if tensor_image else (0, 1)


def _pad(img: np.ndarray, ltrb: tuple[int, int, int, int], tensor_image: bool) -> np.ndarray:
    """``img`` with zeros added around its spatial axes (left, top, right, bottom)."""
    left, top, right, bottom = ltrb
    if min(ltrb) < 0:
        raise ValueError(f"padding must be non-negative, got {ltrb}")
    widths = [(0, 0)] * img.ndim
    h_axis, w_axis = _spatial_axes(img, tensor_image)
    widths[h_axis], widths[w_axis] = (top, bottom), (left, right)
    return np.pad(img, widths)


def _crop(img: np.ndarray, top: int, left: int, height: int, width: int,
          tensor_image: bool) -> np.ndarray:
    """The ``height x width`` window of ``img`` whose top-left pixel is ``(top, left)``."""
    rows, cols = slice(top, top + height), slice(left, left + width)
    if tensor_image:
        return img[..., rows, cols]
    return img[rows, cols]


class Compose:
    """Apply ``transforms`` one after the other: ``Compose([f, g])(x) = g(f(x))``."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for transform in self.transforms:
            img = transform(img)
        return img

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"{type(self).__name__}([{inner}\n])"


class ToTensor:
    """An image ``(H, W[, C])`` (PIL or array) to a ``(C, H, W)`` array, as torchvision's.

    uint8 values become float32 ``x / 255`` in ``[0, 1]``; a PIL mode '1' image counts as 0/255;
    arrays of any other dtype are only transposed (torchvision keeps their values too).
    """

    def __call__(self, pic: ImageLike) -> np.ndarray:
        if isinstance(pic, Image.Image) and pic.mode == "1":
            pic = np.array(pic, dtype=np.uint8) * np.uint8(255)
        x = _to_array(pic)
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3:
            raise ValueError(f"ToTensor needs an (H, W) or (H, W, C) image, got shape {x.shape}")
        x = np.ascontiguousarray(x.transpose(2, 0, 1))  # (C, H, W)
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255)
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Normalize:
    """Per-channel standardisation of a ``(C, H, W)`` tensor image: ``(x - mean[c]) / std[c]``.

    ``mean`` and ``std`` are cast to the image's dtype first and the result has that dtype,
    as in torchvision (a zero ``std`` raises).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not _is_tensor_image(x) or x.ndim < 3:
            described = f"dtype {x.dtype}, shape {x.shape}" if isinstance(x, np.ndarray) \
                else type(x).__name__
            raise TypeError(f"Normalize needs a floating (C, H, W) array (apply ToTensor "
                            f"first), got {described}")
        mean = np.asarray(self.mean, dtype=x.dtype).reshape(-1, 1, 1)  # (C, 1, 1)
        std = np.asarray(self.std, dtype=x.dtype).reshape(-1, 1, 1)
        if (std == 0).any():
            raise ValueError(f"std evaluated to zero after conversion to {x.dtype}, "
                             f"leading to division by zero")
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={list(self.mean)}, std={list(self.std)})"


class Grayscale:
    """An image to grayscale by Pillow's 'L' conversion, as torchvision's ``Grayscale``.

    Pillow computes ``L = R * 299/1000 + G * 587/1000 + B * 114/1000`` in fixed point. The
    result is ``(H, W)`` for ``num_output_channels=1`` and ``(H, W, 3)`` (L repeated) for 3.
    """

    def __init__(self, num_output_channels: int = 1) -> None:
        if num_output_channels not in (1, 3):
            raise ValueError("num_output_channels should be either 1 or 3")
        self.num_output_channels = num_output_channels

    def __call__(self, img: ImageLike) -> np.ndarray:
        gray = np.array(_to_pil(img, "Grayscale").convert("L"))  # (H, W)
        if self.num_output_channels == 3:
            return np.stack([gray, gray, gray], axis=-1)  # (H, W, 3)
        return gray

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_output_channels={self.num_output_channels})"


class Resize:
    """An image resized with Pillow's bilinear filter (antialiased), as torchvision's default.

    ``size`` as ``(h, w)`` gives the output size; an int gives the smaller edge, the other edge
    becoming ``int(size * long / short)``, so the aspect ratio is kept. An image already of the
    output size is returned unchanged.
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        if not isinstance(size, numbers.Integral) and len(size) not in (1, 2):
            raise ValueError(f"size must be an int or a 1 or 2 element sequence, got {size}")
        self.size = size

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` an image of ``height x width`` is resized to."""
        if isinstance(self.size, numbers.Integral) or len(self.size) == 1:
            requested = int(self.size if isinstance(self.size, numbers.Integral)
                            else self.size[0])
            short, long = min(height, width), max(height, width)
            new_short, new_long = requested, int(requested * long / short)
            return (new_long, new_short) if width <= height else (new_short, new_long)
        return int(self.size[0]), int(self.size[1])

    def __call__(self, img: ImageLike) -> np.ndarray:
        pil = _to_pil(img, "Resize")
        new_h, new_w = self.output_size(pil.height, pil.width)
        if (new_h, new_w) != (pil.height, pil.width):
            pil = pil.resize((new_w, new_h), Image.Resampling.BILINEAR)
        out = np.array(pil)
        if isinstance(img, np.ndarray) and img.ndim == 3 and out.ndim == 2:
            out = out[:, :, None]  # keep an (H, W, 1) input's channel axis
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, interpolation=bilinear)"


class CenterCrop:
    """The central ``size`` window of an image or a tensor image, as torchvision's.

    The window's top-left corner is ``(round((H - h) / 2), round((W - w) / 2))`` (Python's
    round, half to even). An image smaller than the window is first padded with zeros,
    ``(W - w) // 2`` on the left and the rest on the right (likewise top and bottom).
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "size")

    def __call__(self, img: ImageLike) -> np.ndarray:
        tensor_image = _is_tensor_image(img)
        x = _to_array(img)
        h_axis, w_axis = _spatial_axes(x, tensor_image)
        height, width = x.shape[h_axis], x.shape[w_axis]
        crop_h, crop_w = self.size
        if crop_h > height or crop_w > width:
            pad_w, pad_h = max(crop_w - width, 0), max(crop_h - height, 0)
            x = _pad(x, (pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2),
                     tensor_image)
            height, width = x.shape[h_axis], x.shape[w_axis]
        top = round((height - crop_h) / 2.0)
        left = round((width - crop_w) / 2.0)
        return _crop(x, top, left, crop_h, crop_w, tensor_image)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class RandomCrop:
    """A ``size`` window at a random place, after optional zero ``padding``, as torchvision's.

    ``padding`` is an int (all borders), ``(left/right, top/bottom)`` or ``(l, t, r, b)``. The
    window's top-left corner ``(i, j)`` is drawn uniformly from
    ``[0, H - h] x [0, W - w]`` with minicnn's generator (nothing is drawn when the window is
    the whole image).
    """

    def __init__(self, size: int | Sequence[int],
                 padding: int | Sequence[int] | None = None) -> None:
        self.size = _pair(size, "size")
        self.padding = None if padding is None else _padding_ltrb(padding)

    def get_params(self, height: int, width: int) -> tuple[int, int]:
        """A random top-left corner ``(i, j)`` for the window in a ``height x width`` image."""
        crop_h, crop_w = self.size
        if height < crop_h or width < crop_w:
            raise ValueError(f"Required crop size {self.size} is larger than input image size "
                             f"{(height, width)}")
        if (height, width) == (crop_h, crop_w):
            return 0, 0
        generator = get_generator()
        i = int(generator.integers(0, height - crop_h + 1))
        j = int(generator.integers(0, width - crop_w + 1))
        return i, j

    def __call__(self, img: ImageLike) -> np.ndarray:
        tensor_image = _is_tensor_image(img)
        x = _to_array(img)
        if self.padding is not None:
            x = _pad(x, self.padding, tensor_image)
        h_axis, w_axis = _spatial_axes(x, tensor_image)
        i, j = self.get_params(x.shape[h_axis], x.shape[w_axis])
        return _crop(x, i, j, *self.size, tensor_image)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"
