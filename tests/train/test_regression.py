"""The fit loop's regression task (an autoencoder: MSE, targets = inputs): against a hand
computation in NumPy, and against PyTorch epoch by epoch from the same weights and batches."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import minicnn
import minicnn.models as mm
from minicnn import nn, optim
from minicnn.data import DataLoader, TensorDataset
from minicnn.runner import reference_models
from minicnn.train import MinicnnEngine, TorchEngine, evaluate, fit, predict
from minicnn.train.plots import plot_learning_curves, plot_reconstructions

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
PNG = b"\x89PNG\r\n\x1a\n"


def _hand_sgd(W: np.ndarray, b: np.ndarray, x: np.ndarray, batch: int, lr: float,
              epochs: int) -> tuple[list[float], list[float], np.ndarray, np.ndarray]:
    """Linear autoencoder ``out = x W^T + b`` trained by SGD on ``mean((out - x)**2)``, by hand
    in float64: per-epoch training losses (batch means weighted by batch size), the MSE on
    all of ``x`` after each epoch, and the final W, b."""
    W, b = W.copy(), b.copy()
    losses, val = [], []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(x), batch):
            xb = x[start:start + batch]
            out = xb @ W.T + b
            d = out - xb
            total += np.mean(d * d) * len(xb)
            g_out = 2 * d / d.size  # d mean((out - x)^2) / d out
            W -= lr * (g_out.T @ xb)
            b -= lr * g_out.sum(axis=0)
        losses.append(total / len(x))
        d = x @ W.T + b - x
        val.append(float(np.mean(d * d)))
    return losses, val, W, b


def test_regression_loop_equals_the_hand_computation(device: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.random((26, 5))  # 26 = 8 + 8 + 8 + 2: the last batch must weigh 2/26
    minicnn.manual_seed(0)
    model = nn.Linear(5, 5).to(np.float64)
    W0, b0 = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()
    model.to(device)
    engine = MinicnnEngine(device)
    data = TensorDataset(x, x)
    history = fit(model, optim.SGD(model.parameters(), lr=0.3), nn.MSELoss(),
                  DataLoader(data, 8), 3, engine=engine, val_loader=DataLoader(data, 10),
                  progress=False, task="regression")
    losses, val, W, b = _hand_sgd(W0, b0, x, 8, 0.3, 3)
    np.testing.assert_allclose(history.loss, losses, rtol=1e-12)
    np.testing.assert_allclose(history.val_loss, val, rtol=1e-12)
    assert history.acc == history.val_acc == [None] * 3  # no accuracy for a regression
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(engine.to_numpy(model.weight), W, rtol=1e-12)
    loss, mse = evaluate(model, DataLoader(data, 7), nn.MSELoss(), engine, "regression")
    d = x @ W.T + b - x
    assert loss == pytest.approx(np.mean(d * d), rel=1e-12)
    assert mse == pytest.approx(np.mean(d * d), rel=1e-12)
    targets, outputs, scores = predict(model, DataLoader(data, 7), engine, "regression")
    np.testing.assert_array_equal(targets, x)
    np.testing.assert_allclose(outputs, x @ W.T + b, rtol=1e-12)
    assert scores is None


def _sum_of_squares(out: minicnn.Tensor, y: minicnn.Tensor) -> minicnn.Tensor:
    return ((out - y) * (out - y)).sum()


def test_the_mse_metric_is_computed_apart_from_the_loss() -> None:
    # a loss that is not the MSE: evaluate's metric must still be mean((out - y)**2)
    x = np.linspace(0, 1, 12).reshape(4, 3)
    minicnn.manual_seed(0)
    model = nn.Linear(3, 3).to(np.float64)
    data = DataLoader(TensorDataset(x, x), 2)
    loss, mse = evaluate(model, data, _sum_of_squares, MinicnnEngine(), "regression")
    with minicnn.no_grad():
        d = model(minicnn.tensor(x)).numpy() - x
    assert mse == pytest.approx(np.mean(d * d), rel=1e-12)
    # the loss: each batch's sum (over 2 samples of 3), averaged over the samples
    assert loss == pytest.approx(np.sum(d * d) / 2, rel=1e-12)


@pytest.mark.parametrize("engine", [MinicnnEngine(), TorchEngine()], ids=lambda e: e.name)
def test_an_output_of_another_shape_than_the_target_is_an_error(engine) -> None:
    x = np.zeros((4, 3))
    model = engine.nn.Linear(3, 2).double()
    data = DataLoader(TensorDataset(x, x), 4)
    shapes = r"output has shape \(4, 2\) but the target \(4, 3\): expected the same shape"
    with pytest.raises(ValueError, match=shapes):  # torch's MSELoss would broadcast them
        fit(model, engine.optim.SGD(model.parameters(), lr=0.1), engine.nn.MSELoss(), data, 1,
            engine=engine, progress=False, task="regression")
    with pytest.raises(ValueError, match=shapes):
        evaluate(model, data, engine.nn.MSELoss(), engine, "regression")


def _digits(n: int) -> np.ndarray:
    from minicnn.data import load_mnist

    return load_mnist("test", SHARED_MNIST).images[:n].astype(np.float64)[:, None] / 255


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-5)])
def test_autoencoder_epochs_match_pytorch(dtype: type, tol: float) -> None:
    """DenseAutoencoder(784) on real digits, Adam, the same weights and shuffled batches:
    every epoch's training and validation MSE equal PyTorch's."""
    x = _digits(120).astype(dtype)
    torch.manual_seed(0)
    t_model = reference_models().DenseAutoencoder(in_features=784)
    t_model.to(torch.float64 if dtype == np.float64 else torch.float32)
    m_model = mm.DenseAutoencoder(in_features=784).to(dtype)
    m_model.load_state_dict({k: v.numpy() for k, v in t_model.state_dict().items()})
    histories = {}
    for engine, model in ((TorchEngine(), t_model), (MinicnnEngine(), m_model)):
        train = DataLoader(TensorDataset(x[:96], x[:96]), 32, shuffle=True, seed=5)
        val = DataLoader(TensorDataset(x[96:], x[96:]), 16)
        opt, loss_fn = engine.optim.Adam(model.parameters(), lr=1e-3), engine.nn.MSELoss()
        histories[engine.name] = fit(model, opt, loss_fn, train, 3, engine=engine,
                                     val_loader=val, progress=False, task="regression")
        histories[engine.name].test = evaluate(model, val, loss_fn, engine, "regression")
    t, m = histories["torch"], histories["minicnn"]
    np.testing.assert_allclose(m.loss, t.loss, rtol=tol)
    np.testing.assert_allclose(m.val_loss, t.val_loss, rtol=tol)
    np.testing.assert_allclose(m.test, t.test, rtol=tol)
    assert t.loss[-1] < t.loss[0]  # it learns


def _png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG
    return imread(path)


@pytest.mark.parametrize("shape", [(6, 1, 28, 28), (4, 3, 32, 32)], ids=["gray", "rgb"])
def test_reconstruction_grid_png(tmp_path: Path, shape: tuple[int, ...]) -> None:
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    images = rng.random(shape)
    path = plot_reconstructions(images, 1 - images, tmp_path / "grid" / "r.png", title="ae")
    image = _png(Path(path))
    assert image.shape[0] == 300 and image.shape[1] == max(120 * shape[0], 400)
    assert image.std() > 0.05
    with pytest.raises(ValueError, match="of one shape"):
        plot_reconstructions(images, images[:-1], tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1 or 3, H, W\)"):
        plot_reconstructions(np.zeros((2, 2, 5, 5)), np.zeros((2, 2, 5, 5)), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_learning_curves_of_a_regression_have_one_panel(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    history = {"loss": [0.2, 0.1], "acc": [None, None], "val_loss": [0.15, 0.09],
               "val_acc": [None, None], "lr": [1e-3] * 2, "seconds": [1.0] * 2}
    image = _png(Path(plot_learning_curves({"torch": history}, tmp_path / "c.png")))
    assert image.shape[:2] == (400, 600)  # the loss alone (with accuracy: 1000 wide)
