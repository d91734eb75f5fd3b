"""The experiment registry: names, loss and metric settings, class names, data checks."""
from __future__ import annotations

from pathlib import Path

import pytest

from minicnn.experiments import (
    EXPERIMENTS,
    LOSSES,
    Experiment,
    get_experiment,
    load_splits,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.parametrize("name", ["mnist-cnn2", "mnist_cnn2", " mnist-cnn2 "])
def test_hyphens_and_underscores_name_the_same_experiment(name: str) -> None:
    assert get_experiment(name) is EXPERIMENTS["mnist_cnn2"]


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown experiment 'mnist-cnn9'; known: mnist_logreg"):
        get_experiment("mnist-cnn9")


def test_loss_and_metric_are_settings() -> None:
    assert {e.loss for e in EXPERIMENTS.values()} <= set(LOSSES)
    assert get_experiment("cracks_cnn").task == "binary"
    assert get_experiment("cracks_cnn").loss_class == "BCEWithLogitsLoss"
    assert get_experiment("mnist_cnn2").task == "multiclass"
    base = EXPERIMENTS["mnist_mlp"].as_dict()
    autoencoder = Experiment(**{**base, "name": "ae", "loss": "mse", "metric": "mse"})
    assert autoencoder.task == "regression" and autoencoder.loss_class == "MSELoss"
    with pytest.raises(ValueError, match="experiment x: loss must be one of .*got 'hinge'"):
        Experiment(**{**base, "name": "x", "loss": "hinge"})
    with pytest.raises(ValueError, match="experiment x: metric must be one of .*got 'f1'"):
        Experiment(**{**base, "name": "x", "metric": "f1"})
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adam', got 'lbfgs'"):
        Experiment(**{**base, "name": "x", "optimizer": "lbfgs"})


def test_the_metric_follows_the_task() -> None:
    base = EXPERIMENTS["mnist_mlp"].as_dict()
    with pytest.raises(ValueError, match="experiment ae: the regression task's metric is 'mse', "
                                         "got 'accuracy'"):
        Experiment(**{**base, "name": "ae", "loss": "mse"})
    with pytest.raises(ValueError, match="the multiclass task's metric is 'accuracy', got 'mse'"):
        Experiment(**{**base, "metric": "mse"})
    assert get_experiment("fashion_autoencoder").result_key == "test_mse"
    assert get_experiment("cifar10_cnn").result_key == "test_acc"


def test_class_names() -> None:
    from minicnn.data.cracks import CLASSES
    from minicnn.data.mnist import FashionMNIST

    assert get_experiment("cracks_cnn_bn").classes == CLASSES == ("Negative", "Positive")
    assert list(get_experiment("fashion_cnn2").classes) == FashionMNIST.classes
    assert get_experiment("mnist_logreg").classes == tuple("0123456789")


def test_a_data_folder_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="the data folder .*nothere does not exist"):
        load_splits(get_experiment("mnist_logreg"), str(tmp_path / "nothere"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_splits(get_experiment("cracks_cnn"), str(tmp_path / "file"))
