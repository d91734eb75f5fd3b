"""Killing ``minicnn train`` (SIGKILL: no clean-up at all) at random moments and inside every
file write never leaves a truncated or half-written file, and ``--resume`` then ends
bit-identical to an uninterrupted run (weights and report). The child is
``tests/kill_child.py``, which kills itself inside its N-th write."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from runs import assert_same_run

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ARGS = ["train", "mnist_logreg", "--data", str(SHARED / "mnist"), "--limit", "300",
        "--epochs", "2", "--quiet"]
# every write of the run, as TARGET#K (the K-th write of TARGET by one process)
WRITES = {"run.json#1", "checkpoint-minicnn-seed0.npz#1", "checkpoint-minicnn-seed0.npz#2",
          "weights-minicnn-seed0.npz#1", "result-minicnn-seed0.json#1", "curves.png#1",
          "confusion-minicnn.png#1", "report.json#1", "report.md#1"}
PNG_START, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def child(out: Path, resume: bool = False, mode: str = "rename", log: Path | None = None,
          count: bool = False) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINICNN_OFFLINE": "1", "KILL_MODE": mode,
           "KILL_COUNT": "1" if count else ""}
    env.pop("KILL_LOG", None)
    if log is not None:
        env["KILL_LOG"] = str(log)
    argv = [*ARGS, "--out", str(out), *(["--resume"] if resume else [])]
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "kill_child.py"), *argv],
                            cwd=out.parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def assert_whole_files(out: Path) -> None:
    """Every file of the run folder (temporary files aside) is complete and readable."""
    for path in out.iterdir():
        if path.name.startswith("."):
            assert path.name.endswith(".tmp"), path  # a killed writer's temporary file
            continue
        data = path.read_bytes()
        if path.suffix == ".json":
            json.loads(data)
        elif path.suffix == ".npz":
            with np.load(path) as z:
                assert all(z[k] is not None for k in z.files) and z.files
        elif path.suffix == ".png":
            assert data.startswith(PNG_START) and data.endswith(PNG_END), path
        else:
            assert path.suffix == ".md" and data.endswith(b"\n") and data.startswith(b"# ")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """An uninterrupted run, which makes exactly the writes of WRITES, and its duration."""
    out = tmp_path_factory.mktemp("kill") / "whole"
    start = time.monotonic()
    code, err = finish(child(out, count=True))
    assert code == 0, err
    keys = err.split("writes: ")[-1].split()
    assert sorted(keys) == sorted(WRITES)
    return out, time.monotonic() - start


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["write", "rename"])
def test_killed_inside_every_write_then_resumed(reference: tuple[Path, float], tmp_path: Path,
                                                mode: str) -> None:
    """A chain of runs, each killed in the first write not yet killed in (the first fresh, the
    others with --resume), until one finishes; the files are checked after every kill."""
    out, log = tmp_path / "run", tmp_path / "killed.txt"
    for attempt in range(len(WRITES) + 2):
        code, err = finish(child(out, resume=attempt > 0, mode=mode, log=log))
        assert_whole_files(out)
        if code == 0:
            break
        assert code == -signal.SIGKILL, err
        assert list(out.glob(".*.tmp")), "killed inside a write: its temporary file is left"
    assert code == 0, "still killed after every write had been hit once"
    assert set(log.read_text().split()) == WRITES
    assert not list(out.glob(".*.tmp"))  # the killed writers' temporary files were removed
    assert_same_run(reference[0], out)


@pytest.mark.slow
def test_killed_at_random_moments_then_resumed(reference: tuple[Path, float],
                                               tmp_path: Path) -> None:
    """Four runs (the first fresh, then --resume) each killed after a random fraction (10-95 %)
    of an uninterrupted run's duration, then a --resume that finishes."""
    rng = random.Random(1234)
    out, kills = tmp_path / "run", 0
    for attempt in range(4):
        proc = child(out, resume=attempt > 0)
        try:
            proc.wait(timeout=rng.uniform(0.1, 0.95) * reference[1])
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        code, err = finish(proc)
        assert code in (0, -signal.SIGKILL), err
        assert_whole_files(out)
        kills += code != 0
    code, err = finish(child(out, resume=True))
    assert code == 0 and kills >= 1, err
    assert_same_run(reference[0], out)
