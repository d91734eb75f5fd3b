"""numba.cuda kernels (``conv_cuda``, ``pooling_cuda``) against the references, element for
element, and the entry points that send CUDA arrays to them.

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
from minicnn.kernels import conv, conv_cuda, pooling, pooling_cuda, use
from minicnn.kernels.conv import col2im_reference, im2col_reference
from minicnn.kernels.geometry import conv_output_size
from minicnn.kernels.pooling import maxpool2d_backward_reference, maxpool2d_forward_reference

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
def test_im2col_gpu_equals_reference(x_shape, params) -> None:
    x = np.random.default_rng(0).standard_normal(x_shape)
    col = _to_host(conv_cuda.im2col(_to_device(x), *params))
    np.testing.assert_array_equal(col, im2col_reference(x, *params))


@pytest.mark.parametrize("x_shape, params", CONV_CASES, ids=_ids(CONV_CASES))
def test_col2im_gpu_equals_reference(x_shape, params) -> None:
    N, C, H, W = x_shape
    KH, KW, SH, SW, PH, PW, DH, DW = params
    OH, OW = conv_output_size(H, KH, SH, PH, DH), conv_output_size(W, KW, SW, PW, DW)
    col = np.random.default_rng(1).standard_normal((N, C, KH, KW, OH, OW))
    gx = _to_host(conv_cuda.col2im(_to_device(col), H, W, *params[2:]))
    # NOTE: exact, not close: the gather sums the taps in the reference's (kh, kw) order.
    np.testing.assert_array_equal(gx, col2im_reference(col, H, W, *params[2:]))


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("x_shape, params", POOL_CASES, ids=_ids(POOL_CASES))
def test_maxpool_gpu_equals_reference(x_shape, params, ties: bool) -> None:
    """Forward values and argmax, then the backward gather, against the references."""
    rng = np.random.default_rng(2)
    if ties:  # few distinct values: windows hold equal maxima, and maxima are shared
        x = rng.integers(-1, 2, size=x_shape).astype(np.float64)
    else:
        x = rng.standard_normal(x_shape)
    y, argmax = pooling_cuda.maxpool2d_forward(_to_device(x), *params)
    y_ref, argmax_ref = maxpool2d_forward_reference(x, *params)
    np.testing.assert_array_equal(_to_host(y), y_ref)
    np.testing.assert_array_equal(_to_host(argmax), argmax_ref)
    assert argmax.dtype == np.int64
    gy = rng.standard_normal(y_ref.shape)
    H, W = x_shape[2:]
    gx = _to_host(pooling_cuda.maxpool2d_backward(_to_device(gy), argmax, H, W, *params))
    # NOTE: close, not equal: the order of the reference's bincount sums is not specified;
    # the Numba kernel adds in the gather's (oh, ow) order: equal.
    np.testing.assert_allclose(gx, maxpool2d_backward_reference(gy, argmax_ref, H, W),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(gx, pooling.maxpool2d_backward_numba(gy, argmax_ref, H, W))


def test_maxpool_gpu_nan_and_all_negative_padding() -> None:
    x = -np.random.default_rng(3).uniform(1.0, 2.0, size=(1, 1, 4, 5))
    x[0, 0, 1, 1] = x[0, 0, 2, 3] = x[0, 0, 3, 3] = np.nan
    params = (3, 3, 2, 2, 1, 1)
    y, argmax = pooling_cuda.maxpool2d_forward(_to_device(x), *params)
    y_ref, argmax_ref = maxpool2d_forward_reference(x, *params)
    np.testing.assert_array_equal(_to_host(y), y_ref)
    np.testing.assert_array_equal(_to_host(argmax), argmax_ref)


def test_float32() -> None:
    """float32 stays float32 and still matches the references (im2col/col2im exactly)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 6, 5)).astype(np.float32)
    params = (3, 3, 2, 1, 1, 1, 1, 1)
    col = conv_cuda.im2col(_to_device(x), *params)
    assert col.dtype == np.float32
    np.testing.assert_array_equal(_to_host(col), im2col_reference(x, *params))
    g = rng.standard_normal(col.shape).astype(np.float32)
    gx = conv_cuda.col2im(_to_device(g), 6, 5, *params[2:])
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(_to_host(gx), col2im_reference(g, 6, 5, *params[2:]))

    pool = (3, 2, 2, 1, 1, 1)
    y, argmax = pooling_cuda.maxpool2d_forward(_to_device(x), *pool)
    y_ref, argmax_ref = maxpool2d_forward_reference(x, *pool)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(_to_host(y), y_ref)
    np.testing.assert_array_equal(_to_host(argmax), argmax_ref)
    gy = rng.standard_normal(y_ref.shape).astype(np.float32)
    gx = pooling_cuda.maxpool2d_backward(_to_device(gy), argmax, 6, 5, *pool)
    assert gx.dtype == np.float32
    np.testing.assert_allclose(_to_host(gx), maxpool2d_backward_reference(gy, argmax_ref, 6, 5),
                               rtol=1e-6, atol=1e-6)


class _CudaLike(np.ndarray):
    """A NumPy array that claims a CUDA array interface, to exercise the dispatchers."""

    @property
    def __cuda_array_interface__(self) -> dict:
        return self.__array_interface__


@pytest.mark.parametrize("mode, expected", [("fast", "cuda"), ("reference", "reference")])
def test_entry_points_send_cuda_arrays_to_the_gpu_kernels(monkeypatch, mode: str,
                                                          expected: str) -> None:
    calls = []
    for module, name, tag in ((conv_cuda, "im2col", "cuda"), (conv_cuda, "col2im", "cuda"),
                              (pooling_cuda, "maxpool2d_forward", "cuda"),
                              (pooling_cuda, "maxpool2d_backward", "cuda"),
                              (conv, "im2col_reference", "reference"),
                              (conv, "col2im_reference", "reference"),
                              (pooling, "maxpool2d_forward_reference", "reference"),
                              (pooling, "maxpool2d_backward_reference", "reference")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _real=real, _tag=tag: calls.append(_tag) or _real(*a))
    x = np.random.default_rng(5).standard_normal((1, 2, 5, 4))
    xd = x.view(_CudaLike)
    with use(mode):
        col = conv.im2col(xd, 3, 3, 1, 1, 1, 1)
        gx = conv.col2im(np.asarray(col).view(_CudaLike), 5, 4, 1, 1, 1, 1)
        y, argmax = pooling.maxpool2d_forward(xd, 2, 2, 2, 2, 0, 0)
        pooling.maxpool2d_backward(np.ones(y.shape).view(_CudaLike), argmax, 5, 4, 2, 2, 2, 2,
                                   0, 0)
    assert calls == [expected] * 4
    np.testing.assert_array_equal(col, im2col_reference(x, 3, 3, 1, 1, 1, 1))
    np.testing.assert_array_equal(gx, col2im_reference(np.asarray(col), 5, 4, 1, 1, 1, 1))


def test_conv2d_on_cuda_arrays_uses_the_gpu_im2col(monkeypatch) -> None:
    """The GPU convolution is the reference's GEMMs around the CUDA im2col / col2im."""
    calls = []
    for name in ("im2col", "col2im"):
        real = getattr(conv_cuda, name)
        monkeypatch.setattr(conv_cuda, name,
                            lambda *a, _real=real, _n=name: calls.append(_n) or _real(*a))
    rng = np.random.default_rng(6)
    x, W = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 3))
    gy = rng.standard_normal((2, 3, 5, 4))
    geometry = ((1, 1), (1, 1), (1, 1))
    with use("fast"):
        y = conv.conv2d_forward(x.view(_CudaLike), W, None, *geometry)
        gx, gW, gb = conv.conv2d_backward(x.view(_CudaLike), W, gy.view(_CudaLike), *geometry,
                                          x.shape, W.shape, True)
    assert calls == ["im2col", "col2im", "im2col"]
    np.testing.assert_allclose(y, conv.conv2d_forward_reference(x, W, None, *geometry),
                               rtol=1e-12)
    gx_ref, gW_ref, gb_ref = conv.conv2d_backward_reference(x, W, gy, *geometry, x.shape,
                                                            W.shape, need_b=True)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gW, gW_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, gb_ref, rtol=1e-12, atol=1e-12)
