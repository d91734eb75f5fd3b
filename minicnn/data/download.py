"""Downloading data files into minicnn's cache: MD5-checked, atomic, with a progress bar.

``download_file`` tries each mirror in turn; the bytes go to a temporary file beside the target
that replaces it only when complete and verified (``os.replace``), and is removed on any
failure, so the cache never holds a partial or corrupt file. Downloads are off when the
environment variable ``MINICNN_OFFLINE`` is set to anything but ``0`` or empty (the command
line's ``--offline`` sets it): ``download_file`` then raises ``DownloadError`` at once.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from minicnn import fileio

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 30.0  # seconds a connect or a read may wait before a mirror is given up
OFFLINE_ENV = "MINICNN_OFFLINE"
CHUNK_BYTES = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be downloaded from any mirror (or failed its MD5 check)."""


def cache_dir() -> Path:
    """minicnn's download cache: ``$MINICNN_CACHE``, else ``~/.cache/minicnn``."""
    return Path(os.environ.get("MINICNN_CACHE") or Path.home() / ".cache" / "minicnn").expanduser()


def offline() -> bool:
    """True when downloads are off: ``$MINICNN_OFFLINE`` set to anything but '' or '0'."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def display_path(path: str | os.PathLike) -> str:
    """``path`` as a report should show it, without this machine's layout: a relative path as
    given, one under the working directory relative to it, one under the home folder as
    ``~/...``; any other absolute path (a system folder) as it is."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def _progress(name: str, total: int | None) -> Any:
    """A tqdm bar in bytes on stderr when tqdm is installed and stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"downloading {name}", leave=False, file=sys.stderr)


def _fetch(url: str, dest: Path, md5: str, timeout: float) -> None:
    """Download ``url`` to ``dest`` if its MD5 is ``md5``; otherwise leave no file behind.

    Written through ``minicnn.fileio.atomic_write``: the bytes go to a temporary file beside
    ``dest``, which replaces it only once complete and verified (a failed check raises inside
    the block, so the temporary file is removed and ``dest`` is untouched).
    """
    request = urllib.request.Request(url, headers={"User-Agent": "minicnn"})
    with urllib.request.urlopen(request, timeout=timeout) as resp, \
            fileio.atomic_write(dest) as out:
        announced = resp.headers.get("Content-Length")
        bar = _progress(dest.name, int(announced) if announced else None)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            received = 0
            while chunk := resp.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        # NOTE: http.client's read(n) returns b"" when the server closes early, without an
        # error; a short body without a Content-Length is still caught by the MD5 check.
        if announced is not None and received != int(announced):
            raise DownloadError(f"connection closed after {received} of {announced} bytes")
        if digest.hexdigest() != md5:
            raise DownloadError(f"MD5 mismatch: expected {md5}, got {digest.hexdigest()}")


def download_file(filename: str, md5: str, dest_dir: str | os.PathLike, mirrors: Sequence[str],
                  timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Fetch ``filename`` from the first mirror that serves it with MD5 ``md5``.

    Tries ``mirror + filename`` for each mirror in order; the first success is written to
    ``dest_dir/filename`` and its path returned. No file, not even a partial one, is left when a
    mirror fails (unreachable, error status, dropped connection, timeout, wrong MD5). Raises
    ``DownloadError`` listing every mirror's failure when none succeeds, and at once, without
    touching the network, when downloads are off (``MINICNN_OFFLINE``, ``--offline``).
    """
    if offline():
        raise DownloadError(f"could not download {filename}: downloads are off "
                            f"({OFFLINE_ENV}=1 or --offline)")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{filename}"
        try:
            _fetch(url, dest, md5, timeout)
        except (OSError, ValueError, http.client.HTTPException, DownloadError) as exc:
            failures.append(f"  {url}: {type(exc).__name__}: {exc}")
            continue
        logger.info("downloaded %s to %s", url, dest)
        return dest
    raise DownloadError(f"could not download {filename} from any of {len(failures)} mirrors "
                        f"(no network?):\n" + "\n".join(failures))
