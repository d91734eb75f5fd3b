"""Training parity: the course's models in minicnn and in PyTorch, from the same initial weights
on the same batches, agree step by step (losses), and at the end (weights, eval outputs)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import minicnn
import minicnn.models as mm
import minicnn.ops.dropout as dropout_op
from minicnn import nn as mnn
from minicnn import optim as moptim

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import reference.models as rm

STEPS = 50
TOL = {np.float64: 1e-9, np.float32: 1e-4}
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def _digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    from minicnn.data import load_mnist

    test = load_mnist("test", SHARED_MNIST)
    x = (test.images[:n].astype(np.float64)[:, None] / 255 - 0.1307) / 0.3081
    return x, test.labels[:n]


def _cracks(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, n)
    x = rng.random((n, 1, size, size)) + 0.02 * y[:, None, None, None]
    return x, y


def _pixels(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1], for the autoencoder (its own target)."""
    from minicnn.data import load_mnist

    test = load_mnist("test", SHARED_MNIST)
    return test.images[:n].astype(np.float64)[:, None] / 255, test.labels[:n]


def _cifar_like(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 3x32x32 images in [0, 1] and labels (no CIFAR-10 files on this machine)."""
    rng = np.random.default_rng(8)
    y = rng.integers(0, 10, n)
    return rng.random((n, 3, 32, 32)) + 0.05 * (y % 3)[:, None, None, None], y


FROZEN_IN_FLOAT32_ADAM = {
    "crack_bn_dropout": ("conv1.bias", "conv2.bias"),
    "cifar_cnn": ("features.0.bias", "features.7.bias", "features.14.bias",
                  "classifier.0.bias"),
}
DATA = {"digits": _digits, "pixels": _pixels, "cifar": _cifar_like}

# name: (minicnn class, torch class, kwargs, data, batch[, steps: a number or one per dtype
# (default STEPS)])
CASES = {
    "logreg": (mm.LogisticRegression, rm.LogisticRegression, {}, "digits", 32),
    "cnn1": (mm.CNN1, rm.CNN1, {}, "digits", 16),
    "cnn2": (mm.CNN2, rm.CNN2, {}, "digits", 16),
    "mlp": (mm.MLP, rm.MLP, {}, "digits", 32),
    "crack_bn_dropout": (mm.CrackCNN, rm.CrackCNN,
                         dict(batch_norm=True, dropout=0.5, size=32), "cracks", 8),
    # The third lab's models, in fewer steps. NOTE: CifarCNN's training is chaotic at small
    # batches: torch against itself, from weights nudged by 1e-13, its losses drift apart
    # ~30x per step at batch 4-8 (1e-5 after 8 steps), and not at all with its BatchNorm1d
    # removed (over a tiny batch, a unit that is nearly off for all but one sample has a
    # variance far below eps, and its gradients are scaled by up to 1/sqrt(eps)). So it is
    # compared over 3 steps in float64 and the first step in float32 (rounding noise of 1e-7
    # is already 1e-4 after two steps).
    "cifar_cnn": (mm.CifarCNN, rm.CifarCNN, {}, "cifar", 8, {np.float64: 3, np.float32: 1}),
    "lstm_net": (mm.LSTMNet, rm.LSTMNet, {}, "digits", 4, 8),
    "autoencoder_784": (mm.DenseAutoencoder, rm.DenseAutoencoder, dict(in_features=784),
                        "pixels", 8, 8),
}


class _ReplayDropout(torch.nn.Module):
    """torch-side dropout that applies the masks minicnn drew, in the same order."""

    def __init__(self, masks: list[np.ndarray]) -> None:
        super().__init__()
        self.masks = masks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x * torch.from_numpy(self.masks.pop(0)).to(x.dtype)


def _optimizers(name: str, mc_model: mnn.Module, t_model: torch.nn.Module) -> tuple:
    mc_params = [p for p in mc_model.parameters() if p.requires_grad]
    t_params = [p for p in t_model.parameters() if p.requires_grad]
    if name == "sgd":
        kw = dict(lr=0.01, momentum=0.9, weight_decay=1e-4)
        return moptim.SGD(mc_params, **kw), torch.optim.SGD(t_params, **kw)
    return moptim.Adam(mc_params, lr=1e-3), torch.optim.Adam(t_params, lr=1e-3)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _rel_norm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(CASES))
def test_training_matches_pytorch(case: str, dtype: type, optimizer: str, device: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    mc_cls, t_cls, kwargs, data, batch, *steps = CASES[case]
    steps = steps[0] if steps else STEPS
    steps = steps[dtype] if isinstance(steps, dict) else steps
    binary = data == "cracks"
    torch.manual_seed(0)
    t_model = t_cls(**kwargs).to(torch.float64 if dtype == np.float64 else torch.float32)
    mc_model = mc_cls(**kwargs).to(dtype)
    mc_model.load_state_dict({k: v.numpy() for k, v in t_model.state_dict().items()})
    mc_model.to(device)
    masks: list[np.ndarray] = []
    dropouts = [(name, m) for name, m in t_model.named_modules()
                if isinstance(m, torch.nn.Dropout)]
    if dropouts:
        draw = dropout_op.draw_keep_mask

        def recording_draw(shape, p, like):
            mask = draw(shape, p, like)
            masks.append(minicnn.backend.to_host(mask))
            return mask

        monkeypatch.setattr(dropout_op, "draw_keep_mask", recording_draw)
        # NOTE: both forwards call their dropout layers in the same order, so every torch
        # Dropout replays the next mask minicnn drew.
        for name, _ in dropouts:
            parent, _, attr = name.rpartition(".")
            setattr(t_model.get_submodule(parent), attr, _ReplayDropout(masks))
    if dtype == np.float32 and optimizer == "adam":
        # NOTE: a bias followed by BatchNorm has a true gradient of exactly 0 (BN subtracts
        # the batch mean), so in float32 its gradient is rounding noise, which Adam scales up to
        # full-size steps that differ between engines. With a ReLU between them (CifarCNN),
        # the same holds for every unit that is on for the whole batch. Frozen in both, the
        # math is unchanged.
        for model in (mc_model, t_model):
            params = dict(model.named_parameters())
            for name in FROZEN_IN_FLOAT32_ADAM.get(case, ()):
                params[name].requires_grad_(False)
    mc_opt, t_opt = _optimizers(optimizer, mc_model, t_model)
    if binary:
        x_all, y_all = _cracks(batch * steps, kwargs["size"])
    else:
        x_all, y_all = DATA[data](batch * steps)
    x_all = x_all.astype(dtype)
    if binary:
        mc_loss_fn, t_loss_fn = mnn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()
        y_all = y_all.astype(dtype)[:, None]
    elif data == "pixels":  # an autoencoder: its input is its target
        mc_loss_fn, t_loss_fn = mnn.MSELoss(), torch.nn.MSELoss()
        y_all = x_all
    else:
        mc_loss_fn, t_loss_fn = mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()

    mc_losses, t_losses = [], []
    for step in range(steps):
        xb, yb = x_all[step * batch:(step + 1) * batch], y_all[step * batch:(step + 1) * batch]
        mc_opt.zero_grad()
        loss = mc_loss_fn(mc_model(minicnn.tensor(xb, device=device)),
                          minicnn.tensor(yb, device=device))
        loss.backward()
        mc_opt.step()
        mc_losses.append(loss.item())
        t_opt.zero_grad()
        t_loss = t_loss_fn(t_model(torch.from_numpy(xb)), torch.from_numpy(yb))
        t_loss.backward()
        t_opt.step()
        t_losses.append(t_loss.item())

    tol = TOL[dtype]
    np.testing.assert_allclose(mc_losses, t_losses, rtol=tol, atol=0,
                               err_msg=f"{case}/{optimizer}: losses differ")
    t_state = t_model.state_dict()
    # NOTE: Adam divides each gradient by its own running RMS, so a weight whose gradient is
    # float32 rounding noise (e.g. behind a ReLU that is almost always off) moves by about
    # lr per step in a direction set by that noise: after 50 steps of CNN2 a few such
    # elements differ by up to 3.5e-3 of the largest weight, while the relative norm of the
    # difference is 4e-4. The largest element difference measures that noise; the relative
    # norm measures the weights. float64 is unaffected.
    weight_rel = _rel_norm if dtype == np.float32 and optimizer == "adam" else _rel
    for name, value in mc_model.state_dict().items():
        got, want = value.detach().numpy(), t_state[name].numpy()
        assert got.shape == want.shape, name
        if want.dtype.kind == "f":
            assert weight_rel(got, want) < 10 * tol, f"{case}/{optimizer}: {name} differs"
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
    mc_model.eval()
    t_model.eval()
    xb = x_all[:batch]
    with minicnn.no_grad(), torch.no_grad():
        got = mc_model(minicnn.tensor(xb, device=device)).numpy()
        want = t_model(torch.from_numpy(xb)).numpy()
    assert _rel(got, want) < 10 * tol, f"{case}/{optimizer}: eval outputs differ"
