"""Layers against PyTorch: same weights (through state_dict), same inputs, float64 outputs
and gradients; torch -> minicnn -> torch state_dict round trips; BatchNorm's running state."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import minicnn
from minicnn import nn

RTOL, ATOL = 1e-10, 1e-12


def from_torch(ref: torch.nn.Module, mine: nn.Module, device: str) -> nn.Module:
    """``mine`` in float64 on ``device`` with ``ref``'s weights and buffers."""
    mine.double().to(device)
    mine.load_state_dict({k: v.numpy() for k, v in ref.double().state_dict().items()})
    return mine


def compare(ref: torch.nn.Module, mine: nn.Module, x: np.ndarray, device: str,
            rng: np.random.Generator) -> None:
    """Outputs, input gradients and parameter gradients equal in float64."""
    xt = torch.tensor(x, requires_grad=True)
    xm = minicnn.tensor(x, device=device, requires_grad=True)
    yt, ym = ref(xt), mine(xm)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=RTOL, atol=ATOL)
    gy = rng.standard_normal(yt.shape)
    yt.backward(torch.tensor(gy))
    ym.backward(minicnn.tensor(gy, device=device))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    tgrads = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tgrads[name].grad.numpy(), rtol=RTOL,
                                   atol=ATOL, err_msg=name)


LAYERS: list[tuple[str, Callable[[Any], Any], tuple[int, ...]]] = [
    ("linear", lambda L: L.Linear(5, 3), (4, 5)),
    ("linear-3d", lambda L: L.Linear(5, 3, bias=False), (2, 4, 5)),
    ("conv", lambda L: L.Conv2d(3, 4, 3), (2, 3, 7, 6)),
    ("conv-args", lambda L: L.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 2), dilation=2,
                                     bias=False), (2, 2, 9, 8)),
    ("conv-same", lambda L: L.Conv2d(2, 3, 4, padding="same"), (1, 2, 6, 5)),
    ("maxpool", lambda L: L.MaxPool2d(2), (2, 3, 7, 7)),
    ("maxpool-pad", lambda L: L.MaxPool2d(3, stride=2, padding=1), (2, 2, 8, 9)),
    ("avgpool", lambda L: L.AvgPool2d(3, stride=2, padding=1), (2, 2, 8, 9)),
    ("relu", lambda L: L.ReLU(), (3, 4)),
    ("sigmoid", lambda L: L.Sigmoid(), (3, 4)),
    ("tanh", lambda L: L.Tanh(), (3, 4)),
    ("softmax", lambda L: L.Softmax(dim=1), (3, 4)),
    ("logsoftmax", lambda L: L.LogSoftmax(dim=-1), (3, 4)),
    ("flatten", lambda L: L.Flatten(), (2, 3, 4, 5)),
    ("flatten-range", lambda L: L.Flatten(0, 2), (2, 3, 4, 5)),
    ("dropout-eval", lambda L: L.Dropout(0.5).eval(), (3, 4)),
    ("identity", lambda L: L.Identity(), (3, 4)),
    ("bn1d", lambda L: L.BatchNorm1d(4), (6, 4)),
    ("bn1d-3d", lambda L: L.BatchNorm1d(4), (3, 4, 5)),
    ("bn2d", lambda L: L.BatchNorm2d(3), (4, 3, 5, 5)),
    ("bn2d-eval", lambda L: L.BatchNorm2d(3).eval(), (4, 3, 5, 5)),
    ("bn2d-noaffine", lambda L: L.BatchNorm2d(3, affine=False), (4, 3, 5, 5)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_layer_matches_torch(name: str, make: Callable, shape: tuple, device: str,
                             rng: np.random.Generator) -> None:
    ref = make(torch.nn).double()
    if name.startswith("bn"):  # non-trivial affine parameters and running statistics
        for t in ref.state_dict().values():
            if t.dtype == torch.float64:
                t.copy_(torch.tensor(rng.uniform(0.5, 1.5, t.shape)))
    mine = from_torch(ref, make(nn), device)
    compare(ref, mine, rng.standard_normal(shape), device, rng)


def _mlp(L: Any) -> Any:
    return L.Sequential(L.Linear(6, 16), L.ReLU(), L.Linear(16, 8), L.Tanh(), L.Linear(8, 3))


def _cnn(L: Any) -> Any:
    return L.Sequential(
        L.Conv2d(3, 8, 3, padding=1), L.BatchNorm2d(8), L.ReLU(), L.MaxPool2d(2),
        L.Conv2d(8, 4, 3, stride=2, bias=False), L.BatchNorm2d(4), L.Sigmoid(),
        L.AvgPool2d(2), L.Flatten(), L.Dropout(0.25), L.Linear(4, 5), L.LogSoftmax(dim=1),
    )


@pytest.mark.parametrize("arch,shape", [(_mlp, (5, 6)), (_cnn, (4, 3, 15, 15))],
                         ids=["mlp", "cnn"])
def test_torch_state_dict_round_trip(arch: Callable, shape: tuple, device: str,
                                     rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    ref = arch(torch.nn).double()
    mine = from_torch(ref, arch(nn), device)
    x = rng.standard_normal(shape)
    for mode in ("train", "eval"):  # train mode: batch statistics; dropout is eval-only here
        for model, dropout in ((ref, torch.nn.Dropout), (mine, nn.Dropout)):
            getattr(model, mode)()
            for m in model.modules():
                if isinstance(m, dropout):
                    m.eval()  # its masks are drawn by different generators
        compare(ref, mine, x, device, rng)
        for k, v in ref.state_dict().items():  # running statistics updated identically
            np.testing.assert_allclose(mine.state_dict()[k].numpy(), v.numpy(), rtol=RTOL,
                                       atol=ATOL, err_msg=k)
    # minicnn -> torch: a fresh torch model takes minicnn's state_dict
    back = arch(torch.nn).double()
    back.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in mine.state_dict().items()})
    back.eval(), mine.eval()
    np.testing.assert_allclose(mine(minicnn.tensor(x, device=device)).detach().numpy(),
                               back(torch.tensor(x)).detach().numpy(), rtol=RTOL, atol=ATOL)


def test_float32_model_loads_float64_torch_weights(device: str,
                                                   rng: np.random.Generator) -> None:
    ref = _cnn(torch.nn).eval()
    mine = _cnn(nn).to(device).eval()
    mine.load_state_dict({k: v.double().numpy() for k, v in ref.state_dict().items()})
    assert all(p.dtype == np.float32 for p in mine.parameters())
    x = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)
    np.testing.assert_allclose(mine(minicnn.tensor(x, device=device)).detach().numpy(),
                               ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batchnorm_running_stats_follow_torch(momentum: float | None, device: str,
                                              rng: np.random.Generator) -> None:
    ref = torch.nn.BatchNorm2d(3, momentum=momentum).double()
    mine = from_torch(ref, nn.BatchNorm2d(3, momentum=momentum), device)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 3, 3)) * 2 + 1
        ref(torch.tensor(x)), mine(minicnn.tensor(x, device=device))
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(mine.state_dict()[k].numpy(), v.numpy(), rtol=RTOL,
                                   err_msg=k)
    assert int(mine.num_batches_tracked.item()) == 3
    mine.eval()(minicnn.tensor(x, device=device))
    assert int(mine.num_batches_tracked.item()) == 3
    mine.reset_running_stats()
    assert int(mine.num_batches_tracked.item()) == 0


def test_batchnorm_without_running_stats(device: str, rng: np.random.Generator) -> None:
    ref = torch.nn.BatchNorm1d(4, track_running_stats=False).double().eval()
    mine = from_torch(ref, nn.BatchNorm1d(4, track_running_stats=False), device).eval()
    assert list(mine.state_dict()) == ["weight", "bias"]
    compare(ref, mine, rng.standard_normal((5, 4)), device, rng)


def test_batchnorm_checks_input_dims() -> None:
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(minicnn.zeros(2, 3))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(minicnn.zeros(2, 3, 1, 1))


def test_dropout_train_and_eval(device: str) -> None:
    drop = nn.Dropout(0.25)
    x = minicnn.ones(200, 50, device=device)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert (y == 0).mean() == pytest.approx(0.25, abs=0.02)
    assert drop.eval()(x) is x or np.array_equal(drop(x).numpy(), x.numpy())
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


LOSSES = [
    ("CrossEntropyLoss", lambda r: (r.standard_normal((6, 4)), r.integers(0, 4, 6))),
    ("NLLLoss", lambda r: (np.log(r.dirichlet(np.ones(4), 6)), r.integers(0, 4, 6))),
    ("BCEWithLogitsLoss", lambda r: (r.standard_normal((5, 3)) * 3, r.random((5, 3)))),
    ("BCELoss", lambda r: (r.uniform(0.05, 0.95, (5, 3)), r.random((5, 3)))),
    ("MSELoss", lambda r: (r.standard_normal((5, 3)), r.standard_normal((5, 3)))),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,data", LOSSES, ids=[n for n, _ in LOSSES])
def test_losses_match_torch(name: str, data: Callable, reduction: str, device: str,
                            rng: np.random.Generator) -> None:
    x, t = data(rng)
    xt = torch.tensor(x, requires_grad=True)
    xm = minicnn.tensor(x, device=device, requires_grad=True)
    lt = getattr(torch.nn, name)(reduction=reduction)(xt, torch.tensor(t))
    lm = getattr(nn, name)(reduction=reduction)(xm, minicnn.tensor(t, device=device))
    np.testing.assert_allclose(lm.detach().numpy(), lt.detach().numpy(), rtol=RTOL, atol=ATOL)
    gy = rng.standard_normal(lt.shape)
    lt.backward(torch.tensor(gy))
    lm.backward(minicnn.tensor(gy, device=device))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_loss_rejects_bad_reduction() -> None:
    with pytest.raises(ValueError):
        nn.MSELoss(reduction="avg")


def test_softmax_without_dim_warns_like_torch() -> None:
    x = np.arange(6.0).reshape(2, 3)
    with pytest.warns(UserWarning):
        y = nn.Softmax()(minicnn.tensor(x)).numpy()
    with pytest.warns(UserWarning):
        ref = torch.nn.Softmax()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(y, ref, rtol=RTOL)


def test_conv_rejects_unsupported() -> None:
    with pytest.raises(NotImplementedError):
        nn.Conv2d(2, 2, 3, groups=2)
    with pytest.raises(ValueError):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(NotImplementedError):
        nn.MaxPool2d(2, ceil_mode=True)
