"""Schedulers: the same lr sequences as torch.optim.lr_scheduler."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minicnn
from minicnn import nn, optim
from minicnn.optim import lr_scheduler


def _optimizers(lrs: tuple[float, ...] = (0.1, 0.03)) -> tuple[Any, Any]:
    mine = optim.SGD([{"params": [nn.Parameter(minicnn.zeros(1))], "lr": lr} for lr in lrs],
                     lr=1.0, momentum=0.9)
    ref = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr}
                           for lr in lrs], lr=1.0, momentum=0.9)
    return mine, ref


@pytest.mark.parametrize("step_size,gamma", [(3, 0.5), (1, 0.9), (5, 0.1)])
def test_step_lr_matches_torch(step_size: int, gamma: float) -> None:
    opt, topt = _optimizers()
    sched = lr_scheduler.StepLR(opt, step_size, gamma)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size, gamma)
    assert sched.get_last_lr() == tsched.get_last_lr() == [0.1, 0.03]
    assert sched.base_lrs == tsched.base_lrs and sched.last_epoch == tsched.last_epoch == 0
    for _ in range(16):
        opt.step(), topt.step()
        sched.step(), tsched.step()
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        assert sched.last_epoch == tsched.last_epoch


def test_step_lr_state_dict_resumes() -> None:
    opt, _ = _optimizers()
    sched = lr_scheduler.StepLR(opt, 2, 0.5)
    for _ in range(5):
        sched.step()
    opt2, _ = _optimizers()
    sched2 = lr_scheduler.StepLR(opt2, 7, 0.9)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert "optimizer" not in sched.state_dict()
    for _ in range(6):
        sched.step(), sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
    assert sched2.step_size == 2


PLATEAU_CASES = [
    {"mode": "min", "patience": 2, "cooldown": 1, "threshold": 0.1},
    {"mode": "min", "patience": 1, "threshold": 0.5, "threshold_mode": "abs", "factor": 0.5},
    {"mode": "min", "patience": 0, "cooldown": 2, "min_lr": [0.004, 0.001], "factor": 0.3},
    {"mode": "max", "patience": 2, "threshold": 0.05, "cooldown": 1},
    {"mode": "max", "patience": 1, "threshold": 0.2, "threshold_mode": "abs", "min_lr": 0.02,
         "factor": 0.5},
    {"mode": "min", "patience": 0, "factor": 0.5, "min_lr": 0.0999999995},  # changes <= eps skipped
    {},
]


def _metrics(rng: np.random.Generator) -> list[float]:
    """A plateauing loss: improvements, tiny improvements under the threshold, stalls,
    spikes, exact repeats and a 0-d tensor."""
    scripted = [5.0, 4.0, 3.9, 3.95, 3.9, 3.9, 3.0, 2.99, 2.98, 3.5, 2.0, 2.0, 1.9, 1.95, 1.99,
                2.5, 1.0, 0.99, 0.999, 1.2, 0.5, 0.5, 0.49]
    walk = list(2.0 + np.cumsum(rng.normal(-0.02, 0.2, 40)))
    return scripted + walk + scripted[::-1]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=[str(i) for i in range(len(PLATEAU_CASES))])
def test_reduce_lr_on_plateau_matches_torch(kwargs: dict, rng: np.random.Generator) -> None:
    opt, topt = _optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    changes = 0
    for i, m in enumerate(_metrics(rng)):
        metric = minicnn.tensor(m, dtype=minicnn.float64) if i == 3 else m
        before = sched.get_last_lr()
        sched.step(metric)
        tsched.step(m)
        assert sched.get_last_lr() == tsched.get_last_lr(), f"epoch {i}"
        assert [g["lr"] for g in opt.param_groups] == tsched.get_last_lr()
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == \
            (tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter)
        changes += sched.get_last_lr() != before
    if kwargs.get("min_lr") != 0.0999999995:
        assert changes >= 2  # the script really exercises the reductions


def test_reduce_lr_on_plateau_state_dict_and_errors() -> None:
    opt, _ = _optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=1)
    for m in [1.0, 0.5, 0.5, 0.4]:
        sched.step(m)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["best"] == 1.0
    opt2, _ = _optimizers()
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(sd)
    opt2.load_state_dict(opt.state_dict())
    for m in [0.3, 0.2, 2.0, 1.0, 1.0]:
        sched.step(m), sched2.step(m)
        assert sched.get_last_lr() == sched2.get_last_lr()
    with pytest.raises(ValueError, match="Factor"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="unknown"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="median")
    with pytest.raises(ValueError, match="min_lrs"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1])
    with pytest.raises(TypeError):
        lr_scheduler.StepLR(object(), 2)
