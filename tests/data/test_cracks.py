"""CrackImages on the 700 brick photographs (against torchvision's ImageFolder), and on
folders with broken files, empty or missing class folders."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import datasets as tv_datasets
from torchvision import transforms as T

from minicnn.data import CrackImages, DataLoader, transforms


def test_brick_images_equal_torchvision_image_folder(cracks_dir):
    dataset = CrackImages(cracks_dir)
    assert len(dataset) == 700 and dataset.classes == ["Negative", "Positive"]
    np.testing.assert_array_equal(np.bincount(dataset.targets), [350, 350])
    assert dataset.samples[0] == (cracks_dir / "Negative" / "00001.jpg", 0)
    assert dataset.samples[350] == (cracks_dir / "Positive" / "00001.jpg", 1)
    reference = tv_datasets.ImageFolder(cracks_dir, transform=T.Compose(
        [T.Grayscale(), T.ToTensor()]))
    assert [(Path(p), label) for p, label in reference.samples] == dataset.samples
    for index in (0, 349, 350, 699):
        x, label = dataset[index]
        want_x, want_label = reference[index]
        assert x.dtype == np.float32 and x.shape == (1, 227, 227)
        np.testing.assert_array_equal(x, want_x.numpy())
        assert label == want_label


def test_custom_transform_gets_the_rgb_image_and_loader_batches(cracks_dir):
    dataset = CrackImages(cracks_dir, transform=transforms.Compose(
        [transforms.Resize(32), transforms.ToTensor()]))
    x, y = next(iter(DataLoader(dataset, batch_size=4, shuffle=True, seed=0)))
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64


@pytest.fixture
def broken_folder(cracks_dir, tmp_path) -> Path:
    """3 good positives, 2 good negatives, a text file, two truncated JPEGs, a padded JPEG."""
    for name in ("Positive", "Negative"):
        (tmp_path / name).mkdir()
    for i in (1, 2, 3):
        shutil.copy(cracks_dir / "Positive" / f"0000{i}.jpg", tmp_path / "Positive")
    shutil.copy(cracks_dir / "Negative" / "00001.jpg", tmp_path / "Negative")
    good = (cracks_dir / "Negative" / "00002.jpg").read_bytes()
    (tmp_path / "Negative" / "00002.jpg").write_bytes(good + b"\x00" * 16)  # padding is fine
    (tmp_path / "Positive" / "notes.txt").write_text("not an image\n")
    (tmp_path / "Positive" / "00004.jpg").write_bytes(good[:len(good) // 2])
    (tmp_path / "Negative" / "00003.jpg").write_bytes(good[:-10])
    return tmp_path


def test_truncated_jpeg_passes_open_but_fails_decoding(broken_folder):
    path = broken_folder / "Negative" / "00003.jpg"
    with Image.open(path) as img:
        img.verify()  # what a cheap check alone would accept
    with Image.open(path) as img, pytest.raises(OSError, match="truncated"):
        img.load()


def test_unreadable_files_are_skipped_with_a_warning(broken_folder):
    with pytest.warns(UserWarning, match=r"3 unreadable file\(s\) of 8") as record:
        dataset = CrackImages(broken_folder)
    message = str(record[0].message)
    assert "notes.txt" in message and "00004.jpg" in message and "00003.jpg" in message
    assert "no end-of-image marker" in message
    assert len(dataset) == 5
    np.testing.assert_array_equal(dataset.targets, [0, 0, 1, 1, 1])
    assert [path.name for path, _ in dataset.skipped] == ["00003.jpg", "00004.jpg", "notes.txt"]
    for index in range(len(dataset)):
        assert dataset[index][0].shape == (1, 227, 227)


def test_unreadable_files_raise_when_strict(broken_folder):
    with pytest.raises(ValueError, match=r"3 unreadable file\(s\) of 8.*notes.txt"):
        CrackImages(broken_folder, strict=True)


def test_empty_or_missing_class_folder(cracks_dir, tmp_path):
    (tmp_path / "Positive").mkdir()
    shutil.copy(cracks_dir / "Positive" / "00001.jpg", tmp_path / "Positive")
    with pytest.raises(FileNotFoundError, match=r"Negative: class folder not found"):
        CrackImages(tmp_path)
    (tmp_path / "Negative").mkdir()
    with pytest.raises(ValueError, match=r"Negative: no readable image in the class folder"):
        CrackImages(tmp_path)
    (tmp_path / "Negative" / "Thumbs.db").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"no readable image .*\(1 files\)"):
        CrackImages(tmp_path)


def test_a_file_broken_after_listing_fails_with_its_name(broken_folder):
    with pytest.warns(UserWarning):
        dataset = CrackImages(broken_folder)
    path = dataset.samples[0][0]
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(OSError, match=rf"{path.name}: cannot decode image"):
        dataset[0]
