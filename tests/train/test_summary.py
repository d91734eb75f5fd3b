"""``summary``: torchsummary's table for the course's models, in minicnn and in PyTorch."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn.models as mm
from minicnn.train import MinicnnEngine, summary, summary_rows

COUNTS = [
    (mm.LogisticRegression, {}, (1, 28, 28), 7_850),
    (mm.CNN1, {}, (1, 28, 28), 63_050),
    (mm.CNN2, {}, (1, 28, 28), 421_642),
    (mm.CrackCNN, {}, (1, 227, 227), 6_427_457),
    (mm.CrackCNN, {"batch_norm": True}, (1, 227, 227), 6_427_553),
]


@pytest.mark.parametrize("cls, kwargs, size, total", COUNTS,
                         ids=["logreg", "cnn1", "cnn2", "crack", "crack_bn"])
def test_parameter_counts_of_the_course_models(cls, kwargs, size, total) -> None:
    text = summary(cls(**kwargs), size, print_fn=None)
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {total:,}" in text and "Non-trainable params: 0" in text


def test_rows_shapes_and_sizes_of_cnn2() -> None:
    rows = summary_rows(mm.CNN2(), (1, 28, 28))
    assert [(r["name"], r["output_shape"], r["params"]) for r in rows] == [
        ("Conv2d-1", [-1, 32, 28, 28], 320), ("MaxPool2d-2", [-1, 32, 14, 14], 0),
        ("Conv2d-3", [-1, 64, 14, 14], 18_496), ("MaxPool2d-4", [-1, 64, 7, 7], 0),
        ("Linear-5", [-1, 128], 401_536), ("Linear-6", [-1, 10], 1_290)]
    text = summary(mm.CNN2(), (1, 28, 28), print_fn=None)
    lines = text.splitlines()
    assert lines[1] == "        Layer (type)               Output Shape         Param #"
    assert lines[3] == "            Conv2d-1           [-1, 32, 28, 28]             320"
    # torchsummary's estimates: 4 bytes a value, activations counted twice (gradients)
    outputs = 32 * 28 * 28 + 32 * 14 * 14 + 64 * 14 * 14 + 64 * 7 * 7 + 128 + 10
    assert f"Forward/backward pass size (MB): {2 * outputs * 4 / 2**20:0.2f}" in text
    assert f"Params size (MB): {421_642 * 4 / 2**20:0.2f}" in text
    assert f"Input size (MB): {784 * 4 / 2**20:0.2f}" in text


def test_summary_leaves_the_model_as_it_was(capsys) -> None:
    model = mm.KerasCNN()
    model.train()
    bn = model.bn1
    before = MinicnnEngine().state_arrays(model)
    text = summary(model, (1, 28, 28))
    assert capsys.readouterr().out.strip() == text.strip()
    assert "Total params: 225,226" in text and "BatchNorm2d-2" in text
    assert model.training and bn.training
    assert all("forward" not in vars(m) for m in model.modules())
    after = MinicnnEngine().state_arrays(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # running stats too


def test_torch_twin_gives_the_same_table() -> None:
    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import reference.models as rm

    for name in ("CNN1", "MLP", "KerasCNN"):
        assert summary(getattr(rm, name)(), (1, 28, 28), print_fn=None) == \
            summary(getattr(mm, name)(), (1, 28, 28), print_fn=None)
