"""Transforms against torchvision's on the same inputs: crack photographs (PIL RGB), their
arrays, tensor images; bit-identical outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

import minicnn
from minicnn.data import transforms

IMAGE_FILES = ["Positive/00001.jpg", "Positive/00123.jpg", "Positive/00350.jpg",
               "Negative/00001.jpg", "Negative/00200.jpg"]

# (ours, torchvision's) pipelines on a PIL RGB image
PIPELINES = {
    "gray": (transforms.Compose([transforms.Grayscale(), transforms.ToTensor()]),
             T.Compose([T.Grayscale(), T.ToTensor()])),
    "gray3": (transforms.Compose([transforms.Grayscale(3), transforms.ToTensor()]),
              T.Compose([T.Grayscale(3), T.ToTensor()])),
    "course": (transforms.Compose([transforms.Grayscale(), transforms.Resize(64),
                                   transforms.CenterCrop(56), transforms.ToTensor(),
                                   transforms.Normalize([0.5], [0.25])]),
               T.Compose([T.Grayscale(), T.Resize(64), T.CenterCrop(56), T.ToTensor(),
                          T.Normalize([0.5], [0.25])])),
    "rgb": (transforms.Compose([transforms.Resize((100, 80)), transforms.CenterCrop(75),
                                transforms.ToTensor(),
                                transforms.Normalize([0.485, 0.456, 0.406],
                                                     [0.229, 0.224, 0.225])]),
            T.Compose([T.Resize((100, 80)), T.CenterCrop(75), T.ToTensor(),
                       T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])),
    "pad_crop": (transforms.Compose([transforms.CenterCrop((240, 231)), transforms.ToTensor()]),
                 T.Compose([T.CenterCrop((240, 231)), T.ToTensor()])),
    "after_to_tensor": (transforms.Compose([transforms.ToTensor(), transforms.CenterCrop(200)]),
                        T.Compose([T.ToTensor(), T.CenterCrop(200)])),
}


@pytest.fixture
def images(cracks_dir) -> list[Image.Image]:
    """A few of the brick crack photographs, decoded as RGB as torchvision's loader does."""
    loaded = []
    for name in IMAGE_FILES:
        with Image.open(cracks_dir / name) as img:
            loaded.append(img.convert("RGB"))
    return loaded


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_pipelines_equal_torchvision(images, pipeline):
    ours, theirs = PIPELINES[pipeline]
    for img in images:
        got, want = ours(img), theirs(img).numpy()
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pipeline", ["gray", "course", "rgb", "pad_crop"])
def test_arrays_give_the_same_as_pil_images(images, pipeline):
    ours, _ = PIPELINES[pipeline]
    for img in images:
        np.testing.assert_array_equal(ours(np.array(img)), ours(img))


@pytest.mark.parametrize("size", [64, [50], (30, 90), 150])
def test_resize_non_square_equals_torchvision(images, size):
    img = images[0].crop((10, 0, 210, 120))  # 200 wide, 120 high
    for image in (img, img.convert("L"), img.transpose(Image.Transpose.TRANSPOSE)):
        got = transforms.Resize(size)(image)
        want = np.array(T.Resize(size)(image))
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    assert transforms.Resize(size).output_size(120, 200) == tuple(
        T.Resize(size)(img).size[::-1])


def test_resize_keeps_a_single_channel_axis(images):
    gray = np.array(images[0].convert("L"))[:, :, None]  # (H, W, 1)
    assert transforms.Resize(32)(gray).shape == (32, 32, 1)
    assert transforms.Resize(227)(gray).shape == (227, 227, 1)  # already that size


def test_to_tensor_on_arrays_equals_torchvision(rng):
    hwc = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    for x in (hwc, hwc[:, :, 0]):
        got = transforms.ToTensor()(x)
        np.testing.assert_array_equal(got, TF.to_tensor(x).numpy())
        assert got.dtype == np.float32 and got.flags.c_contiguous
    floats = rng.random((5, 7, 2))  # not uint8: only transposed, as torchvision does
    np.testing.assert_array_equal(transforms.ToTensor()(floats), TF.to_tensor(floats).numpy())
    binary = Image.fromarray(hwc[:, :, 0] > 128)  # mode '1'
    np.testing.assert_array_equal(transforms.ToTensor()(binary), TF.to_tensor(binary).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_equals_torchvision(rng, dtype):
    x = rng.random((3, 6, 5)).astype(dtype)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    got = transforms.Normalize(mean, std)(x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, T.Normalize(mean, std)(torch.from_numpy(x)).numpy())
    batch = rng.random((2, 3, 4, 4)).astype(dtype)  # (N, C, H, W) broadcasts too
    np.testing.assert_array_equal(transforms.Normalize(mean, std)(batch),
                                  T.Normalize(mean, std)(torch.from_numpy(batch)).numpy())


def test_normalize_errors():
    with pytest.raises(TypeError, match="apply ToTensor first"):
        transforms.Normalize([0.5], [0.5])(np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="division by zero"):
        transforms.Normalize([0.5], [0.0])(np.zeros((1, 4, 4), np.float32))


def test_grayscale_and_resize_refuse_tensor_images():
    with pytest.raises(TypeError, match="apply it before ToTensor"):
        transforms.Grayscale()(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(TypeError, match="apply it before ToTensor"):
        transforms.Resize(2)(np.zeros((3, 4, 4), np.float32))


@pytest.mark.parametrize("padding", [None, 4, (2, 3), (1, 2, 3, 4)])
def test_random_crop_equals_torchvision_at_the_same_corner(images, padding):
    img = images[1]
    ours = transforms.RandomCrop(200, padding=padding)
    padded = TF.pad(img, list(ours.padding)) if padding is not None else img
    minicnn.manual_seed(3)
    i, j = ours.get_params(padded.height, padded.width)
    minicnn.manual_seed(3)
    got = ours(img)
    np.testing.assert_array_equal(got, np.array(TF.crop(padded, i, j, 200, 200)))
    tensor_image = TF.to_tensor(img)
    minicnn.manual_seed(3)
    got = ours(tensor_image.numpy())
    want = TF.crop(TF.pad(tensor_image, list(ours.padding)) if padding is not None
                   else tensor_image, i, j, 200, 200)
    np.testing.assert_array_equal(got, want.numpy())


def test_random_crop_draws_from_minicnns_generator():
    x = np.arange(100, dtype=np.uint8).reshape(10, 10)
    crop = transforms.RandomCrop(4, padding=2)
    minicnn.manual_seed(11)
    first = [crop(x) for _ in range(20)]
    minicnn.manual_seed(11)
    second = [crop(x) for _ in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert all(a.shape == (4, 4) for a in first)
    assert len({a.tobytes() for a in first}) > 5  # really random
    np.testing.assert_array_equal(transforms.RandomCrop(10)(x), x)  # whole image: no draw
    with pytest.raises(ValueError, match="larger than input image size"):
        transforms.RandomCrop(11)(x)
