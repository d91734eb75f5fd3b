"""Plots write readable PNG files."""
from __future__ import annotations

import pytest

from minicnn.train import History, plot_confusion_matrix, plot_learning_curves

PNG = b"\x89PNG\r\n\x1a\n"


def _image(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG
    return imread(path)


def test_learning_curves_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    history = History(loss=[1.2, 0.8, 0.5, 0.4], acc=[0.5, 0.7, 0.8, 0.85],
                      val_loss=[1.0, 0.9, 0.7, 0.75], val_acc=[0.6, 0.65, 0.75, 0.74],
                      lr=[0.1] * 4, seconds=[1.0] * 4)
    path = tmp_path / "curves" / "learning.png"
    assert plot_learning_curves(history, path, title="logreg") == str(path)
    image = _image(path)
    assert image.shape[:2] == (400, 1000) and image.std() > 0.01
    no_val = History(loss=[1.0, 0.5], acc=[0.5, 0.6], val_loss=[None, None],
                     val_acc=[None, None], lr=[0.1, 0.1], seconds=[1.0, 1.0])
    _image(tmp_path / plot_learning_curves(no_val.to_dict(), tmp_path / "nv.png"))


def test_confusion_matrix_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    cm = [[50, 2, 0], [3, 40, 7], [0, 5, 45]]
    image = _image(tmp_path / plot_confusion_matrix(cm, tmp_path / "cm.png",
                                                    class_names=["a", "b", "c"]))
    assert image.ndim == 3 and image.std() > 0.01
    _image(tmp_path / plot_confusion_matrix(cm, tmp_path / "cmn.png", normalize=True))


def test_learning_curves_of_several_engines_share_the_axes(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    drawn = []
    real_plot = None

    def spy(self, *args, **kwargs):
        drawn.append((id(self), kwargs.get("label"), kwargs.get("color")))
        return real_plot(self, *args, **kwargs)

    from matplotlib.axes import Axes

    real_plot = Axes.plot
    h1 = History(loss=[1.0, 0.5], acc=[0.5, 0.7], val_loss=[0.9, 0.6], val_acc=[0.55, 0.65],
                 lr=[0.1] * 2, seconds=[1.0] * 2)
    h2 = History.from_dict({**h1.to_dict(), "loss": [1.1, 0.4]})
    try:
        Axes.plot = spy
        path = plot_learning_curves({"torch": h1, "minicnn": h2.to_dict()},
                                    tmp_path / "both.png", title="both")
    finally:
        Axes.plot = real_plot
    assert _image(tmp_path / "both.png").std() > 0.01 and path.endswith("both.png")
    axes = sorted({a for a, _, _ in drawn})
    assert len(axes) == 2  # loss and accuracy, each with every engine's curves
    for ax in axes:
        labels = [(label, colour) for a, label, colour in drawn if a == ax]
        assert labels == [("torch train", "C0"), ("torch validation", "C0"),
                          ("minicnn train", "C1"), ("minicnn validation", "C1")]
    assert Figure  # matplotlib's figure API is what plots.py draws on
    with pytest.raises(TypeError, match="history must be a History"):
        plot_learning_curves([1, 2], tmp_path / "bad.png")
