"""Shared test setup: Numba's CUDA simulator where no GPU is present, seeds, dtypes."""
import os

# NOTE: must be set before numba is first imported; a real GPU machine keeps real CUDA.
if os.environ.get("MINICNN_REAL_CUDA") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# NOTE: one thread per library: OpenBLAS, Numba's OpenMP and torch threads spinning at once on
# 2 cores made tests 10x slower. Must be set before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minicnn  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    minicnn.manual_seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


DEVICES = ["cpu"]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every device the engine's tests run on (the GPU stand-in joins this list)."""
    return request.param
