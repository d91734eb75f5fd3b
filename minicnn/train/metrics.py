"""Classification metrics on NumPy labels: accuracy, confusion matrix (NumPy), and
scikit-learn's classification report (imported only when called)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _labels(y: Any) -> np.ndarray:
    from minicnn.train.engines import host_array

    return np.asarray(host_array(y)).reshape(-1)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """The fraction of samples with ``y_pred == y_true`` (both ``(N,)``)."""
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("accuracy of no samples")
    return float((y_true == y_pred).mean())


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = the number of samples of true class ``i`` predicted as class ``j``
    (int64, ``(K, K)``), for integer labels in ``[0, K)``; ``K`` = ``num_classes`` or one more
    than the largest label seen. Equal to scikit-learn's with ``labels=range(K)``."""
    y_true, y_pred = _labels(y_true).astype(np.int64), _labels(y_pred).astype(np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred {y_pred.size}")
    seen = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    k = seen if num_classes is None else int(num_classes)
    if seen > k or min(y_true.min(initial=0), y_pred.min(initial=0)) < 0:
        raise ValueError(f"labels must lie in [0, {k})")
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)  # (K, K)


def classification_report(y_true: Any, y_pred: Any,
                          target_names: Sequence[str] | None = None, digits: int = 4,
                          output_dict: bool = False) -> str | dict:
    """scikit-learn's classification report: precision, recall, F1 and support per class,
    with accuracy and the macro and weighted averages (a dict with ``output_dict``)."""
    from sklearn.metrics import classification_report as sk_report

    y_true, y_pred = _labels(y_true), _labels(y_pred)
    labels = None
    if target_names is not None:
        labels = list(range(len(target_names)))
    return sk_report(y_true, y_pred, labels=labels, target_names=target_names, digits=digits,
                     output_dict=output_dict, zero_division=0)
