"""LSTM cell kernels: the xp reference against PyTorch's autograd of the same gate math, the
CPU path against the reference on both sides of its threshold and across task edges, the
numba.cuda kernels against the reference under Numba's CUDA simulator, and the dispatch."""
from __future__ import annotations

from collections.abc import Iterator

import numba
import numpy as np
import pytest
import torch
from numba import cuda as numba_cuda

import minicnn.backend
import minicnn.kernels
from minicnn.kernels import recurrent as R

DTYPES = [np.float64, np.float32]


@pytest.fixture(autouse=True)
def _fast_mode() -> Iterator[None]:
    """These tests are of the fast kernels: run them so whatever MINICNN_KERNELS says."""
    with minicnn.kernels.use("fast"):
        yield
# Fast against reference: the gate math is the same sequence of NumPy ufuncs and arithmetic,
# so the results are equal up to the order LLVM may give a product of three factors.
TOL = {np.float64: dict(rtol=1e-14, atol=1e-15), np.float32: dict(rtol=1e-6, atol=1e-7)}


def _inputs(N: int, H: int, dtype: type, seed: int = 0, scale: float = 3.0) -> dict:
    """Pre-activations ``a`` (N, 4H), states and upstream gradients, in ``dtype``."""
    rng = np.random.default_rng(seed)

    def draw(*shape: int, s: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * s).astype(dtype)

    return dict(a=draw(N, 4 * H, s=scale), c=draw(N, H), dh=draw(N, H), dc=draw(N, H))


def _run(impl: str, d: dict) -> dict:
    """Forward then backward through one implementation ('reference', 'cpu' or 'gpu') on
    copies of the inputs; every result as a NumPy array."""
    to_device, to_host = np.array, np.asarray
    if impl == "gpu":
        from minicnn.kernels import recurrent_cuda as K

        fwd, bwd = K.lstm_cell_forward_gpu, K.lstm_cell_backward_gpu
        to_device, to_host = _to_device, _to_host
    else:
        fwd = getattr(R, f"lstm_cell_forward_{impl}")
        bwd = getattr(R, f"lstm_cell_backward_{impl}")
    a, c, dh, dc = (to_device(d[k]) for k in ("a", "c", "dh", "dc"))  # copies
    xp = minicnn.backend.get_array_module(a)
    h_out, c_out = xp.empty_like(c), xp.empty_like(c)
    fwd(a, c, h_out, c_out)
    da, dc_prev = xp.empty_like(a), xp.empty_like(c)
    bwd(dh, dc, a, c, c_out, da, dc_prev)
    out = dict(acts=a, h=h_out, c_new=c_out, da=da, dc_prev=dc_prev)
    return {k: to_host(v) for k, v in out.items()}


def _assert_same(got: dict, want: dict, dtype: type) -> None:
    for key in want:
        assert got[key].dtype == np.dtype(dtype), key
        np.testing.assert_allclose(got[key], want[key], err_msg=key, **TOL[dtype])


def test_reference_is_the_lstm_gate_math() -> None:
    """The oracle itself against torch: values from torch.sigmoid/tanh, gradients from torch's
    autograd of c' = f*c + i*g, h' = o*tanh(c') (float64)."""
    d = _inputs(5, 7, np.float64, seed=1)
    got = _run("reference", d)
    a = torch.tensor(d["a"], requires_grad=True)
    c = torch.tensor(d["c"], requires_grad=True)
    ai, af, ag, ao = a.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(ai), torch.sigmoid(af), torch.tanh(ag), torch.sigmoid(ao)
    c_new = f * c + i * g
    h = o * torch.tanh(c_new)
    torch.autograd.backward([h, c_new], [torch.tensor(d["dh"]), torch.tensor(d["dc"])])
    want = dict(acts=torch.cat([i, f, g, o], 1), h=h, c_new=c_new, da=a.grad, dc_prev=c.grad)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value.detach().numpy(), rtol=1e-13, atol=1e-15,
                                   err_msg=key)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the implementations the entry points called, in order."""
    calls: list[str] = []
    for name in ("lstm_cell_forward_cpu", "lstm_cell_backward_cpu",
                 "lstm_cell_forward_reference", "lstm_cell_backward_reference"):
        real = getattr(R, name)
        monkeypatch.setattr(R, name,
                            lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    return calls


def _entry(d: dict) -> dict:
    """Forward and backward through the entry points (outputs allocated by them)."""
    a = d["a"].copy()
    h, c_new, acts = R.lstm_cell_forward(a, d["c"])
    assert acts is a  # the activations overwrite the pre-activations
    da, dc_prev = R.lstm_cell_backward(d["dh"], d["dc"], acts, d["c"], c_new)
    return dict(acts=acts, h=h, c_new=c_new, da=da, dc_prev=dc_prev)


# (N, H): below and above the threshold (shrunk to 60), one row, H = 1, and row counts that
# do not divide into the tasks (shrunk to 24 elements: tasks of 24 // H rows).
SHAPES = [(3, 4), (5, 12), (1, 80), (61, 1), (7, 9), (13, 5), (4, 30)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fast_matches_reference_on_both_sides_of_the_threshold(
        shape: tuple[int, int], dtype: type, spy: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "CELL_MIN_SIZE", 60)
    monkeypatch.setattr(R, "TASK_ELEMENTS", 24)
    N, H = shape
    d = _inputs(N, H, dtype, seed=N * 100 + H)
    got = _entry(d)
    fast = N * H >= 60
    assert spy == (["lstm_cell_forward_cpu", "lstm_cell_backward_cpu"] if fast else
                   ["lstm_cell_forward_reference", "lstm_cell_backward_reference"])
    _assert_same(got, _run("reference", d), dtype)
    if fast:
        assert len(R._row_tasks(N, H)) > 1 or N == 1  # the task edges were exercised


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_matches_reference_at_the_default_threshold(dtype: type, spy: list[str]) -> None:
    """A batch of 64 with 128 units (LSTMNet's first layer) at the module's own settings."""
    d = _inputs(64, 128, dtype, seed=3)
    got = _entry(d)
    assert spy == ["lstm_cell_forward_cpu", "lstm_cell_backward_cpu"]
    _assert_same(got, _run("reference", d), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_mode_forces_the_reference(dtype: type, spy: list[str]) -> None:
    d = _inputs(64, 128, dtype, seed=4)
    with minicnn.kernels.use("reference"):
        got = _entry(d)
    assert spy == ["lstm_cell_forward_reference", "lstm_cell_backward_reference"]
    _assert_same(got, _run("cpu", d), dtype)


@pytest.mark.parametrize("impl", ["reference", "cpu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_gates_stay_finite(impl: str, dtype: type) -> None:
    """Pre-activations of +-1e4 (exp(1e4) overflows): sigmoid gives exactly 0 or 1, tanh +-1,
    and no NaN or inf reaches any output or gradient."""
    d = _inputs(4, 40, dtype, seed=5)
    d["a"] = np.where(d["a"] > 0, 1e4, -1e4).astype(dtype)
    with np.errstate(over="raise", invalid="raise"):
        got = _run(impl, d)
    for key, value in got.items():
        assert np.isfinite(value).all(), key
    acts = got["acts"]
    assert set(np.unique(acts[:, :40])) <= {0.0, 1.0}
    assert set(np.unique(acts[:, 80:120])) <= {-1.0, 1.0}
    _assert_same(got, _run("reference", d), dtype)


@pytest.mark.parametrize("impl", ["reference", "cpu"])
def test_dc_out_may_be_dc(impl: str) -> None:
    """Backward through time writes each step's dc over the next step's, in place."""
    d = _inputs(6, 10, np.float64, seed=6)
    want = _run("reference", d)
    a, c = want["acts"], d["c"]
    dc = d["dc"].copy()
    da = np.empty_like(a)
    getattr(R, f"lstm_cell_backward_{impl}")(d["dh"], dc, a, c, want["c_new"], da, dc)
    np.testing.assert_allclose(dc, want["dc_prev"], **TOL[np.float64])
    np.testing.assert_allclose(da, want["da"], **TOL[np.float64])


def test_shape_and_dtype_errors() -> None:
    a, c = np.zeros((2, 12)), np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"\(N, 4H\).*\(2, 12\) and \(2, 4\)"):
        R.lstm_cell_forward(a, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="float32"):
        R.lstm_cell_forward(a.astype(np.float32), c)
    with pytest.raises(ValueError, match=r"\(N, 4H\)"):
        R.lstm_cell_backward(c, c, np.zeros((3, 12)), c, c)


# ----------------------------------------------------------------------------------------
# numba.cuda, under Numba's CUDA simulator (every thread a Python thread: small cases)
# ----------------------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="no CUDA GPU and no CUDA simulator")
if numba.config.ENABLE_CUDASIM or not numba_cuda.is_available():
    _to_device, _to_host = np.array, np.asarray  # the simulator runs kernels on NumPy arrays
else:  # a real GPU (MINICNN_REAL_CUDA=1): CuPy arrays through the CUDA array interface
    cupy = pytest.importorskip("cupy")
    minicnn.backend.cuda_available()  # registers CuPy, so get_array_module sees its arrays
    _to_device, _to_host = cupy.array, cupy.asnumpy


class _CudaLike(np.ndarray):
    """A NumPy array that claims a CUDA array interface, to exercise the dispatch."""

    @property
    def __cuda_array_interface__(self) -> dict:
        return self.__array_interface__


@needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 3), (3, 5), (7, 11)], ids=str)
def test_gpu_kernels_match_reference(shape: tuple[int, int], dtype: type) -> None:
    N, H = shape
    d = _inputs(N, H, dtype, seed=7 + N)
    got = _run("gpu", d)
    # NOTE: the kernel calls math.exp/tanh where the reference calls NumPy's: 1-ulp apart.
    tol = dict(rtol=1e-13, atol=1e-15) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    want = _run("reference", d)
    for key in want:
        assert got[key].dtype == np.dtype(dtype), key
        np.testing.assert_allclose(got[key], want[key], err_msg=key, **tol)


@needs_cuda
def test_entry_points_send_cuda_arrays_to_the_gpu_kernels(monkeypatch) -> None:
    if not numba.config.ENABLE_CUDASIM:
        pytest.skip("fakes a CUDA array with NumPy memory: simulator only")
    from minicnn.kernels import recurrent_cuda as K

    calls = []
    for name in ("lstm_cell_forward_gpu", "lstm_cell_backward_gpu"):
        real = getattr(K, name)
        monkeypatch.setattr(K, name,
                            lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    d = _inputs(2, 3, np.float64, seed=8)
    got = _entry({k: v.view(_CudaLike) for k, v in d.items()})
    assert calls == ["lstm_cell_forward_gpu", "lstm_cell_backward_gpu"]
    want = _run("reference", d)
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), want[key], rtol=1e-13, atol=1e-15,
                                   err_msg=key)
