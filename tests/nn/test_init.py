"""Initialisers: PyTorch's formulas and bounds, seeded draws, device and dtype kept."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import minicnn
from minicnn import nn
from minicnn.nn import init


def _host(t: minicnn.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float64)


@pytest.mark.parametrize("shape", [(3, 5), (8, 3, 3, 3), (4, 2, 5), (7, 1)])
def test_fans_match_torch(shape: tuple[int, ...]) -> None:
    assert init._calculate_fan_in_and_fan_out(minicnn.zeros(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    with pytest.raises(ValueError):
        init._calculate_fan_in_and_fan_out(minicnn.zeros(3))


@pytest.mark.parametrize("name,param", [("linear", None), ("sigmoid", None), ("tanh", None),
                                        ("relu", None), ("leaky_relu", None),
                                        ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain(name: str, param: float | None) -> None:
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-15)


def _check_uniform(w: np.ndarray, bound: float) -> None:
    """Samples of U(-bound, bound): inside, reaching close to the bound, mean 0, var b^2/3."""
    n = w.size
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > bound * (1 - 20 / n)
    assert abs(w.mean()) < 5 * bound / math.sqrt(3 * n)
    assert w.var() == pytest.approx(bound**2 / 3, rel=0.03)


def test_linear_default_init_bounds(device: str) -> None:
    lin = nn.Linear(400, 300, device=device)
    bound = 1 / math.sqrt(400)
    _check_uniform(_host(lin.weight), bound)
    b = _host(lin.bias)
    # NOTE: float32 draws may round up past the float64 bound by half an ulp (1 + 6e-8).
    assert np.abs(b).max() <= bound * (1 + 1e-6) and np.abs(b).max() > 0.9 * bound
    assert lin.weight.device == device and lin.weight.dtype == np.float32
    # torch's own layer has the same bound (its max |W| is at most the bound too)
    torch.manual_seed(0)
    ref = torch.nn.Linear(400, 300)
    assert ref.weight.abs().max().item() <= bound * (1 + 1e-6)
    assert np.abs(_host(lin.weight)).max() > 0.99 * ref.weight.abs().max().item()


def test_conv_default_init_bounds(device: str) -> None:
    conv = nn.Conv2d(16, 64, 5, device=device, dtype=minicnn.float64)
    fan_in = 16 * 25
    _check_uniform(_host(conv.weight), 1 / math.sqrt(fan_in))
    assert np.abs(_host(conv.bias)).max() <= 1 / math.sqrt(fan_in)
    assert conv.weight.dtype == np.float64 and conv.weight.device == device


def test_init_functions(device: str) -> None:
    w = minicnn.zeros(500, 200, dtype=minicnn.float64, device=device)
    assert init.kaiming_uniform_(w, nonlinearity="relu") is w
    _check_uniform(_host(w), math.sqrt(2) * math.sqrt(3 / 200))
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    _check_uniform(_host(w), math.sqrt(6 / 500))
    init.xavier_uniform_(w, gain=2.0)
    _check_uniform(_host(w), 2 * math.sqrt(6 / 700))
    init.uniform_(w, -3, 1)
    assert _host(w).min() >= -3 and _host(w).max() < 1
    assert _host(w).mean() == pytest.approx(-1, abs=0.02)
    init.normal_(w, 2.0, 0.5)
    assert _host(w).mean() == pytest.approx(2.0, abs=0.01)
    assert _host(w).std() == pytest.approx(0.5, rel=0.01)
    init.kaiming_normal_(w, nonlinearity="relu")
    assert _host(w).std() == pytest.approx(math.sqrt(2 / 200), rel=0.01)
    init.xavier_normal_(w)
    assert _host(w).std() == pytest.approx(math.sqrt(2 / 700), rel=0.01)
    init.ones_(w)
    assert (_host(w) == 1).all()
    init.zeros_(w)
    assert (_host(w) == 0).all()
    init.constant_(w, 0.25)
    assert (_host(w) == 0.25).all() and w.device == device and w.dtype == np.float64


def test_init_is_seeded_and_records_no_graph() -> None:
    minicnn.manual_seed(7)
    a = nn.Linear(5, 4)
    minicnn.manual_seed(7)
    b = nn.Linear(5, 4)
    np.testing.assert_array_equal(_host(a.weight), _host(b.weight))
    np.testing.assert_array_equal(_host(a.bias), _host(b.bias))
    assert a.weight.is_leaf and a.weight.grad is None
    c = nn.Linear(5, 4)
    assert not np.array_equal(_host(a.weight), _host(c.weight))
    a.reset_parameters()
    assert not np.array_equal(_host(a.weight), _host(b.weight))


def test_batchnorm_init() -> None:
    bn = nn.BatchNorm2d(6)
    assert (_host(bn.weight) == 1).all() and (_host(bn.bias) == 0).all()
    assert (_host(bn.running_mean) == 0).all() and (_host(bn.running_var) == 1).all()
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
