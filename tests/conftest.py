"""Shared test setup: Numba's CUDA simulator where no GPU is present, seeds, dtypes, and the
devices every engine test runs on (cpu, the strict GPU stand-in, and real CuPy where present)."""
import os

# NOTE: must be set before numba is first imported; a real GPU machine keeps real CUDA.
if os.environ.get("MINICNN_REAL_CUDA") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# NOTE: one thread per library: OpenBLAS, Numba's OpenMP and torch threads spinning at once on
# 2 cores made tests 10x slower. Must be set before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from collections.abc import Iterator  # noqa: E402

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


def _devices() -> list:
    """The device cases: 'cpu', 'standin' (tests/standin.py, registered as 'cuda'), and 'gpu'
    (real CuPy, marked ``gpu``) where CuPy is installed. ``MINICNN_TEST_DEVICES=cpu`` (a comma
    list) narrows them, e.g. for a quick local run."""
    import importlib.util

    names = ["cpu", "standin"]
    if importlib.util.find_spec("cupy") is not None:
        names.append("gpu")
    wanted = os.environ.get("MINICNN_TEST_DEVICES")
    if wanted:
        names = [n for n in names if n in {w.strip() for w in wanted.split(",")}]
    return [pytest.param(n, marks=pytest.mark.gpu) if n == "gpu" else n for n in names]


DEVICES = _devices()


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> Iterator[str]:
    """The device name a test runs on: 'cpu', or 'cuda' backed by the strict stand-in
    (``standin``) or by real CuPy on a GPU (``gpu``, skipped with the reason where absent)."""
    if request.param == "cpu":
        yield "cpu"
    elif request.param == "standin":
        import standin

        with standin.registered("cuda"):
            yield "cuda"
    else:
        yield real_cuda()


@pytest.fixture
def gpu() -> str:
    """'cuda' on a real GPU with CuPy; elsewhere the test is skipped with the reason."""
    return real_cuda()


def real_cuda() -> str:
    """'cuda' when CuPy sees a GPU, else skip the test with the reason (what is missing)."""
    from minicnn import backend

    if not backend.cuda_available():
        pytest.skip(f"no CUDA GPU: {backend._cuda_missing_reason}")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("real-GPU tests need MINICNN_REAL_CUDA=1 (Numba's CUDA simulator is on)")
    return "cuda"
