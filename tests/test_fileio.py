"""minicnn.fileio: a file is replaced whole or not at all, and no temporary file is left."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minicnn import fileio


def test_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    fileio.write_text(target, "new")
    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_error_while_writing_keeps_old_file_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), fileio.atomic_write(target, "w") as f:
        f.write("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_temp_of_a_killed_writer_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "weights.npz"
    script = ("import os, sys; from minicnn import fileio\n"
              "with fileio.atomic_write(sys.argv[1]) as f:\n"
              "    f.write(b'half'); f.flush(); os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(target)], check=False)
    assert proc.returncode == -9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".weights.npz.") and left[0].endswith(".tmp")
    assert not target.exists()
    fileio.write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]


def test_temp_of_a_live_writer_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    other = tmp_path / f".a.txt.{os.getppid()}.abcd1234.tmp"  # the parent process is alive
    other.write_text("in progress")
    fileio.write_text(target, "x")
    assert other.exists()


def test_bad_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be"), \
            fileio.atomic_write(tmp_path / "a", "a"):
        pass
