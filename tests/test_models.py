"""The third lab's models (CifarCNN, LSTMNet, DenseAutoencoder) in both engines: parameter
counts (also as ``summary`` shows them), torch weights giving torch's outputs, the registry,
and a training step on the strict GPU stand-in without a host<->device transfer."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import standin
import torch

import minicnn
import minicnn.models as mm
from minicnn import nn, optim
from minicnn.train import summary

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import reference.models as rm

# name: (minicnn factory, torch factory, input shape of one sample, parameters)
MODELS = {
    "cifar_cnn": (mm.CifarCNN, rm.CifarCNN, (3, 32, 32), 685_034),
    "lstm_net": (mm.LSTMNet, rm.LSTMNet, (1, 28, 28), 140_170),
    "autoencoder": (mm.DenseAutoencoder, rm.DenseAutoencoder, (3, 32, 32), 7_411_776),
    "autoencoder_784": (lambda: mm.DenseAutoencoder(784), lambda: rm.DenseAutoencoder(784),
                        (1, 28, 28), 2_723_664),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_counts(name: str) -> None:
    make_mc, make_torch, size, total = MODELS[name]
    assert sum(p.numel() for p in make_mc().parameters()) == total
    assert sum(p.numel() for p in make_torch().parameters()) == total
    assert sum(p.numel() for p in mm.MODELS[name]().parameters()) == total
    for model in (make_mc(), make_torch()):
        text = summary(model, size, print_fn=None)
        assert f"Total params: {total:,}" in text and "Non-trainable params: 0" in text


def test_lstm_net_counts_two_biases_per_layer() -> None:
    """Keras's 139,402 has one bias vector per LSTM gate, PyTorch's two: 768 more here."""
    model = mm.LSTMNet()
    biases = sum(p.numel() for n, p in model.named_parameters()
                 if n.startswith("lstm") and "bias_hh" in n)
    assert biases == 4 * 128 + 4 * 64 == 140_170 - 139_402


def _copy_from_torch(name: str, seed: int = 0) -> tuple[nn.Module, torch.nn.Module]:
    """Both engines' model in float64, minicnn's loaded from torch's state_dict, with random
    BatchNorm statistics and affine parameters (so that evaluation mode uses them)."""
    make_mc, make_torch, _, _ = MODELS[name]
    torch.manual_seed(seed)
    ref = make_torch().double()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for module in ref.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                for t in (module.weight, module.bias, module.running_mean, module.running_var):
                    t.copy_(torch.tensor(rng.uniform(0.5, 1.5, t.shape)))
    mine = make_mc().double()
    mine.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    return mine, ref


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_weights_give_torchs_outputs(name: str) -> None:
    """Evaluation mode, float64, 1e-10; the autoencoder's output has its input's shape."""
    mine, ref = _copy_from_torch(name)
    size = MODELS[name][2]
    x = np.random.default_rng(1).random((3,) + size)
    mine.eval()
    ref.eval()
    with torch.no_grad(), minicnn.no_grad():
        got = mine(minicnn.tensor(x)).numpy()
        want = ref(torch.tensor(x)).numpy()
    assert got.shape == want.shape == ((3,) + size if "autoencoder" in name else (3, 10))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["cifar_cnn", "lstm_net", "autoencoder_784"])
def test_training_step_on_the_device_makes_no_transfer(name: str) -> None:
    """zero_grad, forward, loss, backward, Adam step on the strict stand-in: no transfer
    (dropout masks drawn on the device, LSTM zero states made there)."""
    make_mc, _, size, _ = MODELS[name]
    rng = np.random.default_rng(2)
    with standin.registered("cuda"):
        model = make_mc().to("cuda")
        opt = optim.Adam(model.parameters(), lr=1e-3)
        x = minicnn.tensor(rng.random((4,) + size).astype(np.float32), device="cuda")
        if "autoencoder" in name:
            loss_fn, y = nn.MSELoss(), x
        else:
            loss_fn, y = nn.CrossEntropyLoss(), minicnn.tensor(rng.integers(0, 10, 4),
                                                                device="cuda")
        for _ in range(2):
            with standin.TRANSFERS.counting() as log:
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
            assert log.total == 0, str(log)
        assert np.isfinite(loss.item())
