"""``python tests/kill_child.py ARGS``: ``minicnn ARGS`` that kills itself (SIGKILL, no clean-up
of any kind) inside a file write, as a crash or ``kill -9`` would.

Each write is keyed ``TARGET#K`` (the K-th write of file TARGET in this process), seen at the
temporary files of ``minicnn.fileio.atomic_write`` (and of any writer with the same
``.{target}.{pid}.{random}.tmp`` naming), caught at ``os.fdopen`` and ``os.replace``. With
``KILL_LOG=PATH``, the first write whose key is not yet in that file is appended to it and the
process dies: ``KILL_MODE=write`` in the middle of the data (half of the first chunk on disk),
``KILL_MODE=rename`` with the temporary file complete and synced, just before the rename. With
``KILL_COUNT=1`` it prints the keys of all its writes to stderr at the end.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Any

MODE = os.environ.get("KILL_MODE", "rename")
LOG = os.environ.get("KILL_LOG")
_seen: dict[str, int] = {}
_keys: list[str] = []


def _target(path: Any) -> str | None:
    """The file a temporary file stands for, or None if ``path`` is not one."""
    name = os.path.basename(os.fspath(path))
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    return name[1:].rsplit(".", 3)[0]


def _tick(path: Any) -> bool:
    """Count a write to ``path``; True (and logged) when the process is to die in it."""
    target = _target(path)
    if target is None:
        return False
    _seen[target] = _seen.get(target, 0) + 1
    key = f"{target}#{_seen[target]}"
    _keys.append(key)
    if LOG is None:
        return False
    done = open(LOG).read().split() if os.path.exists(LOG) else []
    if key in done:
        return False
    with open(LOG, "a") as f:
        f.write(key + "\n")
    return True


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _HalfThenDie:
    """A file whose first write puts half of its bytes on disk, then kills the process."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def write(self, data: Any) -> int:
        if isinstance(data, str):
            self._f.write(data[: max(len(data) // 2, 1)])
        else:
            view = memoryview(data).cast("B")
            self._f.write(view[: max(len(view) // 2, 1)])
        self._f.flush()
        os.fsync(self._f.fileno())
        _die()
        return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _HalfThenDie:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.__exit__(*exc)


def _install() -> None:
    real_fdopen, real_replace = os.fdopen, os.replace

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        f = real_fdopen(fd, *args, **kwargs)
        if MODE == "write" and _tick(os.readlink(f"/proc/self/fd/{fd}")):
            return _HalfThenDie(f)
        return f

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        if MODE == "rename" and _tick(src):
            _die()
        real_replace(src, dst, **kwargs)

    if os.environ.get("KILL_COUNT"):
        import atexit

        atexit.register(lambda: print("writes: " + " ".join(_keys), file=sys.stderr))

    os.fdopen, os.replace = fdopen, replace


if __name__ == "__main__":
    _install()
    from minicnn.cli import main

    main(sys.argv[1:])
