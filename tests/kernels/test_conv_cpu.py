"""The chunked CPU convolution (minicnn.kernels.conv) against the unchunked im2col reference,
for every chunk layout, and its independence of the thread count."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn.kernels import conv
from minicnn.kernels.im2col import col2im_reference, conv_output_size, im2col_reference

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def reference(x: np.ndarray, W: np.ndarray, b: np.ndarray, gy_seed: int, stride: tuple,
              padding: tuple, dilation: tuple) -> tuple[np.ndarray, ...]:
    """(y, gy, gx, gW) by one whole-batch im2col and matrix products."""
    N, C, H, IW = x.shape
    OC, _, KH, KW = W.shape
    col = im2col_reference(x, KH, KW, *stride, *padding, *dilation)
    OH, OW = col.shape[-2:]
    col = col.reshape(N, C * KH * KW, OH * OW)  # (N, C*KH*KW, OH*OW)
    W_mat = W.reshape(OC, -1)
    y = (W_mat @ col).reshape(N, OC, OH, OW) + b.reshape(1, OC, 1, 1)
    gy = np.random.default_rng(gy_seed).standard_normal(y.shape)
    gy_mat = gy.reshape(N, OC, OH * OW)
    gW = np.einsum("nop,nkp->ok", gy_mat, col).reshape(W.shape)
    gcol = (W_mat.T @ gy_mat).reshape(N, C, KH, KW, OH, OW)
    gx = col2im_reference(gcol, H, IW, *stride, *padding, *dilation)
    return y, gy, gx, gW


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    N, C, OC = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.sampled_from([(1, 1), (2, 1), (1, 2), (2, 3)]))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(conv_output_size(H, KH, stride[0], padding[0], dilation[0]) >= 1)
    assume(conv_output_size(W, KW, stride[1], padding[1], dilation[1]) >= 1)
    chunk_bytes = draw(st.sampled_from([1, 2048, 1 << 21]))  # row blocks .. whole batch
    return (N, C, H, W), (OC, C, KH, KW), stride, padding, dilation, chunk_bytes, \
        draw(st.integers(0, 2**32 - 1))


@SETTINGS
@given(cases())
def test_matches_reference(monkeypatch: pytest.MonkeyPatch, case: tuple) -> None:
    x_shape, w_shape, stride, padding, dilation, chunk_bytes, seed = case
    monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), \
        rng.standard_normal(w_shape[0])
    y_ref, gy, gx_ref, gW_ref = reference(x, W, b, seed, stride, padding, dilation)
    y = conv.conv2d_forward(x, W, b, stride, padding, dilation)
    gx, gW = conv.conv2d_backward(x, W, gy, stride, padding, dilation)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gW, gW_ref, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("need_x, need_W", [(True, False), (False, True)])
def test_only_the_gradients_asked_for(need_x: bool, need_W: bool) -> None:
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 4, 6, 5))
    gx_all, gW_all = conv.conv2d_backward(x, W, gy, (1, 1), (1, 1), (1, 1))
    gx, gW = conv.conv2d_backward(x if need_W else None, W if need_x else None, gy, (1, 1),
                                  (1, 1), (1, 1), need_x=need_x, need_W=need_W,
                                  x_shape=x.shape, w_shape=W.shape)
    assert (gx is None) != need_x and (gW is None) != need_W
    if need_x:
        np.testing.assert_array_equal(gx, gx_all)
    else:
        np.testing.assert_array_equal(gW, gW_all)


@pytest.mark.parametrize("chunk_bytes", [4096, 1 << 21])
def test_same_bits_for_any_thread_count(monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
                                        ) -> None:
    """Chunks and tasks depend on the shapes only, so 1 or 3 threads give identical bits."""
    monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4, 17, 13)).astype(np.float32)
    W = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    gy = rng.standard_normal((5, 6, 17, 13)).astype(np.float32)
    before = minicnn.get_num_threads()
    results = []
    try:
        for n in (1, 3):
            minicnn.set_num_threads(n)
            results.append((conv.conv2d_forward(x, W, b, (1, 1), (1, 1), (1, 1)),
                            *conv.conv2d_backward(x, W, gy, (1, 1), (1, 1), (1, 1))))
    finally:
        minicnn.set_num_threads(before)
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)


def test_plan_covers_every_row_once() -> None:
    cases = [(7, 5, 9, 10, 1), (7, 5, 9, 10, 2000), (3, 30, 31, 4, 1 << 30)]
    for N, OH, RW, per_col, chunk in cases:
        tasks = conv.plan(N, OH, RW, per_col, 4, chunk)
        rows = [r for task in tasks for r0, r1 in task for r in range(r0, r1)]
        assert rows == list(range(N * OH))
        for task in tasks:  # a task holds whole samples
            assert task[0][0] % OH == 0 and task[-1][1] % OH == 0
