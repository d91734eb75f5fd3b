"""numba.cuda kernels against the Numba CPU kernels, element for element.

Runs on Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set by tests/conftest.py), where
every CUDA thread is a Python thread: the cases stay under ~500 output elements each.
With ``MINICNN_REAL_CUDA=1`` on a GPU machine with CuPy the same tests run on CuPy arrays.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from numba import cuda as numba_cuda

from minicnn import backend
from minicnn.kernels import cuda as kcuda
from minicnn.kernels.im2col import col2im_cpu, conv_output_size, im2col_cpu
from minicnn.kernels.pooling import maxpool2d_backward_cpu, maxpool2d_forward_cpu

pytestmark = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="no CUDA GPU and no CUDA simulator")

if numba.config.ENABLE_CUDASIM:  # the simulator runs kernels on NumPy arrays
    _to_device, _to_host = np.asarray, np.asarray
else:  # real GPU: CuPy arrays through the CUDA array interface
    cupy = pytest.importorskip("cupy")
    backend.cuda_available()  # registers CuPy, so get_array_module(x) is cupy for its arrays
    _to_device, _to_host = cupy.asarray, cupy.asnumpy

# (x shape (N, C, H, W), (KH, KW, SH, SW, PH, PW, DH, DW)); col and image sizes < 500.
CONV_CASES = [
    ((1, 2, 5, 4), (3, 3, 1, 1, 1, 1, 1, 1)),  # "same" padding, non-square
    ((2, 1, 7, 6), (3, 2, 2, 3, 1, 0, 1, 1)),  # stride per axis, odd sizes
    ((1, 1, 7, 7), (3, 3, 1, 2, 1, 1, 2, 2)),  # dilation
    ((1, 2, 5, 5), (3, 3, 2, 2, 1, 1, 1, 1)),  # kernel larger than stride: overlaps
    ((1, 1, 9, 5), (5, 1, 3, 1, 2, 0, 2, 1)),  # tall kernel, dilation and padding in H only
    ((1, 2, 6, 7), (2, 3, 1, 2, 1, 1, 1, 2)),  # dilation in W only, even KH, KH != KW
    ((2, 1, 3, 3), (1, 1, 2, 2, 0, 0, 1, 1)),  # 1x1 kernel, stride skips pixels
    # N > 1 and C > 1 together: a wrong (n, c) decoding of the flat thread index shows only
    # here (checked: n = t // (C * C) passed every case above)
    ((2, 3, 5, 4), (3, 3, 2, 2, 1, 1, 1, 1)),
]

# (x shape, (KH, KW, SH, SW, PH, PW)); y and image sizes < 500.
POOL_CASES = [
    ((1, 2, 6, 6), (2, 2, 2, 2, 0, 0)),  # the classic, no overlap
    ((1, 2, 7, 7), (3, 3, 2, 2, 0, 0)),  # overlapping windows
    ((2, 1, 7, 5), (3, 3, 2, 1, 1, 1)),  # padding, per-axis stride, odd sizes
    ((1, 1, 9, 8), (4, 3, 3, 2, 2, 1)),  # even kernel, padding, kernel > stride
    ((1, 3, 5, 5), (1, 1, 2, 2, 0, 0)),  # 1x1 kernel, stride skips pixels
    ((2, 3, 5, 5), (3, 3, 2, 2, 1, 1)),  # N > 1 and C > 1 together (see CONV_CASES)
]


def _ids(cases: list) -> list[str]:
    return [f"{shape}-{params}" for shape, params in cases]


@pytest.mark.parametrize("x_shape, params", CONV_CASES, ids=_ids(CONV_CASES))
def test_im2col_gpu_equals_cpu(x_shape, params) -> None:
    x = np.random.default_rng(0).standard_normal(x_shape)
    col = _to_host(kcuda.im2col_gpu(_to_device(x), *params))
    np.testing.assert_array_equal(col, im2col_cpu(x, *params))


@pytest.mark.parametrize("x_shape, params", CONV_CASES, ids=_ids(CONV_CASES))
def test_col2im_gpu_equals_cpu(x_shape, params) -> None:
    N, C, H, W = x_shape
    KH, KW, SH, SW, PH, PW, DH, DW = params
    OH, OW = conv_output_size(H, KH, SH, PH, DH), conv_output_size(W, KW, SW, PW, DW)
    col = np.random.default_rng(1).standard_normal((N, C, KH, KW, OH, OW))
    gx = _to_host(kcuda.col2im_gpu(_to_device(col), H, W, *params[2:]))
    # NOTE: exact, not close: the gather sums the taps in the CPU kernel's order.
    np.testing.assert_array_equal(gx, col2im_cpu(col, H, W, *params[2:]))


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("x_shape, params", POOL_CASES, ids=_ids(POOL_CASES))
def test_maxpool_gpu_equals_cpu(x_shape, params, ties: bool) -> None:
    """Forward values and argmax, then the backward gather, against the CPU kernels."""
    rng = np.random.default_rng(2)
    if ties:  # few distinct values: windows hold equal maxima, and maxima are shared
        x = rng.integers(-1, 2, size=x_shape).astype(np.float64)
    else:
        x = rng.standard_normal(x_shape)
    y, argmax = kcuda.maxpool2d_forward_gpu(_to_device(x), *params)
    y_cpu, argmax_cpu = maxpool2d_forward_cpu(x, *params)
    np.testing.assert_array_equal(_to_host(y), y_cpu)
    np.testing.assert_array_equal(_to_host(argmax), argmax_cpu)
    assert argmax.dtype == np.int64
    gy = rng.standard_normal(y_cpu.shape)
    H, W = x_shape[2:]
    gx = _to_host(kcuda.maxpool2d_backward_gpu(_to_device(gy), argmax, H, W, *params))
    np.testing.assert_array_equal(gx, maxpool2d_backward_cpu(gy, argmax_cpu, H, W))


def test_maxpool_gpu_nan_and_all_negative_padding() -> None:
    x = -np.random.default_rng(3).uniform(1.0, 2.0, size=(1, 1, 4, 5))
    x[0, 0, 1, 1] = x[0, 0, 2, 3] = x[0, 0, 3, 3] = np.nan
    params = (3, 3, 2, 2, 1, 1)
    y, argmax = kcuda.maxpool2d_forward_gpu(_to_device(x), *params)
    y_cpu, argmax_cpu = maxpool2d_forward_cpu(x, *params)
    np.testing.assert_array_equal(_to_host(y), y_cpu)
    np.testing.assert_array_equal(_to_host(argmax), argmax_cpu)


def test_float32() -> None:
    """float32 stays float32 and still matches the CPU kernels exactly (same sum order)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 6, 5)).astype(np.float32)
    params = (3, 3, 2, 1, 1, 1, 1, 1)
    col = kcuda.im2col_gpu(_to_device(x), *params)
    assert col.dtype == np.float32
    np.testing.assert_array_equal(_to_host(col), im2col_cpu(x, *params))
    g = rng.standard_normal(col.shape).astype(np.float32)
    gx = kcuda.col2im_gpu(_to_device(g), 6, 5, *params[2:])
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(_to_host(gx), col2im_cpu(g, 6, 5, *params[2:]))

    pool = (3, 2, 2, 1, 1, 1)
    y, argmax = kcuda.maxpool2d_forward_gpu(_to_device(x), *pool)
    y_cpu, argmax_cpu = maxpool2d_forward_cpu(x, *pool)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(_to_host(y), y_cpu)
    np.testing.assert_array_equal(_to_host(argmax), argmax_cpu)
    gy = rng.standard_normal(y_cpu.shape).astype(np.float32)
    gx = kcuda.maxpool2d_backward_gpu(_to_device(gy), argmax, 6, 5, *pool)
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(_to_host(gx), maxpool2d_backward_cpu(gy, argmax_cpu, 6, 5))


class _CudaLike(np.ndarray):
    """A NumPy array that claims a CUDA array interface, to exercise the dispatchers."""

    @property
    def __cuda_array_interface__(self) -> dict:
        return self.__array_interface__


def test_dispatchers_send_cuda_arrays_to_the_gpu_kernels(monkeypatch) -> None:
    from minicnn.kernels import im2col as kim2col
    from minicnn.kernels import pooling as kpooling

    calls = []
    for name in ("im2col_gpu", "col2im_gpu", "maxpool2d_forward_gpu", "maxpool2d_backward_gpu"):
        real = getattr(kcuda, name)
        monkeypatch.setattr(kcuda, name,
                            lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    x = np.random.default_rng(5).standard_normal((1, 2, 5, 4))
    xd = x.view(_CudaLike)
    col = kim2col.im2col(xd, 3, 3, 1, 1, 1, 1)
    np.testing.assert_array_equal(col, im2col_cpu(x, 3, 3, 1, 1, 1, 1))
    gx = kim2col.col2im(np.asarray(col).view(_CudaLike), 5, 4, 1, 1, 1, 1)
    np.testing.assert_array_equal(gx, col2im_cpu(np.asarray(col), 5, 4, 1, 1, 1, 1))
    y, argmax = kpooling.maxpool2d_forward(xd, 2, 2, 2, 2, 0, 0)
    gy = np.ones(y.shape).view(_CudaLike)
    kpooling.maxpool2d_backward(gy, argmax, 5, 4, 2, 2, 2, 2, 0, 0)
    assert calls == ["im2col_gpu", "col2im_gpu", "maxpool2d_forward_gpu",
                     "maxpool2d_backward_gpu"]
