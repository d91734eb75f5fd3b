"""IDX reading: valid files gzipped or not, and a clear ValueError naming the file for each
kind of corruption (wrong magic, truncated, too long, wrong image size, gzip garbage)."""
import gzip

import numpy as np
import pytest

from minicnn.data import MNIST, read_idx, read_images, read_labels
from minicnn.data.idx import IMAGES_MAGIC, LABELS_MAGIC


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_reads_images_plain_and_gzipped(tmp_path, write_idx, small_mnist, name):
    images, _ = small_mnist
    path = write_idx(tmp_path / name, images)
    got = read_images(path)
    assert got.dtype == np.uint8 and got.shape == (12, 28, 28)
    np.testing.assert_array_equal(got, images)
    got[0, 0, 0] = 1  # a writable copy, not a view of the file's bytes


def test_reads_labels_as_int64(tmp_path, write_idx, small_mnist):
    _, labels = small_mnist
    got = read_labels(write_idx(tmp_path / "labels.gz", labels))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, labels)


def test_reads_other_idx_types(tmp_path):
    values = (np.arange(6).reshape(2, 3) - 3).astype(">i4")
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
                     + values.tobytes())
    np.testing.assert_array_equal(read_idx(path), values)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_wrong_magic(tmp_path, write_idx, small_mnist, suffix):
    images, labels = small_mnist
    path = write_idx(tmp_path / f"labels{suffix}", labels)
    with pytest.raises(ValueError, match=rf"{path.name}: expected IDX magic number "
                                         rf"{IMAGES_MAGIC}, found {LABELS_MAGIC}"):
        read_images(path)
    path = write_idx(tmp_path / f"images{suffix}", images, magic=0x12345678)
    with pytest.raises(ValueError, match=rf"{path.name}: expected IDX magic number "
                                         rf"{IMAGES_MAGIC}, found {0x12345678}"):
        read_images(path)


def test_gzipped_file_without_gz_suffix_gets_a_hint(tmp_path, write_idx, small_mnist):
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(write_idx(tmp_path / "x", small_mnist[0]).read_bytes()))
    with pytest.raises(ValueError, match="looks gzip-compressed"):
        read_images(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated(tmp_path, write_idx, small_mnist, suffix):
    images, labels = small_mnist
    path = write_idx(tmp_path / f"images{suffix}", images, cut=100)
    expected = 16 + 12 * 28 * 28
    with pytest.raises(ValueError, match=rf"images{suffix}: truncated: the header declares "
                                         rf"shape \(12, 28, 28\), so {expected} bytes, "
                                         rf"found {expected - 100} bytes"):
        read_images(path)
    path = write_idx(tmp_path / f"labels{suffix}", labels, cut=len(labels) + 2)
    with pytest.raises(ValueError, match=rf"labels{suffix}: truncated: the header declares 1 "
                                         r"dimensions \(8 header bytes\), found only 6 bytes"):
        read_labels(path)
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="tiny: truncated"):
        read_labels(path)


def test_too_long(tmp_path, small_mnist):
    _, labels = small_mnist
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + labels.tobytes())
    with pytest.raises(ValueError, match=r"labels: too long: .* so 18 bytes, found 20 bytes"):
        read_labels(path)


def test_wrong_image_size(tmp_path, write_idx):
    path = write_idx(tmp_path / "images.gz", np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"images.gz: expected images of 28x28 pixels, "
                                         r"found 32x32"):
        read_images(path)


def test_label_out_of_range(tmp_path, write_idx):
    path = write_idx(tmp_path / "labels", np.array([1, 2, 11], np.uint8))
    with pytest.raises(ValueError, match=r"labels: expected labels in 0..9, found 11"):
        read_labels(path)


def test_gzip_garbage(tmp_path, write_idx, small_mnist):
    path = tmp_path / "images.gz"
    path.write_bytes(b"this is not gzip data at all" * 10)
    with pytest.raises(ValueError, match=r"images.gz: not a valid gzip file"):
        read_images(path)
    whole = gzip.compress(write_idx(tmp_path / "x", small_mnist[0]).read_bytes())
    path.write_bytes(whole[:len(whole) // 2])  # a download cut in half
    with pytest.raises(ValueError, match=r"images.gz: not a valid gzip file"):
        read_images(path)


def test_count_mismatch(tmp_path, write_idx, small_mnist):
    images, labels = small_mnist
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:10])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz holds 12 images but "
                                         r".*t10k-labels-idx1-ubyte.gz holds 10 labels"):
        MNIST(tmp_path, train=False)
