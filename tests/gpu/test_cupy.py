"""Real-GPU checks on CuPy, marked ``gpu``: skipped, with the reason, where there is no GPU.

On a GPU machine: ``pip install -e '.[gpu,torch,dev]'`` then
``MINICNN_REAL_CUDA=1 python -m pytest -m gpu`` (the whole suite with MINICNN_REAL_CUDA=1 also
runs every device-parameterised test on CuPy, and the numba.cuda kernels on the GPU).
"""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
import minicnn.models as mm
from minicnn import backend, nn, optim

pytestmark = pytest.mark.gpu


@pytest.fixture
def counted(gpu, monkeypatch):
    """CuPy as the 'cuda' device, with its transfers counted: a list of (direction, shape)."""
    cuda = backend.get_device(gpu)
    log: list[tuple[str, tuple]] = []

    def to_device(a):
        log.append(("h2d", np.shape(a)))
        return cuda.to_device(a)

    def to_host(a):
        log.append(("d2h", tuple(a.shape)))
        return cuda.to_host(a)

    monkeypatch.setitem(backend._devices, "cuda",
                        backend.Device("cuda", cuda.array_type, cuda.xp, to_device, to_host))
    return log


def test_cupy_is_the_cuda_device(gpu):
    import cupy

    assert minicnn.cuda.is_available()
    x = minicnn.randn(2, 3, device=gpu)
    assert isinstance(x.data, cupy.ndarray) and x.device == "cuda"
    np.testing.assert_allclose((x * 2).cpu().numpy(), 2 * x.numpy())


@pytest.mark.parametrize("model", ["cnn2", "crack_cnn"])
def test_training_step_neither_copies_nor_synchronises(counted, model):
    """zero_grad, forward, loss, backward, step on CuPy: no transfer through the backend, and
    no CuPy synchronisation (``cupyx.allow_synchronize(False)`` raises on one)."""
    import cupyx

    if model == "cnn2":
        net, loss_fn = mm.CNN2(), nn.CrossEntropyLoss()
        opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x = np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)
        y = np.arange(8) % 10
    else:
        net, loss_fn = mm.CrackCNN(batch_norm=True, dropout=0.5, size=64), nn.BCEWithLogitsLoss()
        opt = optim.Adam(net.parameters(), lr=1e-3)
        x = np.random.default_rng(0).random((8, 1, 64, 64)).astype(np.float32)
        y = (np.arange(8) % 2).astype(np.float32)[:, None]
    net.to("cuda")
    x, y = minicnn.tensor(x, device="cuda"), minicnn.tensor(y, device="cuda")
    for _ in range(2):
        counted.clear()
        with cupyx.allow_synchronize(False):
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
        assert counted == [], counted
        assert np.isfinite(loss.item())
        assert counted == [("d2h", ())]
