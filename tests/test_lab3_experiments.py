"""The third lab's experiments end to end through ``minicnn.cli.main`` on tiny data (``--limit``,
one epoch): ``train`` and ``compare`` of each, their records (test MSE and reconstruction grids
for the autoencoders, confusion matrices with the class names and classification reports for
the classifiers), and an exact ``--resume`` of the CIFAR-10 CNN with its callbacks."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from lab3_data import CIFAR_CLASSES, write_cifar10_binary, write_fashion_mnist
from runs import assert_same_run, interrupt_after, offline_in, spy_class_names

from minicnn.cli import main
from minicnn.experiments import EXPERIMENTS, EarlyStop, ReduceLR

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
LAB3 = ("mnist_lstm", "fashion_lstm", "fashion_keras_cnn", "mnist_autoencoder",
        "fashion_autoencoder", "cifar10_autoencoder", "cifar10_cnn")
AUTOENCODERS = ("mnist_autoencoder", "fashion_autoencoder", "cifar10_autoencoder")


@pytest.fixture(autouse=True)
def _offline_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline_in(tmp_path, monkeypatch)


def test_experiments_lists_them_with_their_callbacks(capsys: pytest.CaptureFixture) -> None:
    main(["experiments"])
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["mnist_lstm"] == ["mnist", "lstm_net", "adam", "0.001", "128", "10",
                                  "cross_entropy"]
    assert rows["mnist_keras_cnn"] == rows["mnist_lstm"][:1] + ["keras_cnn"] + \
        rows["mnist_lstm"][2:]  # the same data, optimiser, batch and epochs
    assert rows["fashion_autoencoder"] == ["fashion", "autoencoder_784", "adam", "0.001", "256",
                                           "20", "mse"]
    assert rows["cifar10_cnn"] == ["cifar10", "cifar_cnn", "adam", "0.001", "32", "30",
                                   "cross_entropy"]
    assert lines[-1] == ("callbacks of cifar10_cnn: EarlyStopping(monitor=val_loss, patience=10, "
                         "restore_best_weights=True), ReduceLROnPlateau(monitor=val_loss, "
                         "factor=0.5, patience=5, min_lr=1e-07)")


@pytest.mark.parametrize("name, total", [("cifar10_cnn", "685,034"), ("cifar_cnn", "685,034"),
                                         ("cifar10_autoencoder", "7,411,776"),
                                         ("autoencoder", "7,411,776"),
                                         ("fashion_autoencoder", "2,723,664"),
                                         ("mnist_lstm", "140,170")])
def test_summary_of_the_new_models(name: str, total: str, capsys: pytest.CaptureFixture) -> None:
    main(["summary", name])  # each on its input size: 3x32x32 for CIFAR-10, 1x28x28 otherwise
    assert f"Total params: {total}" in capsys.readouterr().out


def _data(experiment: str) -> str:
    """A data folder for the experiment, relative to the working directory: the shared MNIST
    files, or a small CIFAR-10 archive or Fashion-MNIST built here."""
    dataset = EXPERIMENTS[experiment].dataset
    if dataset == "mnist":
        return str(SHARED_MNIST)
    folder = Path(dataset)
    if not folder.exists():
        (write_cifar10_binary if dataset == "cifar10" else write_fashion_mnist)(folder)
    return dataset


def _run(command: str, experiment: str, *extra: str, out: str = "run") -> dict:
    main([command, experiment, "--data", _data(experiment), "--limit", "100", "--epochs", "1",
          "--quiet", "--out", out, *extra])
    return json.loads((Path(out) / "report.json").read_text())


def _pictures(out: Path, experiment: str, engines: list[str]) -> None:
    from matplotlib.image import imread

    kind = "reconstructions" if experiment in AUTOENCODERS else "confusion"
    for name in ["curves.png", *(f"{kind}-{e}.png" for e in engines)]:
        image = imread(out / name)
        assert image.ndim == 3 and image.std() > 0.01, name


@pytest.mark.parametrize("experiment", LAB3)
def test_train(experiment: str, capsys: pytest.CaptureFixture) -> None:
    report = _run("train", experiment)
    exp = EXPERIMENTS[experiment]
    printed = capsys.readouterr().out
    markdown = Path("run/report.md").read_text()
    assert report["experiment"]["name"] == experiment and len(report["history"]["loss"]) == 1
    if experiment in AUTOENCODERS:
        assert 0 < report["test_mse"] < 0.5 and "test_acc" not in report
        assert "test MSE" in printed and f"test MSE {report['test_mse']:.5f}" in markdown
        assert report["history"]["acc"] == [None]
    else:
        assert 0 <= report["test_acc"] <= 1 and "test_mse" not in report
        assert "Classification report, minicnn" in markdown
        assert all(name in markdown for name in exp.classes)
    _pictures(Path("run"), experiment, ["minicnn"])
    with np.load("run/weights-minicnn-seed0.npz") as weights:
        assert weights.files and all(np.isfinite(weights[k]).all() for k in weights.files)


@pytest.mark.parametrize("experiment", LAB3)
def test_compare(experiment: str, capsys: pytest.CaptureFixture,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    names = spy_class_names(monkeypatch)
    report = _run("compare", experiment)
    printed = capsys.readouterr().out
    markdown = Path("run/report.md").read_text()
    run = report["runs"][0]
    t, m = run["torch"], run["minicnn"]
    if experiment in AUTOENCODERS:
        assert names == []
        assert set(report["test_mse"]) == {"torch", "minicnn"}
        assert report["test_mse_mean"]["torch"] == t["test_mse"]
        assert "| torch | " in markdown and "test MSE" in markdown and "test MSE" in printed
        # no dropout, same weights and batches, float32: the same losses and test MSE
        assert report["max_train_loss_diff"] < 1e-5 * t["history"]["loss"][0]
        assert abs(t["test_mse"] - m["test_mse"]) < 1e-5 * t["test_mse"]
    else:
        assert names == [EXPERIMENTS[experiment].classes] * 2
        assert "test accuracy" in printed and report["test_acc_mean"]["minicnn"] == \
            m["test_acc"]
        # dropout masks differ between engines: the same start, not the same run
        assert report["max_train_loss_diff"] < 0.2 * t["history"]["loss"][0]
    _pictures(Path("run"), experiment, ["torch", "minicnn"])
    for name in ("report.json", "report.md", "run.json"):
        text = Path("run", name).read_text()
        assert str(Path.cwd()) not in text and str(Path.home()) not in text, name


def test_cifar10_cnn_records_its_callbacks() -> None:
    report = _run("train", "cifar10_cnn")
    assert report["experiment"]["early_stopping"] == {
        "patience": 10, "restore_best_weights": True, "monitor": "val_loss", "min_delta": 0.0}
    assert report["experiment"]["reduce_lr"] == {
        "factor": 0.5, "patience": 5, "min_lr": 1e-7, "monitor": "val_loss", "min_delta": 1e-4}
    assert report["early_stopping"] == {"best_epoch": 0, "best": report["history"]["val_loss"][0],
                                        "stopped_epoch": None, "restored": True}
    assert report["data"] == "CIFAR-10 (cifar10/cifar-10-binary.tar.gz)"
    markdown = Path("run/report.md").read_text()
    assert "EarlyStopping(monitor=val_loss, patience=10, restore_best_weights=True)" in markdown
    assert "ReduceLROnPlateau(monitor=val_loss, factor=0.5, patience=5, min_lr=1e-07)" in \
        markdown
    assert all(name in markdown for name in CIFAR_CLASSES)


def test_cifar10_without_its_files_names_the_places_looked_in(tmp_path: Path) -> None:
    Path("empty").mkdir()
    with pytest.raises(SystemExit, match="CIFAR10: no cifar-10-batches-bin/ .*looked in"):
        main(["train", "cifar10_cnn", "--data", "empty", "--offline", "--out", "run"])


@pytest.mark.parametrize("engine", ["minicnn", "torch"])
@pytest.mark.parametrize("cut", [2, 4], ids=["before-the-stop", "at-the-stop"])
def test_cifar10_cnn_resumes_exactly_with_its_callbacks(engine: str, cut: int, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Early stopping that fires after the fourth epoch (nothing beats the first by 100), and
    # an lr halved after every epoch whose validation accuracy does not beat the best (on these
    # 10 validation images it seldom does): their states, the best weights among them, must
    # come back from the checkpoint for the resumed run to end bit for bit where the whole one
    # did.
    quick = dataclasses.replace(EXPERIMENTS["cifar10_cnn"],
                                early_stopping=EarlyStop(patience=3, min_delta=100.0),
                                reduce_lr=ReduceLR(factor=0.5, patience=0, monitor="val_acc"))
    monkeypatch.setitem(EXPERIMENTS, "cifar10_cnn", quick)
    argv = ["train", "cifar10_cnn", "--engine", engine, "--data", _data("cifar10_cnn"),
            "--limit", "100", "--epochs", "5", "--quiet"]
    main([*argv, "--out", "whole"])
    whole = json.loads((tmp_path / "whole" / "report.json").read_text())
    assert len(whole["history"]["loss"]) == 4
    assert whole["early_stopping"]["stopped_epoch"] == 3
    assert whole["history"]["lr"][3] < whole["history"]["lr"][2]  # halved after epoch 3
    with monkeypatch.context() as m:
        interrupt_after(m, cut)
        with pytest.raises(SystemExit):
            main([*argv, "--out", "cut"])
    assert (tmp_path / "cut" / f"checkpoint-{engine}-seed0.npz").is_file()
    main([*argv, "--out", "cut", "--resume"])
    assert_same_run(tmp_path / "whole", tmp_path / "cut")


def test_autoencoder_compare_resumes_exactly(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # cut after torch's two epochs (its result stored) and minicnn's first: the resumed run
    # reads torch's result back, reconstructions included, and trains minicnn's second epoch
    argv = ["compare", "mnist_autoencoder", "--data", _data("mnist_autoencoder"), "--limit",
            "300", "--epochs", "2", "--quiet"]
    main([*argv, "--out", "whole"])
    with monkeypatch.context() as m:
        interrupt_after(m, 3)
        with pytest.raises(SystemExit):
            main([*argv, "--out", "cut"])
    assert (tmp_path / "cut" / "result-torch-seed0.json").is_file()
    main([*argv, "--out", "cut", "--resume"])
    assert_same_run(tmp_path / "whole", tmp_path / "cut")
    for engine in ("torch", "minicnn"):
        whole, cut = (json.loads((tmp_path / f / f"result-{engine}-seed0.json").read_text())
                      for f in ("whole", "cut"))
        assert len(whole["reconstructions"]) == 10 and \
            whole["reconstructions"] == cut["reconstructions"]
        assert (tmp_path / "cut" / f"reconstructions-{engine}.png").stat().st_size > 0
