"""Optimisers step for step against torch.optim (float64, 50 steps, 1e-12 relative)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minicnn
from minicnn import backend, nn, optim

SHAPES = [(4, 3), (5,), (2, 3, 2)]
STEPS = 50
RTOL, ATOL = 1e-12, 1e-14


def _grads(rng: np.random.Generator, steps: int) -> list[list[np.ndarray | None]]:
    """Per step, one gradient noise array per parameter; the last parameter only has a
    gradient on even steps (the others' .grad is None: the optimiser must skip it)."""
    out = []
    for t in range(steps):
        g: list[np.ndarray | None] = [rng.standard_normal(s) for s in SHAPES]
        if t % 2:
            g[-1] = None
        out.append(g)
    return out


def _set_grads(params: list, noise: list, lib: Any, device: str) -> None:
    """grad = noise + 0.5 * p (the gradient depends on the parameter, as in training)."""
    for p, n in zip(params, noise):
        if n is None:
            p.grad = None
        elif lib is torch:
            p.grad = torch.tensor(n) + 0.5 * p.detach()
        else:
            p.grad = minicnn.tensor(n, device=device) + 0.5 * p.detach()


def _params(rng: np.random.Generator, device: str) -> tuple[list, list]:
    init = [rng.standard_normal(s) for s in SHAPES]
    mine = [nn.Parameter(minicnn.tensor(a, device=device)) for a in init]
    ref = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    return mine, ref


def _assert_equal(mine: list, ref: list, step: int) -> None:
    for i, (a, b) in enumerate(zip(mine, ref)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"param {i} after step {step}")


def _groups(params: list, groups: list[dict] | None) -> Any:
    if groups is None:
        return params
    return [dict(g, params=[params[i] for i in g["params"]]) for g in groups]


CASES = [
    ("SGD", {"lr": 0.1}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, None),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.1, "weight_decay": 0.02}, None),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}, None),
    ("SGD", {"lr": 0.01, "momentum": 0.9},
     [{"params": [0], "lr": 0.1}, {"params": [1, 2], "momentum": 0.5, "nesterov": True}]),
    ("Adam", {}, None),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}, None),
    ("Adam", {"lr": 0.05, "amsgrad": True}, None),
    ("Adam", {"lr": 0.02, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.01,
              "amsgrad": True}, None),
    ("Adam", {"lr": 0.01, "maximize": True}, None),
    ("Adam", {"lr": 0.01}, [{"params": [0, 2], "lr": 0.1, "amsgrad": True},
                             {"params": [1], "betas": (0.8, 0.99)}]),
    ("AdamW", {"lr": 0.05}, None),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True}, None),
    ("AdamW", {"lr": 0.01}, [{"params": [0]}, {"params": [1, 2], "weight_decay": 0.0}]),
]


@pytest.mark.parametrize("name,kwargs,groups", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_steps_match_torch(name: str, kwargs: dict, groups: list | None, device: str,
                           rng: np.random.Generator) -> None:
    mine, ref = _params(rng, device)
    opt = getattr(optim, name)(_groups(mine, groups), **kwargs)
    topt = getattr(torch.optim, name)(_groups(ref, groups), **kwargs)
    for t, noise in enumerate(_grads(rng, STEPS)):
        _set_grads(mine, noise, minicnn, device)
        _set_grads(ref, noise, torch, device)
        opt.step()
        topt.step()
        _assert_equal(mine, ref, t)
    assert all(p.device == device for p in mine)


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                                         ("Adam", {"lr": 0.05, "amsgrad": True}),
                                         ("AdamW", {"lr": 0.05})])
def test_state_dict_round_trip_continues_identically(name: str, kwargs: dict, device: str,
                                                     rng: np.random.Generator) -> None:
    mine, ref = _params(rng, device)
    groups = [{"params": [0, 1], "lr": 0.02}, {"params": [2]}]
    opt = getattr(optim, name)(_groups(mine, groups), **kwargs)
    topt = getattr(torch.optim, name)(_groups(ref, groups), **kwargs)
    grads = _grads(rng, 40)
    for noise in grads[:20]:
        for ps, lib, o in ((mine, minicnn, opt), (ref, torch, topt)):
            _set_grads(ps, noise, lib, device)
            o.step()
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][0]["lr"] == 0.02
    tsd = topt.state_dict()
    assert sd["param_groups"] == [{k: v for k, v in g.items() if k in sd["param_groups"][i]}
                                  for i, g in enumerate(tsd["param_groups"])]
    assert all(set(s) == set(tsd["state"][i]) for i, s in sd["state"].items())
    snapshot = {i: {k: _host(v) for k, v in s.items()} for i, s in sd["state"].items()}

    clones = [nn.Parameter(minicnn.tensor(p.detach().numpy(), device=device)) for p in mine]
    opt2 = getattr(optim, name)(_groups(clones, [{"params": [0, 1]}, {"params": [2]}]),
                                lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.02 and opt2.param_groups[0]["params"][0] is clones[0]
    for t, noise in enumerate(grads[20:]):
        for ps, lib, o in ((mine, minicnn, opt), (clones, minicnn, opt2), (ref, torch, topt)):
            _set_grads(ps, noise, lib, device)
            o.step()
        for a, b in zip(mine, clones):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        _assert_equal(mine, ref, 20 + t)
    # the state_dict is a snapshot: later steps did not change it
    for i, s in sd["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(_host(v), snapshot[i][k])


def _host(value: Any) -> np.ndarray:
    """A copy of a state value (a number, or an array on any device) as a host array."""
    return np.array(backend.to_host(value) if hasattr(value, "shape") else value, copy=True)


def test_load_state_dict_validates_groups(rng: np.random.Generator) -> None:
    mine, _ = _params(rng, "cpu")
    sd = optim.SGD(mine, lr=0.1).state_dict()
    with pytest.raises(ValueError, match="number of parameter groups"):
        optim.SGD([{"params": mine[:1]}, {"params": mine[1:]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD(mine[:2], lr=0.1).load_state_dict(sd)


def test_state_follows_parameters_to_device_and_dtype(device: str) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    x = minicnn.randn(8, 3)
    model(x).sum().backward()
    opt.step()
    model.to(device).double()
    opt.zero_grad()
    model(x.to(device).double()).sum().backward()
    opt.step()
    for p in model.parameters():
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            arr = opt.state[p][key]
            assert minicnn.backend.device_of(arr).name == device and arr.dtype == np.float64
        assert opt.state[p]["step"] == 2


def test_gradients_are_never_written(rng: np.random.Generator) -> None:
    for name, kwargs in [("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1,
                                  "maximize": True}),
                         ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
                         ("Adam", {"weight_decay": 0.1, "maximize": True}),
                         ("AdamW", {"amsgrad": True})]:
        mine, _ = _params(rng, "cpu")
        opt = getattr(optim, name)(mine, **kwargs)
        for _ in range(3):
            grads = [rng.standard_normal(s) for s in SHAPES]
            for p, g in zip(mine, grads):
                p.grad = minicnn.tensor(g)
            arrays = [p.grad.data for p in mine]
            opt.step()
            for p, a, g in zip(mine, arrays, grads):
                assert p.grad.data is a
                np.testing.assert_array_equal(a, g)
            assert all(opt.state[p].get("momentum_buffer", 0) is not p.grad.data for p in mine)


def test_zero_grad_closure_and_groups(rng: np.random.Generator) -> None:
    mine, _ = _params(rng, "cpu")
    opt = optim.SGD(mine, lr=0.1)
    for p in mine:
        p.grad = minicnn.ones(*p.shape, dtype=minicnn.float64)
    old = mine[0].grad.data
    opt.zero_grad(set_to_none=False)
    assert float(mine[0].grad.sum()) == 0 and float(old.sum()) == old.size
    opt.zero_grad()
    assert all(p.grad is None for p in mine)
    before = mine[0].detach().numpy().copy()
    assert opt.step() is None
    np.testing.assert_array_equal(mine[0].detach().numpy(), before)  # no grads: no change

    def closure() -> minicnn.Tensor:
        opt.zero_grad()
        loss = (mine[0] ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx((before**2).sum())
    np.testing.assert_allclose(mine[0].detach().numpy(), before * 0.8)

    extra = nn.Parameter(minicnn.zeros(2))
    opt.add_param_group({"params": extra, "lr": 1.0})
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is extra
    assert opt.param_groups[1]["momentum"] == 0 and opt.param_groups[1]["lr"] == 1.0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [mine[0]]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD({extra}, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([mine[0] * 2], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(mine, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        optim.Adam(mine, betas=(1.0, 0.9))
    assert "Parameter Group 0" in repr(opt) and "lr: 0.1" in repr(opt)


def test_training_a_model_decreases_the_loss(device: str) -> None:
    x = minicnn.randn(64, 4, device=device)
    target = minicnn.tensor((x.numpy().sum(axis=1) > 0).astype(np.int64), device=device)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)).to(device)
    opt = optim.AdamW(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.3 * losses[0]
