"""``--resume`` after Ctrl-C: one line saying what was saved and how to resume, exit status 130,
and a resumed run that ends bit-identical to an uninterrupted one (weights and report)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runs import assert_same_run, interrupt_after, offline_in

from minicnn.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline_in(tmp_path, monkeypatch)


def test_train_resumed_after_ctrl_c_is_bit_identical(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    # Keras-style CNN: batch norm, dropout masks and Adam's state all carry over the resume
    argv = ["train", "mnist_keras_cnn", "--data", str(SHARED / "mnist"), "--limit", "300",
            "--epochs", "3", "--quiet"]
    main([*argv, "--out", "whole"])
    with monkeypatch.context() as m:
        interrupt_after(m, 2)
        with pytest.raises(SystemExit) as info:
            main([*argv, "--out", "cut"])
    assert info.value.code == 130
    err = capsys.readouterr().err.strip()
    assert err == ("minicnn: interrupted; saved minicnn seed 0 after epoch 2 of 3 in cut; "
                   "resume with: minicnn " + " ".join(argv).replace(str(SHARED), str(SHARED))
                   + " --out cut --resume")
    assert (tmp_path / "cut" / "checkpoint-minicnn-seed0.npz").is_file()
    assert not (tmp_path / "cut" / "report.json").exists()
    main([*argv, "--out", "cut", "--resume"])
    assert_same_run(tmp_path / "whole", tmp_path / "cut")


def test_compare_keeps_finished_seeds_and_resumes(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    argv = ["compare", "mnist_cnn1", "--data", str(SHARED / "mnist"), "--limit", "200",
            "--epochs", "2", "--seeds", "2", "--quiet"]
    main([*argv, "--out", "whole"])
    with monkeypatch.context() as m:
        interrupt_after(m, 5)  # seed 0: 2 torch + 2 minicnn; seed 1: torch's first epoch
        with pytest.raises(SystemExit) as info:
            main([*argv, "--out", "cut"])
    assert info.value.code == 130
    assert "saved torch seed 1 after epoch 1 of 2 in cut" in capsys.readouterr().err
    kept = json.loads((tmp_path / "cut" / "report.json").read_text())
    assert kept["seeds"] == [0] and kept["seeds_asked"] == 2
    assert "(1 of 2 finished)" in (tmp_path / "cut" / "report.md").read_text()
    main([*argv, "--out", "cut", "--resume"])
    assert_same_run(tmp_path / "whole", tmp_path / "cut")
    assert json.loads((tmp_path / "cut" / "report.json").read_text())["seeds"] == [0, 1]


def test_ctrl_c_on_the_command_line(tmp_path: Path) -> None:
    """A real SIGINT to ``python -m minicnn.cli train``: one line, status 130, no traceback."""
    out = tmp_path / "run"
    argv = ["train", "mnist_cnn1", "--data", str(SHARED / "mnist"), "--limit", "2000",
            "--epochs", "50", "--quiet", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINICNN_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "minicnn.cli", *argv], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = out / "checkpoint-minicnn-seed0.npz"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # NOTE: not in the instant between the checkpoint's rename and its note
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("\nminicnn: interrupted; saved minicnn seed 0 after epoch ")
    assert stderr.strip().endswith(f"--out {out} --resume")


def test_ctrl_c_outside_a_run_is_one_line_too(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    import minicnn.cli

    def interrupted(_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(minicnn.cli, "_experiments", interrupted)
    with pytest.raises(SystemExit) as info:
        main(["experiments"])
    assert info.value.code == 130 and capsys.readouterr().err == "\nminicnn: interrupted\n"
