"""The ``minicnn`` command: experiments, summary, train and a short compare on the shared data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from minicnn.cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_experiments_lists_the_course_settings(capsys: pytest.CaptureFixture) -> None:
    main(["experiments"])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["mnist_cnn2"][1:7] == ["mnist", "cnn2", "sgd", "0.01", "64", "3"]
    assert rows["cracks_cnn_bn"][1:6] == ["cracks", "crack_cnn_bn", "adam", "0.001", "16"]
    assert rows["cracks_cnn_bn"][-1] == "bce_with_logits"


@pytest.mark.parametrize("model, total", [("logreg", "7,850"), ("cnn1", "63,050"),
                                          ("cnn2", "421,642"), ("crack_cnn", "6,427,457"),
                                          ("crack_cnn_bn", "6,427,553")])
def test_summary_counts_the_course_parameters(model: str, total: str,
                                              capsys: pytest.CaptureFixture) -> None:
    main(["summary", model])
    assert f"Total params: {total}" in capsys.readouterr().out


def test_unknown_experiment_is_one_clear_line() -> None:
    with pytest.raises(SystemExit, match="unknown experiment 'nope'; known: mnist_logreg"):
        main(["train", "nope"])


def test_cuda_without_a_gpu_says_what_is_missing() -> None:
    from minicnn import backend

    if backend.cuda_available():
        pytest.skip("a cuda device is present")
    with pytest.raises(SystemExit, match="device 'cuda' requested but .*(CuPy|GPU)"):
        main(["train", "mnist_logreg", "--device", "cuda"])


def _compare(tmp_path: Path, experiment: str, data: Path, limit: int) -> dict:
    out = tmp_path / experiment
    main(["compare", experiment, "--data", str(data), "--epochs", "1", "--limit", str(limit),
          "--out", str(out), "--quiet"])
    report = json.loads((out / "report.json").read_text())
    for name in ("report.md", "curves_torch.png", "curves_minicnn.png",
                 "confusion_torch.png", "confusion_minicnn.png"):
        assert (out / name).stat().st_size > 0, name
    return report


def test_compare_mnist_on_real_digits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    report = _compare(tmp_path, "mnist_cnn1", SHARED / "mnist", 600)
    out = capsys.readouterr().out
    assert "loss torch" in out and "time ratio minicnn/torch" in out
    assert "official MNIST test files" in report["data"]
    run = report["runs"][0]
    t, m = run["torch"]["history"], run["minicnn"]["history"]
    assert len(t["loss"]) == len(m["loss"]) == 1
    # same weights, same batches, float32: the epoch's mean losses agree closely
    assert report["max_train_loss_diff"] < 1e-4 * t["loss"][0]
    assert abs(run["torch"]["test_acc"] - run["minicnn"]["test_acc"]) <= 0.01


def test_compare_cracks_on_real_images(tmp_path: Path) -> None:
    report = _compare(tmp_path, "cracks_cnn_bn", SHARED / "cracks-brick", 64)
    assert "64 crack images" in report["data"]
    run = report["runs"][0]
    assert report["max_train_loss_diff"] < 1e-3 * run["torch"]["history"]["loss"][0]


def test_train_writes_a_report(tmp_path: Path) -> None:
    main(["train", "mnist_logreg", "--data", str(SHARED / "mnist"), "--epochs", "1",
          "--limit", "300", "--out", str(tmp_path), "--quiet"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["engine"] == "minicnn" and len(report["history"]["loss"]) == 1
    assert 0.0 <= report["test_acc"] <= 1.0
