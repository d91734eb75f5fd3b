"""CIFAR-10 on small archives built here in both official formats (no CIFAR-10 files exist on
this machine): arrays equal to torchvision's, the search order, downloading from a local
server with the MD5 checked, malformed files, and malicious pickles refused."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from minicnn.data import CIFAR10, DownloadError, cifar, load_cifar10
from minicnn.data.cifar import CLASSES, RestrictedUnpickler, restricted_loads

TRAIN_PER_BATCH, TEST_SIZE = 4, 6
NUMPY1_GLOBAL = b"cnumpy.core.multiarray\n_reconstruct\n"  # how the official pickles name it


class _Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the official files: protocol 2, byte strings as
    Python 2 ``str`` opcodes (read back as latin1 text), and NumPy 1's module path."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def py2_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n_reconstruct\n", NUMPY1_GLOBAL)


def _split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return (rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 10, size=n).astype(np.int64))


class Built:
    """Small CIFAR-10 files in both official formats, from the same arrays: ``train`` and
    ``test`` (images uint8 (N, 32, 32, 3), labels), and ``files(kind)``, the members of the
    ``bin`` or ``py`` version by name."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.train = _split(rng, 5 * TRAIN_PER_BATCH)
        self.test = _split(rng, TEST_SIZE)

    def batches(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for i in range(5):
            part = slice(i * TRAIN_PER_BATCH, (i + 1) * TRAIN_PER_BATCH)
            out[f"data_batch_{i + 1}"] = (self.train[0][part], self.train[1][part])
        out["test_batch"] = self.test
        return out

    def files(self, kind: str) -> dict[str, bytes]:
        files = {"readme.html": b"<html>a small test archive</html>"}
        for name, (images, labels) in self.batches().items():
            planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # (N, 3072): R, G, B
            if kind == "bin":
                records = np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1)
                files[f"{name}.bin"] = records.tobytes()
            else:
                files[name] = py2_pickle({
                    b"batch_label": name.encode(), b"labels": [int(v) for v in labels],
                    b"data": np.ascontiguousarray(planes),
                    b"filenames": [f"img_{k}.png".encode() for k in range(len(labels))]})
                assert NUMPY1_GLOBAL in files[name]
        if kind == "bin":
            files["batches.meta.txt"] = ("\n".join(CLASSES) + "\n\n").encode()
        else:
            files["batches.meta"] = py2_pickle({
                b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": 10000,
                b"num_vis": 3072})
        return files

    def write_dir(self, parent: Path, kind: str) -> Path:
        folder = parent / f"cifar-10-batches-{kind}"
        folder.mkdir(parents=True)
        for name, data in self.files(kind).items():
            (folder / name).write_bytes(data)
        return folder

    def archive_bytes(self, kind: str) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in self.files(kind).items():
                info = tarfile.TarInfo(f"cifar-10-batches-{kind}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def write_archive(self, parent: Path, kind: str) -> Path:
        name = cifar.BINARY_ARCHIVE if kind == "bin" else cifar.PYTHON_ARCHIVE
        parent.mkdir(parents=True, exist_ok=True)
        (parent / name).write_bytes(self.archive_bytes(kind))
        return parent / name


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


def _torchvision(folder: Path, train: bool, monkeypatch: pytest.MonkeyPatch):
    """torchvision's CIFAR10 on a built python-version folder (its MD5 checks, which only
    the real files pass, switched off)."""
    tv = pytest.importorskip("torchvision.datasets.cifar")
    monkeypatch.setattr(tv, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(tv.CIFAR10, "_check_integrity", lambda self: True)
    return tv.CIFAR10(str(folder.parent), train=train)


@pytest.mark.parametrize("train", [True, False], ids=["train", "test"])
@pytest.mark.parametrize("layout", ["bin-dir", "py-dir", "bin-archive", "py-archive"])
def test_arrays_equal_torchvisions(built: Built, layout: str, train: bool, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    kind, form = layout.split("-")
    if form == "dir":
        built.write_dir(tmp_path / "mine", kind)
    else:
        built.write_archive(tmp_path / "mine", kind)
    ours = CIFAR10(tmp_path / "mine", train=train)
    theirs = _torchvision(built.write_dir(tmp_path / "tv", "py"), train, monkeypatch)
    assert ours.data.dtype == np.uint8 and ours.data.shape == theirs.data.shape
    np.testing.assert_array_equal(ours.data, theirs.data)
    assert ours.targets.dtype == np.int64
    np.testing.assert_array_equal(ours.targets, np.asarray(theirs.targets))
    assert ours.classes == theirs.classes == CLASSES
    assert ours.class_to_idx == theirs.class_to_idx
    np.testing.assert_array_equal(ours.data, (built.train if train else built.test)[0])
    assert len(ours) == (5 * TRAIN_PER_BATCH if train else TEST_SIZE)
    image, target = ours[3]
    assert image.shape == (32, 32, 3) and target == int(theirs.targets[3])
    assert isinstance(target, int)


def test_transforms_and_float_arrays(built: Built, tmp_path: Path) -> None:
    built.write_dir(tmp_path, "bin")
    ds = CIFAR10(tmp_path, train=False, transform=lambda im: im[0, 0],
                 target_transform=lambda t: -t)
    image, target = ds[2]
    np.testing.assert_array_equal(image, built.test[0][2, 0, 0])
    assert target == -int(built.test[1][2])
    arrays = load_cifar10("test", tmp_path)
    assert arrays.images.shape == (TEST_SIZE, 3, 32, 32) and arrays.images.dtype == np.float32
    assert arrays.images.flags.c_contiguous
    np.testing.assert_array_equal(arrays.images, built.test[0].transpose(0, 3, 1, 2)
                                  .astype(np.float32) / 255)
    assert 0 <= arrays.images.min() and arrays.images.max() <= 1
    np.testing.assert_array_equal(arrays.labels, built.test[1])
    assert arrays.classes == CLASSES and "test" in arrays.source
    assert load_cifar10("train", tmp_path, dtype=np.float64).images.dtype == np.float64
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_cifar10("valid", tmp_path)


def test_search_order(built: Built, tmp_path: Path, _isolated_data_env: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """root (its cifar10/ too, or a batches folder itself), then $MINICNN_DATA, then the
    cache; the binary version before the python one in the same folder."""
    cache = _isolated_data_env
    built.write_archive(cache / "cifar10", "py")
    assert CIFAR10(train=False).source == cache / "cifar10" / cifar.PYTHON_ARCHIVE
    data_root = tmp_path / "data"
    built.write_dir(data_root / "cifar10", "py")
    monkeypatch.setenv("MINICNN_DATA", str(data_root))
    assert CIFAR10(train=False).source == data_root / "cifar10" / "cifar-10-batches-py"
    built.write_dir(data_root / "cifar10", "bin")
    assert CIFAR10(train=False).source == data_root / "cifar10" / "cifar-10-batches-bin"
    root = tmp_path / "root"
    built.write_archive(root / "cifar10", "bin")
    assert CIFAR10(root, train=False).source == root / "cifar10" / cifar.BINARY_ARCHIVE
    inner = built.write_dir(tmp_path / "elsewhere", "py")
    assert CIFAR10(inner, train=False).source == inner


def test_nothing_found_names_the_places_looked(tmp_path: Path, _isolated_data_env: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        CIFAR10(tmp_path)
    message = str(info.value)
    assert "cifar-10-batches-bin/" in message and cifar.BINARY_ARCHIVE in message
    for folder in (tmp_path, tmp_path / "cifar10", _isolated_data_env / "cifar10"):
        assert f"  {folder}\n" in message + "\n"


# ------------------------------------------------------------------------------------------
# Downloading (a local server on 127.0.0.1)
# ------------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server(built: Built) -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files = {cifar.BINARY_ARCHIVE: built.archive_bytes("bin")}
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_download_checks_the_md5_and_caches(built: Built, server: ThreadingHTTPServer,
                                            _isolated_data_env: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = f"http://127.0.0.1:{server.server_address[1]}/kriz/"
    body = server.files[cifar.BINARY_ARCHIVE]
    with pytest.raises(DownloadError, match="MD5 mismatch"):  # the real archive's MD5
        CIFAR10(train=False, download=True, mirrors=[mirror])
    assert not (_isolated_data_env / "cifar10" / cifar.BINARY_ARCHIVE).exists()
    monkeypatch.setitem(cifar.CIFAR10_MD5, cifar.BINARY_ARCHIVE, hashlib.md5(body).hexdigest())
    ds = CIFAR10(train=False, download=True, mirrors=[mirror])
    assert ds.source == _isolated_data_env / "cifar10" / cifar.BINARY_ARCHIVE
    np.testing.assert_array_equal(ds.data, built.test[0])
    CIFAR10(train=True, download=True, mirrors=[mirror])  # found in the cache, not fetched
    assert server.requests == [f"/kriz/{cifar.BINARY_ARCHIVE}"] * 2


# ------------------------------------------------------------------------------------------
# Malformed files and malicious pickles
# ------------------------------------------------------------------------------------------

def test_malformed_binary_batches(built: Built, tmp_path: Path) -> None:
    folder = built.write_dir(tmp_path, "bin")
    good = (folder / "test_batch.bin").read_bytes()
    (folder / "test_batch.bin").write_bytes(good[:-1])
    with pytest.raises(ValueError, match="not a whole number of 3073-byte records"):
        CIFAR10(tmp_path, train=False)
    (folder / "test_batch.bin").write_bytes(bytes([10]) + good[1:])
    with pytest.raises(ValueError, match=r"labels must be 0..9, found \d..10"):
        CIFAR10(tmp_path, train=False)
    (folder / "test_batch.bin").write_bytes(good)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(FileNotFoundError, match="missing data_batch_3.bin"):
        CIFAR10(tmp_path, train=True)


def test_archive_without_a_member(built: Built, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = built.files("bin")["batches.meta.txt"]
        info = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (tmp_path / cifar.BINARY_ARCHIVE).write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="no cifar-10-batches-\\*/ test_batch.bin"):
        CIFAR10(tmp_path, train=False)


class _RunsACommand:
    """What an attacker pickles: unpickling it calls ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return os.system, (self.command,)


def test_a_pickle_that_runs_a_command_is_refused(built: Built, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": _RunsACommand(f"touch {marker}"), "labels": []}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|os|nt)\.system"):
        restricted_loads(payload)
    assert not marker.exists()
    folder = built.write_dir(tmp_path / "data", "py")
    (folder / "test_batch").write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        CIFAR10(tmp_path / "data", train=False)
    assert not marker.exists()
    # the same payload through plain pickle would have run the command (what is refused)
    pickle.loads(payload)
    assert marker.exists()


@pytest.mark.parametrize("payload", [
    b"cbuiltins\neval\n(S'1+1'\ntR.",  # builtins.eval('1+1')
    b"csubprocess\nPopen\n((S'true'\nltR.",  # subprocess.Popen(['true'])
    b"c_codecs\nencode\n(S'abc'\nS'rot13'\ntR.",  # an allowed name, a refused argument
], ids=["eval", "popen", "codec"])
def test_other_callables_are_refused(payload: bytes) -> None:
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        restricted_loads(payload)


def test_arrays_of_objects_are_refused() -> None:
    payload = pickle.dumps(np.array([1, "a"], dtype=object), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="Python objects"):
        restricted_loads(payload)


def test_plain_data_and_arrays_load(built: Built) -> None:
    """What the official files hold comes through: containers, numbers, text, uint8 arrays
    (pickled by Python 2 and NumPy 1, or by Python 3 and this NumPy)."""
    value = {"a": [1, 2.5, "x", b"y", (3, None, True)], "arr": np.arange(6, dtype=np.uint8)}
    for payload in (pickle.dumps(value, protocol=2), pickle.dumps(value, protocol=4)):
        got = restricted_loads(payload)
        assert got["a"] == value["a"]
        np.testing.assert_array_equal(got["arr"], value["arr"])
    entry = restricted_loads(built.files("py")["test_batch"])
    assert sorted(entry) == ["batch_label", "data", "filenames", "labels"]
    assert issubclass(RestrictedUnpickler, pickle.Unpickler)
