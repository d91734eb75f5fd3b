"""Pooling kernels (``kernels.pooling``): max pooling's Numba kernels against the xp reference
(tasks shrunk so that task edges and odd remainders are crossed; the branch-free 2x2 path with
ties and NaN), both against PyTorch; average pooling in both modes against PyTorch."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from minicnn.kernels import pooling, use
from minicnn.kernels.geometry import conv_output_size
from minicnn.kernels.pooling import (
    maxpool2d_backward,
    maxpool2d_backward_numba,
    maxpool2d_backward_reference,
    maxpool2d_forward,
    maxpool2d_forward_numba,
    maxpool2d_forward_reference,
)

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pool_cases(draw: st.DrawFn) -> tuple[tuple[int, int, int, int], tuple[int, ...], int]:
    """``(x shape, (KH, KW, SH, SW, PH, PW), seed)`` with an output of at least 1x1."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    if draw(st.booleans()):  # the common 2x2 window, which has its own branch-free path
        params = (2, 2, 2, 2, 0, 0)
    else:
        KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        params = (KH, KW, SH, SW, draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2)))
    KH, KW, SH, SW, PH, PW = params
    assume(conv_output_size(H, KH, SH, PH) >= 1 and conv_output_size(W, KW, SW, PW) >= 1)
    return (N, C, H, W), params, draw(st.integers(0, 2**32 - 1))


@contextmanager
def planes_per_task(planes: int, H: int, W: int) -> Iterator[None]:
    """The Numba kernels' tasks shrunk to ``planes`` (N, C) planes (0: the default)."""
    with pytest.MonkeyPatch.context() as mp:
        if planes:
            mp.setattr(pooling, "TASK_ELEMENTS", planes * H * W)
        yield


# tasks of 1 plane, of 2 (an odd N*C leaves a remainder of 1), or the default
TASK_PLANES = st.sampled_from([1, 2, 0])


def _draw_x(shape: tuple[int, ...], seed: int, ties: bool) -> np.ndarray:
    """Gaussian values, or (``ties``) small integers so that windows hold equal maxima, a few
    of them NaN or infinite (planes with a NaN leave the 2x2 path for the general rule)."""
    rng = np.random.default_rng(seed)
    if not ties:
        return rng.standard_normal(shape)
    x = rng.integers(-2, 3, size=shape).astype(np.float64)
    special = rng.random(shape)
    x[special < 0.03] = np.nan
    x[(special >= 0.03) & (special < 0.05)] = -np.inf
    x[(special >= 0.05) & (special < 0.06)] = np.inf
    return x


def _torch_pool(x: np.ndarray, gy: np.ndarray, params: tuple[int, ...]):
    """torch's ``(y, indices, gx)`` for max_pool2d of ``x`` with upstream gradient ``gy``."""
    KH, KW, SH, SW, PH, PW = params
    xt = torch.from_numpy(x).requires_grad_(True)
    yt, it = F.max_pool2d(xt, (KH, KW), (SH, SW), (PH, PW), return_indices=True)
    yt.backward(torch.from_numpy(gy))
    return yt.detach().numpy(), it.numpy(), xt.grad.numpy()


def _ours(x: np.ndarray, gy: np.ndarray, params: tuple[int, ...]):
    y, argmax = maxpool2d_forward(x, *params)
    return y, argmax, maxpool2d_backward(gy, argmax, *x.shape[2:], *params)



@SETTINGS
@given(pool_cases(), st.booleans(), TASK_PLANES)
def test_forward_numba_equals_reference(case, ties: bool, planes: int) -> None:
    x_shape, params, seed = case
    x = _draw_x(x_shape, seed, ties)
    with planes_per_task(planes, *x_shape[2:]):
        y, argmax = maxpool2d_forward_numba(x, *params)
    y_ref, argmax_ref = maxpool2d_forward_reference(x, *params)
    assert argmax.dtype == np.int64 and y.dtype == x.dtype
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)


@SETTINGS
@given(pool_cases(), st.booleans(), TASK_PLANES)
def test_backward_numba_equals_reference(case, ties: bool, planes: int) -> None:
    x_shape, params, seed = case
    x = _draw_x(x_shape, seed, ties)
    _, argmax = maxpool2d_forward_reference(x, *params)
    gy = np.random.default_rng(seed + 1).standard_normal(argmax.shape)
    H, W = x_shape[2:]
    with planes_per_task(planes, H, W):
        gx = maxpool2d_backward_numba(gy, argmax, H, W)
    assert gx.shape == x_shape and gx.dtype == gy.dtype
    # NOTE: close, not equal: the order of bincount's sums is not specified.
    np.testing.assert_allclose(gx, maxpool2d_backward_reference(gy, argmax, H, W),
                               rtol=1e-12, atol=1e-12)


@SETTINGS
@given(pool_cases(), st.booleans(), st.sampled_from(["fast", "reference"]))
def test_matches_torch(case, ties: bool, mode: str) -> None:
    """Values, indices (flat h*W + w, unpadded) and the gradient, with and without ties
    (and NaN, infinities), through the entry points in both modes."""
    x_shape, params, seed = case
    x = _draw_x(x_shape, seed, ties)
    with use(mode):
        y, argmax = maxpool2d_forward(x, *params)
        gy = np.random.default_rng(seed + 1).standard_normal(y.shape)
        gx = maxpool2d_backward(gy, argmax, *x_shape[2:], *params)
    y_t, i_t, gx_t = _torch_pool(x, gy, params)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(argmax, i_t)
    np.testing.assert_allclose(gx, gx_t, rtol=1e-12, atol=1e-12)


def test_tie_first_in_row_major_order_wins() -> None:
    """NOTE: a window of equal values sends the whole gradient to its first element."""
    x = np.full((1, 1, 4, 4), 2.0)
    gy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    params = (2, 2, 2, 2, 0, 0)
    y, argmax, gx = _ours(x, gy, params)
    y_t, i_t, gx_t = _torch_pool(x, gy, params)
    np.testing.assert_array_equal(argmax, [[[[0, 2], [8, 10]]]])
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, ::2, ::2] = gy[0, 0]
    np.testing.assert_array_equal(gx, expected)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(argmax, i_t)
    np.testing.assert_array_equal(gx, gx_t)


def test_tie_later_row_does_not_win() -> None:
    """Two equal maxima in different rows of a window: the upper one (first) wins."""
    x = np.array([[[[0.0, 5.0], [5.0, 1.0]]]])
    _, argmax, gx = _ours(x, np.ones((1, 1, 1, 1)), (2, 2, 1, 1, 0, 0))
    assert argmax[0, 0, 0, 0] == 1
    np.testing.assert_array_equal(gx, [[[[0.0, 1.0], [0.0, 0.0]]]])
    np.testing.assert_array_equal(argmax, _torch_pool(x, np.ones((1, 1, 1, 1)),
                                                      (2, 2, 1, 1, 0, 0))[1])


def test_overlapping_windows_route_and_sum() -> None:
    """Kernel 3, stride 2: a maximum shared by overlapping windows collects all their gy."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 9.0  # the centre pixel lies in all four 3x3 windows
    gy = np.array([[[[1.0, 2.0], [4.0, 8.0]]]])
    params = (3, 3, 2, 2, 0, 0)
    y, argmax, gx = _ours(x, gy, params)
    np.testing.assert_array_equal(argmax, np.full((1, 1, 2, 2), 12))
    expected = np.zeros((1, 1, 5, 5))
    expected[0, 0, 2, 2] = 15.0
    np.testing.assert_array_equal(gx, expected)
    y_t, i_t, gx_t = _torch_pool(x, gy, params)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(argmax, i_t)
    np.testing.assert_array_equal(gx, gx_t)


@pytest.mark.parametrize("fill", ["negative", "-inf"])
def test_padding_never_wins(fill: str) -> None:
    """Padding 1 on all-negative inputs (padding acts as -inf, not 0); all--inf windows."""
    rng = np.random.default_rng(3)
    x = -rng.uniform(1.0, 2.0, size=(2, 3, 5, 6))
    if fill == "-inf":
        x[:] = -np.inf
    params = (3, 3, 2, 2, 1, 1)
    gy = rng.standard_normal((2, 3, 3, 3))
    y, argmax, gx = _ours(x, gy, params)
    assert (argmax >= 0).all() and (argmax < 5 * 6).all()
    if fill == "negative":
        assert (y < 0).all()
    y_t, i_t, gx_t = _torch_pool(x, gy, params)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(argmax, i_t)
    np.testing.assert_allclose(gx, gx_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(maxpool2d_forward_reference(x, *params)[1], argmax)


def test_nan_propagates_like_torch() -> None:
    """NOTE: a NaN in a window is selected (the last NaN, as PyTorch's CPU kernel)."""
    x = np.array([[[[1.0, np.nan, 2.0, np.nan], [0.0, 3.0, 4.0, 5.0]]]])
    params = (2, 2, 2, 2, 0, 0)
    y, argmax, _ = _ours(x, np.ones((1, 1, 1, 2)), params)
    y_t, i_t, _ = _torch_pool(x, np.ones((1, 1, 1, 2)), params)
    np.testing.assert_array_equal(y, y_t)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(argmax, i_t)
    np.testing.assert_array_equal(maxpool2d_forward_reference(x, *params)[1], i_t)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_float32(mode: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    params = (3, 2, 2, 1, 1, 1)
    with use(mode):
        y, argmax = maxpool2d_forward(x, *params)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        gx = maxpool2d_backward(gy, argmax, 9, 8, *params)
    assert y.dtype == np.float32 and gx.dtype == np.float32
    y_ref, argmax_ref = maxpool2d_forward_reference(x, *params)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    y_t, i_t, gx_t = _torch_pool(x, gy, params)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(argmax, i_t)
    np.testing.assert_allclose(gx, gx_t, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_errors(mode: str) -> None:
    x = np.zeros((1, 1, 6, 6))
    with use(mode):
        with pytest.raises(ValueError, match="at most half"):
            maxpool2d_forward(x, 2, 2, 2, 2, 2, 0)
        with pytest.raises(ValueError, match="output size"):
            maxpool2d_forward(np.zeros((1, 1, 3, 3)), 5, 5, 1, 1, 0, 0)
        with pytest.raises(ValueError, match="differs"):
            maxpool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), np.int64), 4, 4,
                               2, 2, 2, 2, 0, 0)
        with pytest.raises(ValueError, match="does not come from"):
            maxpool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 6, 6,
                               2, 2, 2, 2, 0, 0)


@pytest.mark.parametrize("mode, expected", [("fast", "numba"), ("reference", "reference")])
def test_entry_points_pick_the_implementation(monkeypatch: pytest.MonkeyPatch, mode: str,
                                              expected: str) -> None:
    calls = []
    for name, tag in (("maxpool2d_forward_numba", "numba"),
                      ("maxpool2d_backward_numba", "numba"),
                      ("maxpool2d_forward_reference", "reference"),
                      ("maxpool2d_backward_reference", "reference")):
        real = getattr(pooling, name)
        monkeypatch.setattr(pooling, name,
                            lambda *a, _real=real, _tag=tag: calls.append(_tag) or _real(*a))
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 6))
    with use(mode):
        y, argmax = maxpool2d_forward(x, 2, 2, 2, 2, 0, 0)
        maxpool2d_backward(np.ones_like(y), argmax, 6, 6, 2, 2, 2, 2, 0, 0)
    assert calls == [expected, expected]


@pytest.mark.parametrize("mode", ["fast", "reference"])
@pytest.mark.parametrize("params", [(2, 2, 2, 2, 0, 0), (3, 3, 2, 2, 1, 1), (3, 2, 1, 2, 1, 0)])
def test_avgpool_matches_torch(mode: str, params: tuple[int, ...]) -> None:
    """Average pooling (padding counted, as torch's default) and its gradient."""
    KH, KW, SH, SW, PH, PW = params
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 7, 6))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = F.avg_pool2d(xt, (KH, KW), (SH, SW), (PH, PW))
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(gy))
    with use(mode):
        y = pooling.avgpool2d_forward(x, *params)
        gx = pooling.avgpool2d_backward(gy, 7, 6, *params)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
