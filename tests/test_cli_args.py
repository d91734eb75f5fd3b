"""Bad command lines: each is refused before any work, with an exit status and a message that
names the option at fault."""
from __future__ import annotations

from pathlib import Path

import pytest
from runs import offline_in

from minicnn.cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
USAGE = 2  # argparse's exit status for a bad command line


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline_in(tmp_path, monkeypatch)


MNIST = ["--data", str(SHARED / "mnist")]

# (command line, the option its message must name, argparse's usage error or our own line)
BAD = [
    (["train", "mnist_logreg", "--epochs", "0"], "--epochs", "positive integer"),
    (["train", "mnist_logreg", "--epochs", "-1"], "--epochs", "positive integer"),
    (["train", "mnist_logreg", "--epochs", "two"], "--epochs", "expected an integer"),
    (["train", "mnist_logreg", "--epochs", "2.5"], "--epochs", "expected an integer"),
    (["train", "mnist_logreg", "--limit", "0"], "--limit", "positive integer"),
    (["train", "mnist_logreg", "--limit", "-4000"], "--limit", "positive integer"),
    (["compare", "mnist_logreg", "--seeds", "0"], "--seeds", "positive integer"),
    (["compare", "mnist_logreg", "--seeds", "-3"], "--seeds", "positive integer"),
    (["train", "mnist_logreg", "--seed", "-1"], "--seed", "0..4294967295"),
    (["train", "mnist_logreg", "--seed", str(2**32)], "--seed", "0..4294967295"),
    (["train", "mnist_logreg", "--engine", "jax"], "--engine", "invalid choice"),
    (["summary", "cnn2", "--input-size", "0", "28", "28"], "--input-size", "positive integer"),
    (["bench", "--threads", "0"], "--threads", "positive integer"),
    (["bench", "--torch-threads", "-2"], "--torch-threads", "positive integer"),
    (["bench", "--seconds", "-1"], "--seconds", "positive number"),
    (["bench", "--seconds", "nan"], "--seconds", "positive number"),
    (["bench", "--memory-steps", "0"], "--memory-steps", "positive integer"),
]


@pytest.mark.parametrize("argv, option, why", BAD, ids=[" ".join(b[0][2:]) or b[0][0]
                                                        for b in BAD])
def test_argparse_names_the_option(argv: list[str], option: str, why: str,
                                   capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == USAGE
    err = capsys.readouterr().err
    assert f"argument {option}" in err and why in err
    assert not (tmp_path / "runs").exists()  # nothing started


def _refused(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """The one line with which ``main(argv)`` exits (status 1)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert isinstance(info.value.code, str), info.value.code  # sys.exit(message): status 1
    assert "Traceback" not in capsys.readouterr().err
    return info.value.code


def test_out_that_is_a_file_is_refused_before_training(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "report.txt"
    target.write_text("keep me")
    message = _refused(["train", "mnist_logreg", *MNIST, "--out", str(target)], capsys)
    assert message.startswith(f"minicnn: --out {target} is an existing file")
    assert target.read_text() == "keep me"


def test_missing_data_folder_is_an_error_not_a_fallback(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    message = _refused(["train", "mnist_logreg", "--data", "no/such/dir"], capsys)
    assert message == "minicnn: --data no/such/dir: the folder does not exist"
    (tmp_path / "afile").write_text("x")
    message = _refused(["compare", "cracks_cnn", "--data", "afile"], capsys)
    assert message == "minicnn: --data afile: the folder is a file, not a folder"
    assert not (tmp_path / "runs").exists()


def test_resume_needs_an_existing_run_folder(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    message = _refused(["train", "mnist_logreg", *MNIST, "--resume"], capsys)
    assert message.startswith("minicnn: --resume needs --out DIR")
    message = _refused(["train", "mnist_logreg", *MNIST, "--resume", "--out", "gone"], capsys)
    assert message.startswith("minicnn: --resume: gone does not exist")


def test_a_finished_run_is_not_overwritten_and_resume_must_match(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["train", "mnist_logreg", *MNIST, "--limit", "100", "--quiet", "--out", "run"]
    argv = [*base, "--epochs", "1"]
    main(argv)
    report = (tmp_path / "run" / "report.json").read_text()
    message = _refused(argv, capsys)
    assert message.startswith("minicnn: --out run already holds a run (run.json): add --resume")
    message = _refused([*base, "--epochs", "2", "--resume"], capsys)
    assert message.startswith("minicnn: --resume: --epochs 2 differs from the run in run (1)")
    message = _refused([*argv, "--resume", "--seed", "3"], capsys)
    assert "--seed 3 differs" in message
    assert (tmp_path / "run" / "report.json").read_text() == report


def test_unknown_device_names_the_option(capsys: pytest.CaptureFixture) -> None:
    message = _refused(["train", "mnist_logreg", *MNIST, "--device", "tpu"], capsys)
    assert message.startswith("minicnn: unknown device 'tpu'")


def test_unknown_bench_section_names_the_option(capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")
    message = _refused(["bench", "--sections", "train,nope"], capsys)
    assert message.startswith("benchmarks: --sections: unknown section(s) ['nope']")
