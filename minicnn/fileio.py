"""Files written all or nothing: a temporary file beside the target, renamed over it when
complete, so that a kill or an error at any moment leaves either the old file or the new one,
never a truncated one, and no temporary file once the writer returns or raises."""
from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TMP_SUFFIX = ".tmp"


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(path: str | os.PathLike) -> Path:
    """A fresh hidden name beside ``path``: ``.{name}.{pid}.{random}.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writers of ``path`` left behind when they were killed
    (those whose process no longer runs); return what was removed."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*{TMP_SUFFIX}"):
        pid = tmp.name[len(path.name) + 2:].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb",
                 encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file for writing; on a normal exit it is flushed, fsync'ed and renamed
    over ``path`` (``os.replace``: atomic on POSIX and Windows); on any exception (Ctrl-C
    included) it is removed and ``path`` keeps its old content. ``mode`` is ``'wb'`` or ``'w'``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    remove_stale_temps(path)
    tmp = temp_name(path)
    # NOTE: O_EXCL: never follow or reuse a file someone else put there.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def write_text(path: str | os.PathLike, text: str) -> None:
    """``Path(path).write_text(text)``, all or nothing."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """``Path(path).write_bytes(data)``, all or nothing."""
    with atomic_write(path, "wb") as f:
        f.write(data)
