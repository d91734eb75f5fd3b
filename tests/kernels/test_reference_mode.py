"""In reference mode no Numba-compiled code runs: a fresh process trains every course model one
step with SGD (momentum) and Adam, then counts the compiled signatures of every Numba
dispatcher in ``minicnn.kernels``. The same script in fast mode must compile them (so the check
can fail)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Families whose every Numba kernel one training step of the course models runs (fast mode).
FAMILIES = ("conv_cpu", "pooling", "normalization", "elementwise", "optim", "recurrent")

SCRIPT = r"""
import importlib, json, pkgutil, sys
import numpy as np
import minicnn, minicnn.kernels
import minicnn.models as mm
from minicnn import nn, optim
from minicnn.kernels import elementwise, optim as optim_kernels, recurrent
from numba.core.dispatcher import Dispatcher

# NOTE: size thresholds at 0, so that in fast mode every kernel runs on these small batches.
elementwise.MIN_SIZE = optim_kernels.MIN_SIZE = optim_kernels.ADAM_MIN_SIZE = 0
recurrent.CELL_MIN_SIZE = 0
minicnn.manual_seed(0)
rng = np.random.default_rng(0)
digits = (minicnn.tensor(rng.standard_normal((4, 1, 28, 28)).astype(np.float32)),
          minicnn.tensor(rng.integers(0, 10, 4)), nn.CrossEntropyLoss())
cracks = (minicnn.tensor(rng.standard_normal((4, 1, 32, 32)).astype(np.float32)),
          minicnn.tensor(rng.integers(0, 2, (4, 1)).astype(np.float32)), nn.BCEWithLogitsLoss())
cases = [(mm.LogisticRegression, {}, digits), (mm.CNN1, {}, digits), (mm.CNN2, {}, digits),
         (mm.MLP, {}, digits), (mm.KerasCNN, {}, digits),
         (mm.CrackCNN, dict(batch_norm=True, dropout=0.5, size=32), cracks),
         (mm.LSTMNet, {}, digits)]
for cls, kwargs, (x, y, loss_fn) in cases:
    for make in (lambda p: optim.SGD(p, lr=0.01, momentum=0.9), lambda p: optim.Adam(p)):
        model = cls(**kwargs)
        model.train()
        opt = make(model.parameters())
        before = [p.data.copy() for p in model.parameters()]
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        assert np.isfinite(loss.item())
        assert any(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
for info in pkgutil.iter_modules(minicnn.kernels.__path__):
    if not info.name.endswith("_cuda"):  # numba.cuda kernels take no host arrays
        importlib.import_module("minicnn.kernels." + info.name)
found = {}
for name, module in sorted(sys.modules.items()):
    if name.startswith("minicnn.kernels"):
        for attr, obj in vars(module).items():
            if isinstance(obj, Dispatcher):
                found[name + "." + attr] = len(obj.signatures)
print(json.dumps(found))
"""


def _compiled_signatures(mode: str) -> dict[str, int]:
    env = dict(os.environ, MINICNN_KERNELS=mode)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["reference", "fast"])
def test_numba_runs_only_in_fast_mode(mode: str) -> None:
    found = _compiled_signatures(mode)
    ours = {name: n for name, n in found.items() if name.split(".")[2] in FAMILIES}
    assert len(ours) >= 14, f"expected the families' Numba kernels, found {sorted(found)}"
    if mode == "reference":
        compiled = sorted(name for name, n in found.items() if n)
        assert compiled == [], f"Numba code ran in reference mode: {compiled}"
    else:
        idle = sorted(name for name, n in ours.items() if not n)
        assert idle == [], f"fast mode did not run these kernels: {idle}"
