"""The device path, proven on the strict stand-in device (tests/standin.py): moves with .to(),
modules and optimiser state that follow, DataLoader(device=...), training steps that make no
host<->device transfer, planted hidden transfers caught, and the CLI's one-line refusal of
``--device cuda`` without CuPy or without a GPU."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import standin

import minicnn
import minicnn.models as mm
from minicnn import backend, nn, optim
from minicnn.data import DataLoader, TensorDataset
from minicnn.ops import activation


@pytest.fixture
def cuda():
    """The stand-in registered as 'cuda' for the test; its transfer log."""
    with standin.registered("cuda"):
        yield standin.TRANSFERS


def _events(log: standin.TransferLog) -> str:
    return "\n  ".join(f"{d} {w} {s}" for d, w, s in log.events) or "none"


def assert_no_transfers(log: standin.TransferLog, what: str) -> None:
    assert log.total == 0, f"{what} made {log.total} host<->device transfers:\n  {_events(log)}"


# ------------------------------------------------------------------------------------------
# The stand-in itself
# ------------------------------------------------------------------------------------------

def test_standin_refuses_implicit_conversion_as_cupy(cuda):
    x = minicnn.randn(3, 4, device="cuda").data
    host = np.ones(4)
    for attempt in (lambda: np.asarray(x), lambda: np.array(x), lambda: np.asarray([x, x])):
        with pytest.raises(TypeError, match=r"Implicit conversion to a NumPy array is not "
                                            r"allowed\. Please use `\.get\(\)`"):
            attempt()
    for attempt in (lambda: np.exp(x), lambda: np.concatenate([x, x]), lambda: x + host,
                    lambda: host * x, lambda: x.__setitem__(0, host), lambda: float(x),
                    lambda: standin.xp.maximum(x, host)):
        with pytest.raises(TypeError):
            attempt()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)


def test_standin_counts_every_transfer(cuda):
    with cuda.counting() as log:
        t = minicnn.tensor(np.arange(6.0).reshape(2, 3), device="cuda")  # h2d
        y = t * 2 + 1
        y.data[np.array([0, 1]), 0]  # a host index array is copied up (h2d)
        y.data[y.data > 3]  # a boolean mask reads its count back (d2h)
        y.data.get(), y.data[0, 0].item(), float(y.data[0, 0]), y.data.tolist()  # 4 d2h
        y.numpy()  # d2h
    assert (log.h2d, log.d2h) == (2, 6), _events(log)
    assert isinstance(y.data[0, 0], standin.StandinArray)  # element access stays on device
    assert isinstance(y.data.sum(), standin.StandinArray)  # so do reductions, as on CuPy


def test_registration_is_restored_and_the_reason_survives():
    with standin.registered("cuda"):
        assert minicnn.cuda.is_available()
        assert backend.get_device("cuda") is standin.DEVICE
    if backend.cuda_available():  # a real GPU with CuPy: it is back
        assert backend.get_device("cuda").array_type is not standin.StandinArray
        return
    assert not minicnn.cuda.is_available()
    with pytest.raises(RuntimeError, match="device 'cuda' requested but .+") as info:
        backend.get_device("cuda")
    assert "CuPy" in str(info.value)


# ------------------------------------------------------------------------------------------
# Tensors, modules and optimisers moving
# ------------------------------------------------------------------------------------------

def test_tensor_to_and_back(cuda):
    host = np.arange(6.0).reshape(2, 3)
    t = minicnn.tensor(host)
    with cuda.counting() as log:
        c = t.to("cuda")
    assert c.device == "cuda" and isinstance(c.data, standin.StandinArray)
    assert (log.h2d, log.d2h) == (1, 0)
    with cuda.counting() as log:
        assert c.cuda() is c and c.to("cuda:0") is c and c.to(device="cuda") is c
    assert_no_transfers(log, "moving to the device a tensor already there")
    with cuda.counting() as log:
        back = c.to("cpu")
    assert back.device == "cpu" and type(back.data) is np.ndarray
    assert (log.h2d, log.d2h) == (0, 1)
    np.testing.assert_array_equal(back.numpy(), host)
    np.testing.assert_array_equal(c.cpu().numpy(), host)
    d = c.to(minicnn.float32)
    assert d.device == "cuda" and d.dtype == np.float32


def test_host_values_assigned_into_a_device_tensor_are_moved(cuda):
    t = minicnn.zeros(2, 3, device="cuda")
    with cuda.counting() as log:
        t[0] = np.array([1.0, 2.0, 3.0])  # one explicit copy up
        t[1, :2] = [5, 6]  # one explicit copy up
        t[1, 2] = 7.0  # a number: no copy
    assert (log.h2d, log.d2h) == (2, 0), _events(log)
    np.testing.assert_array_equal(t.numpy(), [[1, 2, 3], [5, 6, 7]])


def test_gradient_flows_back_through_to(cuda):
    x = minicnn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x.to("cuda")
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_module_to_moves_parameters_buffers_and_gradients(cuda):
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    params = list(net.parameters())
    net(minicnn.randn(5, 3)).sum().backward()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    assert net.to("cuda") is net
    assert list(net.parameters()) == params  # the same Parameter objects, moved in place
    for name, t in list(net.named_parameters()) + list(net.named_buffers()):
        assert t.device == "cuda", name
    assert all(p.grad.device == "cuda" for p in params)
    assert net[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    net.to("cpu")
    for k, v in net.state_dict().items():
        assert v.device == "cpu"
        np.testing.assert_array_equal(v.numpy(), before[k])


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.Adam(p, lr=0.01, amsgrad=True)],
                         ids=["sgd", "adam"])
def test_optimizer_state_follows_its_parameters(cuda, make):
    """Two steps on the CPU against one on the CPU, then .to('cuda') and one on the device."""
    def run(move: bool) -> tuple:
        minicnn.manual_seed(3)
        net = nn.Linear(4, 3).double()
        opt = make(net.parameters())
        x = minicnn.randn(6, 4, dtype=np.float64)
        for step in range(2):
            if move and step == 1:
                net.to("cuda")
                x = x.to("cuda")
            opt.zero_grad()
            (net(x) ** 2).mean().backward()
            opt.step()
        return net, opt

    cpu_net, _ = run(move=False)
    dev_net, dev_opt = run(move=True)
    for state in dev_opt.state.values():
        for key, value in state.items():
            if hasattr(value, "shape"):
                assert isinstance(value, standin.StandinArray), key
    for (name, a), (_, b) in zip(cpu_net.state_dict().items(), dev_net.state_dict().items()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, err_msg=name)
    # a state_dict round trip keeps the state on the parameters' device
    dev_opt.load_state_dict(dev_opt.state_dict())
    assert all(isinstance(v, standin.StandinArray) for s in dev_opt.state.values()
               for v in s.values() if hasattr(v, "shape"))


def test_creation_on_the_device_copies_nothing(cuda):
    with cuda.counting() as log:
        for t in (minicnn.zeros(2, 3, device="cuda"), minicnn.ones(4, device="cuda"),
                  minicnn.full((2, 2), 7.0, device="cuda")):
            assert t.device == "cuda"
        minicnn.zeros_like(t), minicnn.ones_like(t)
    assert_no_transfers(log, "zeros/ones/full on the device")
    np.testing.assert_array_equal(minicnn.full((2, 2), 7.0, device="cuda").numpy(), 7.0)


# ------------------------------------------------------------------------------------------
# Data and training
# ------------------------------------------------------------------------------------------

def test_dataloader_hands_batches_to_the_device(cuda):
    rng = np.random.default_rng(0)
    data = TensorDataset(rng.standard_normal((10, 1, 4, 4)).astype(np.float32),
                         rng.integers(0, 3, 10))
    with cuda.counting() as log:
        batches = list(DataLoader(data, batch_size=4, device="cuda"))
    assert len(batches) == 3
    for x, y in batches:
        assert x.device == "cuda" and y.device == "cuda" and y.dtype == np.int64
    assert (log.h2d, log.d2h) == (6, 0), _events(log)  # one copy per field per batch


def _batch(model: str, n: int = 4) -> tuple:
    rng = np.random.default_rng(0)
    if model == "cnn2":
        return (rng.standard_normal((n, 1, 28, 28)).astype(np.float32),
                rng.integers(0, 10, n))
    return (rng.random((n, 1, 64, 64)).astype(np.float32),
            rng.integers(0, 2, (n, 1)).astype(np.float32))


def _setup(model: str) -> tuple:
    if model == "cnn2":
        net = mm.CNN2()
        opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        loss_fn = nn.CrossEntropyLoss()
    else:  # every layer kind: conv, BatchNorm, ReLU, max pool, dropout, linear
        net = mm.CrackCNN(batch_norm=True, dropout=0.5, size=64)
        opt = optim.Adam(net.parameters(), lr=1e-3)
        loss_fn = nn.BCEWithLogitsLoss()
    return net, opt, loss_fn


def _step(net, opt, loss_fn, x, y):
    opt.zero_grad()
    loss = loss_fn(net(x), y)
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize("model", ["cnn2", "crack_cnn"])
def test_training_step_makes_no_transfer(cuda, model):
    """zero_grad, forward, loss, backward, step: no transfer at all; loss.item(): one."""
    net, opt, loss_fn = _setup(model)
    net.to("cuda")
    x, y = (minicnn.tensor(a, device="cuda") for a in _batch(model))
    for step in range(2):  # the first step creates the optimiser state, the second uses it
        with cuda.counting() as log:
            loss = _step(net, opt, loss_fn, x, y)
        assert_no_transfers(log, f"{model} training step {step + 1}")
        with cuda.counting() as log:
            value = loss.item()
        assert log.total == 1 and log.d2h == 1, _events(log)
        assert np.isfinite(value)
    with cuda.counting() as log, minicnn.no_grad():
        net.eval()
        net(x)
    assert_no_transfers(log, f"{model} evaluation forward")


def test_training_step_on_the_device_matches_the_cpu(cuda):
    """The same CNN2 step on both devices: same loss, same weights (no dropout in CNN2)."""
    results = []
    for device in ("cpu", "cuda"):
        minicnn.manual_seed(0)
        net, opt, loss_fn = _setup("cnn2")
        net.to(device)
        x, y = (minicnn.tensor(a, device=device) for a in _batch("cnn2"))
        losses = [_step(net, opt, loss_fn, x, y).item() for _ in range(2)]
        results.append((losses, {k: v.numpy() for k, v in net.state_dict().items()}))
    (cpu_losses, cpu_state), (dev_losses, dev_state) = results
    np.testing.assert_allclose(dev_losses, cpu_losses, rtol=1e-5)
    for k in cpu_state:
        np.testing.assert_allclose(dev_state[k], cpu_state[k], rtol=1e-4, atol=1e-6,
                                   err_msg=k)


def test_planted_numpy_call_in_an_op_is_refused(cuda, monkeypatch):
    """relu's forward reading its input with np.asarray, as a careless op would."""
    def forward(self, x):
        self.mask = np.asarray(x) > 0
        return x * self.mask

    monkeypatch.setattr(activation.ReLU, "forward", forward)
    net, opt, loss_fn = _setup("cnn2")
    net.to("cuda")
    x, y = (minicnn.tensor(a, device="cuda") for a in _batch("cnn2"))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        _step(net, opt, loss_fn, x, y)


def test_planted_hidden_transfer_is_counted(cuda, monkeypatch):
    """relu's forward computing its mask on the host and copying it back: legal, but two
    transfers per call hidden in the step; the counter catches them."""
    def forward(self, x):
        host = backend.to_host(x)
        self.mask = backend.to_device(host > 0, backend.device_of(x))
        return x * self.mask

    monkeypatch.setattr(activation.ReLU, "forward", forward)
    net, opt, loss_fn = _setup("cnn2")
    net.to("cuda")
    x, y = (minicnn.tensor(a, device="cuda") for a in _batch("cnn2"))
    with cuda.counting() as log:
        _step(net, opt, loss_fn, x, y)
    assert (log.h2d, log.d2h) == (3, 3)  # CNN2 has three ReLUs
    with pytest.raises(AssertionError, match="made 6 host<->device transfers"):
        assert_no_transfers(log, "planted step")


def test_dropout_masks_on_the_device(cuda):
    """Drawn on the device (no copy), replayed by the seed, independent between elements."""
    x = minicnn.ones(400, 500, device="cuda")
    minicnn.manual_seed(5)
    with cuda.counting() as log:
        a = nn.functional.dropout(x, 0.5)
    assert_no_transfers(log, "dropout")
    b = nn.functional.dropout(x, 0.5).numpy()
    minicnn.manual_seed(5)
    np.testing.assert_array_equal(nn.functional.dropout(x, 0.5).numpy(), a.numpy())
    keep = a.numpy() != 0
    assert not np.array_equal(keep, b != 0)
    # 2e5 draws: the kept fraction is within 5 sigma (sigma = 0.0011) of 0.5, and neighbours
    # (along rows and columns) agree about half of the time, as independent draws do
    assert abs(keep.mean() - 0.5) < 0.006
    assert abs((keep[:, 1:] == keep[:, :-1]).mean() - 0.5) < 0.006
    assert abs((keep[1:] == keep[:-1]).mean() - 0.5) < 0.006
    np.testing.assert_array_equal(a.numpy()[keep], 2.0)


def test_fit_on_the_device(cuda):
    from minicnn.train import MinicnnEngine, fit

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64, 2)).to("cuda")
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, device="cuda")
    history = fit(net, optim.Adam(net.parameters(), lr=0.01), nn.CrossEntropyLoss(), loader, 5,
                  engine=MinicnnEngine("cuda"), val_loader=loader, progress=False)
    losses = history.to_dict()["loss"]
    assert losses[-1] < losses[0]
    assert all(p.device == "cuda" for p in net.parameters())


# ------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------

@pytest.fixture
def no_probe_yet(monkeypatch):
    """backend as if CUDA had not been looked for yet (and no 'cuda' device registered)."""
    monkeypatch.setattr(backend, "_cuda_probe_done", False)
    monkeypatch.setattr(backend, "_cuda_missing_reason", "")
    monkeypatch.setattr(backend, "_devices", {"cpu": backend.CPU})


def _cli_error(argv: list[str]) -> str:
    from minicnn.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    message = str(info.value.code)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("argv", [["train", "mnist_logreg"], ["compare", "mnist_logreg"],
                                  ["bench", "--device", "cuda"], ["bench", "--device=cuda"]],
                         ids=["train", "compare", "bench", "bench="])
def test_cli_without_cupy_says_what_to_install(no_probe_yet, monkeypatch, argv):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    if argv[0] != "bench":
        argv = argv + ["--device", "cuda"]
    message = _cli_error(argv)
    assert message.startswith("minicnn: device 'cuda' requested but CuPy is not installed")
    assert "pip install 'minicnn[gpu]'" in message


def test_cli_with_cupy_but_no_gpu_says_so(no_probe_yet, monkeypatch):
    def no_device() -> int:
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    message = _cli_error(["train", "mnist_logreg", "--device", "cuda"])
    assert message.startswith("minicnn: device 'cuda' requested but CuPy is installed but no "
                              "CUDA GPU is visible")
    assert "no CUDA-capable device" in message


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "cracks-brick").is_dir(), reason="no shared crack images")
def test_cli_train_on_the_device_end_to_end(cuda, tmp_path, capsys):
    """``minicnn train --device cuda`` with 'cuda' the stand-in: the binary crack task, BN."""
    from minicnn.cli import main

    main(["train", "cracks_cnn_bn", "--device", "cuda", "--data", str(SHARED / "cracks-brick"),
          "--epochs", "1", "--limit", "12", "--out", str(tmp_path), "--quiet"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert np.isfinite(report["history"]["loss"][0]) and 0 <= report["test_acc"] <= 1
    assert "test accuracy" in capsys.readouterr().out


def test_cli_compare_on_the_device_needs_a_cuda_torch(cuda):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this PyTorch has CUDA")
    message = _cli_error(["compare", "mnist_logreg", "--device", "cuda"])
    assert "torch.cuda.is_available() is False" in message


def test_cli_unknown_device(no_probe_yet):
    assert "unknown device 'tpu'" in _cli_error(["train", "mnist_logreg", "--device", "tpu"])
