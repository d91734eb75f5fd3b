"""Metrics against scikit-learn on fixed data."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn.train import accuracy, classification_report, confusion_matrix

Y_TRUE = np.array([0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 3, 3])
Y_PRED = np.array([0, 2, 2, 2, 1, 0, 1, 2, 1, 0, 3, 2])


def test_accuracy_and_confusion_matrix_match_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    assert accuracy(Y_TRUE, Y_PRED) == metrics.accuracy_score(Y_TRUE, Y_PRED) == 8 / 12
    assert accuracy(minicnn.tensor(Y_TRUE), minicnn.tensor(Y_PRED)) == 8 / 12
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    assert cm.dtype == np.int64 and cm.sum() == 12
    assert np.array_equal(cm, metrics.confusion_matrix(Y_TRUE, Y_PRED))
    padded = confusion_matrix(Y_TRUE, Y_PRED, num_classes=5)
    assert np.array_equal(padded, metrics.confusion_matrix(Y_TRUE, Y_PRED, labels=range(5)))
    with pytest.raises(ValueError, match="labels"):
        confusion_matrix(Y_TRUE, Y_PRED, num_classes=3)


def test_classification_report_is_sklearns() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    names = ["zero", "one", "two", "three"]
    text = classification_report(Y_TRUE, Y_PRED, target_names=names)
    assert text == metrics.classification_report(Y_TRUE, Y_PRED, target_names=names, digits=4)
    report = classification_report(Y_TRUE, Y_PRED, output_dict=True)
    assert report["accuracy"] == pytest.approx(8 / 12)
    assert report["2"]["precision"] == pytest.approx(3 / 5) and report["2"]["recall"] == 1.0
