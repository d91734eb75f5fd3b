"""Training: the fit loop for both engines (classifiers and regression), callbacks,
checkpoints, summary, metrics, plots.

``fit`` trains a minicnn model or a PyTorch model through one code path; the framework
specific parts are behind an ``Engine`` (``MinicnnEngine``, ``TorchEngine``). Plots import
matplotlib and the classification report scikit-learn only when called.
"""
from minicnn.train.callbacks import Callback, EarlyStopping, LRSchedulerCallback, ModelCheckpoint
from minicnn.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    resume,
    save_checkpoint,
)
from minicnn.train.engines import (
    Engine,
    MinicnnEngine,
    StateMismatchError,
    TorchEngine,
    engine_for,
    get_engine,
)
from minicnn.train.history import History
from minicnn.train.loop import FitState, evaluate, fit, predict, train_epoch, train_step
from minicnn.train.metrics import accuracy, classification_report, confusion_matrix
from minicnn.train.plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_reconstructions,
)
from minicnn.train.summary import summary, summary_rows

__all__ = [
    "Callback", "Checkpoint", "CheckpointError", "EarlyStopping", "Engine", "FitState",
    "History", "LRSchedulerCallback", "MinicnnEngine", "ModelCheckpoint", "StateMismatchError",
    "TorchEngine", "accuracy", "classification_report", "confusion_matrix", "engine_for",
    "evaluate", "fit", "get_engine", "load_checkpoint", "plot_confusion_matrix",
    "plot_learning_curves", "plot_reconstructions", "predict", "resume", "save_checkpoint",
    "summary", "summary_rows", "train_epoch", "train_step",
]
