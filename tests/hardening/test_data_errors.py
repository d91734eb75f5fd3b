"""Data errors that name the culprit: a crack image of another size (file and both sizes),
samples of different shapes in a batch, and a loader left usable after a failing batch."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minicnn.data import CrackImages, DataLoader, Subset, TensorDataset, collate, transforms


def _folder(root: Path, odd_size: tuple[int, int] | None = (40, 30)) -> Path:
    """Three 32x32 JPEGs per class; with ``odd_size``, Positive/odd.jpg is (width, height)."""
    rng = np.random.default_rng(0)
    for name in ("Negative", "Positive"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.jpg")
    if odd_size is not None:
        w, h = odd_size
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / "Positive" / "odd.jpg")
    return root


def test_an_image_of_another_size_is_named_with_both_sizes(tmp_path: Path) -> None:
    root = _folder(tmp_path / "cracks")
    with pytest.warns(UserWarning, match=r"1 image\(s\) differ in size from the other 6 "
                                         r"\(32x32\):.*Positive/odd\.jpg is 40x30"):
        dataset = CrackImages(root)
    with pytest.raises(ValueError, match=r"odd\.jpg is 40x30"):
        CrackImages(root, strict=True)
    odd = [i for i, (p, _) in enumerate(dataset.samples) if p.name == "odd.jpg"][0]
    loader = DataLoader(dataset, batch_size=len(dataset))
    with pytest.raises(ValueError) as info:
        next(iter(loader))
    message = str(info.value)
    assert f"sample {odd} ({root / 'Positive' / 'odd.jpg'} (40x30 image))" in message
    assert "(1, 30, 40)" in message and "(1, 32, 32)" in message and "32x32 image" in message
    # the loader is still usable: a batch without the odd image goes through
    x, y = next(iter(DataLoader(Subset(dataset, [0, 1, 2]), batch_size=3)))
    assert x.shape == (3, 1, 32, 32)


def test_a_subset_names_the_file_and_its_index_in_the_full_dataset(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = CrackImages(_folder(tmp_path / "cracks"))
    odd = [i for i, (p, _) in enumerate(dataset.samples) if p.name == "odd.jpg"][0]
    part = Subset(dataset, [0, odd])
    with pytest.raises(ValueError, match=rf"sample 1 \(sample {odd} of the full dataset, .*"
                                         r"odd\.jpg \(40x30 image\)\)"):
        next(iter(DataLoader(part, batch_size=2)))


def test_a_resizing_transform_makes_mixed_sizes_usable_without_a_warning(
        tmp_path: Path) -> None:
    root = _folder(tmp_path / "cracks")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = CrackImages(root, transform=transforms.Compose(
            [transforms.Resize((16, 16)), transforms.ToTensor()]))
    x, _ = next(iter(DataLoader(dataset, batch_size=len(dataset))))
    assert x.shape == (7, 3, 16, 16)


def test_one_size_gives_no_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = CrackImages(_folder(tmp_path / "cracks", odd_size=None))
    assert dataset.sizes == [(32, 32)] * 6


def test_collate_names_the_field_and_the_shapes() -> None:
    samples = [(np.zeros((2, 3)), 0), (np.zeros((2, 4)), 1)]
    with pytest.raises(ValueError, match=r"field 0 of sample 1: its shape \(2, 4\) differs "
                                         r"from the shape \(2, 3\) of sample 0"):
        collate(samples)
    with pytest.raises(ValueError, match="different numbers of fields"):
        collate([(np.zeros(2), 0), (np.zeros(2),)])
    data = TensorDataset(np.zeros((4, 2)), np.arange(4))
    x, y = collate([data[0], data[1]])
    assert x.shape == (2, 2) and y.dtype == np.int64
