"""Convolution kernels (``kernels.conv``): the chunked Numba path against the im2col reference
for every chunk layout (single-row chunks, row blocks with an odd remainder, whole samples,
several samples per chunk), stride 1 ("wide" rows) and strided; the reference against torch;
the independence of the thread count."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn.kernels import conv, conv_cpu, use
from minicnn.kernels.geometry import conv_output_size, output_hw

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# rows per chunk, as a multiple of OH when "samples": 1 row, 2 rows (an odd OH leaves a
# remainder), 3 rows, one sample, two samples (an odd N leaves a remainder), the default.
CHUNKS = [("rows", 1), ("rows", 2), ("rows", 3), ("samples", 1), ("samples", 2), ("default", 0)]


@contextmanager
def chunked(x_shape: tuple, w_shape: tuple, stride: tuple, padding: tuple, dilation: tuple,
            chunk: tuple[str, int]) -> Iterator[None]:
    """``conv_cpu.CHUNK_BYTES`` (and ``MIN_TASKS``) set so that a chunk holds exactly the
    rows ``chunk`` asks for (the layout of ``conv_cpu.plan``)."""
    kind, k = chunk
    with pytest.MonkeyPatch.context() as mp:
        if kind != "default":
            N, C, H, W = x_shape
            OC, _, KH, KW = w_shape
            OH, _ = output_hw(H, W, KH, KW, *stride, *padding, *dilation)
            RW = W + 2 * padding[1] if stride == (1, 1) else conv_output_size(
                W, KW, stride[1], padding[1], dilation[1])
            rows = k if kind == "rows" else k * OH
            mp.setattr(conv_cpu, "CHUNK_BYTES", rows * (C * KH * KW + OC) * RW * 8)
            mp.setattr(conv_cpu, "MIN_TASKS", 1)
        yield


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    N, C, OC = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 2), (2, 3)]))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(conv_output_size(H, KH, stride[0], padding[0], dilation[0]) >= 1)
    assume(conv_output_size(W, KW, stride[1], padding[1], dilation[1]) >= 1)
    return (N, C, H, W), (OC, C, KH, KW), stride, padding, dilation, \
        draw(st.sampled_from(CHUNKS)), draw(st.integers(0, 2**32 - 1))


@SETTINGS
@given(cases())
def test_numba_matches_reference(case: tuple) -> None:
    x_shape, w_shape, stride, padding, dilation, chunk, seed = case
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    geometry = (stride, padding, dilation)
    y_ref = conv.conv2d_forward_reference(x, W, b, *geometry)
    gy = rng.standard_normal(y_ref.shape)
    gx_ref, gW_ref, gb_ref = conv.conv2d_backward_reference(x, W, gy, *geometry, x.shape,
                                                            W.shape, need_b=True)
    with chunked(x_shape, w_shape, *geometry, chunk):
        y = conv_cpu.conv2d_forward(x, W, b, *geometry)
        gx, gW, gb = conv_cpu.conv2d_backward(x, W, gy, *geometry, x.shape, W.shape, True)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gW, gW_ref, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(gb, gb_ref, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("chunk", CHUNKS, ids=[f"{k}-{n}" for k, n in CHUNKS])
@pytest.mark.parametrize("stride, dilation", [((1, 1), (1, 1)), ((1, 1), (2, 1)),
                                              ((2, 1), (1, 1)), ((2, 3), (1, 2))],
                         ids=["wide", "wide-dilated", "rows", "rows-dilated"])
@pytest.mark.parametrize("padding", [(1, 1), (0, 0)], ids=["padded", "unpadded"])
def test_every_chunk_layout(monkeypatch: pytest.MonkeyPatch, chunk: tuple, stride: tuple,
                            dilation: tuple, padding: tuple) -> None:
    """Each layout at each chunking, on a batch of 5 samples of odd heights; without padding
    (and slack) the kernels read and write the samples in place. Every buffer the kernels
    take from ``minicnn.memory`` starts full of NaN, so a value read before it is written
    (padding, slack, junk columns: ``0 * NaN`` is NaN) shows."""
    def poisoned(shape, dtype=np.float32):
        return np.full(shape, np.nan, dtype)

    monkeypatch.setattr(conv_cpu.memory, "empty", poisoned)
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((5, 3, 13, 9)), rng.standard_normal((4, 3, 3, 2)), \
        rng.standard_normal(4)
    geometry = (stride, padding, dilation)
    y_ref = conv.conv2d_forward_reference(x, W, b, *geometry)
    gy = rng.standard_normal(y_ref.shape)
    gx_ref, gW_ref, gb_ref = conv.conv2d_backward_reference(x, W, gy, *geometry, x.shape,
                                                            W.shape, need_b=True)
    with chunked(x.shape, W.shape, *geometry, chunk):
        y = conv_cpu.conv2d_forward(x, W, b, *geometry)
        gx, gW, gb = conv_cpu.conv2d_backward(x, W, gy, *geometry, x.shape, W.shape, True)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gW, gW_ref, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(gb, gb_ref, rtol=1e-12, atol=1e-11)


@settings(max_examples=25, deadline=None)
@given(cases())
def test_reference_matches_torch(case: tuple) -> None:
    x_shape, w_shape, stride, padding, dilation, _, seed = case
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    xt, Wt, bt = (torch.from_numpy(a).requires_grad_(True) for a in (x, W, b))
    yt = F.conv2d(xt, Wt, bt, stride, padding, dilation)
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(gy))
    y = conv.conv2d_forward_reference(x, W, b, stride, padding, dilation)
    gx, gW, gb = conv.conv2d_backward_reference(x, W, gy, stride, padding, dilation, x.shape,
                                                W.shape, need_b=True)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gW, Wt.grad.numpy(), rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("impl", ["numba", "reference"])
@pytest.mark.parametrize("need_x, need_W", [(True, False), (False, True)])
def test_only_the_gradients_asked_for(impl: str, need_x: bool, need_W: bool) -> None:
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 4, 6, 5))
    backward = conv_cpu.conv2d_backward if impl == "numba" else conv.conv2d_backward_reference
    geometry = ((1, 1), (1, 1), (1, 1), x.shape, W.shape)
    gx_all, gW_all, gb_all = backward(x, W, gy, *geometry)
    gx, gW, gb = backward(x if need_W else None, W if need_x else None, gy, *geometry)
    assert (gx is None) != need_x and (gW is None) != need_W
    assert gb_all is None and gb is None  # need_b not given
    if need_x:
        np.testing.assert_array_equal(gx, gx_all)
    else:
        np.testing.assert_array_equal(gW, gW_all)


@pytest.mark.parametrize("chunk", [("rows", 1), ("samples", 1), ("default", 0)])
@pytest.mark.parametrize("stride", [(1, 1), (2, 1)])
def test_same_bits_for_any_thread_count(chunk: tuple, stride: tuple) -> None:
    """Chunks and tasks depend on the shapes only, so 1 or 3 threads give identical bits."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4, 17, 13)).astype(np.float32)
    W = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    geometry = (stride, (1, 1), (1, 1))
    gy = rng.standard_normal(conv.conv2d_forward_reference(x, W, b, *geometry).shape)
    gy = gy.astype(np.float32)
    before = minicnn.get_num_threads()
    results = []
    try:
        with chunked(x.shape, W.shape, *geometry, chunk):
            for n in (1, 3):
                minicnn.set_num_threads(n)
                results.append((conv_cpu.conv2d_forward(x, W, b, *geometry),
                                *conv_cpu.conv2d_backward(x, W, gy, *geometry, x.shape,
                                                          W.shape, True)))
    finally:
        minicnn.set_num_threads(before)
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("N, OH, RW, per_column, chunk_bytes", [
    (7, 5, 9, 10, 1), (7, 5, 9, 10, 2000), (3, 30, 31, 4, 1 << 30), (9, 4, 3, 2, 48 * 8)])
def test_plan_covers_every_row_once(monkeypatch: pytest.MonkeyPatch, N: int, OH: int, RW: int,
                                    per_column: int, chunk_bytes: int) -> None:
    monkeypatch.setattr(conv_cpu, "CHUNK_BYTES", chunk_bytes)
    tasks = conv_cpu.plan(N, OH, RW, per_column, 4)
    rows = [r for task in tasks for r0, r1 in task for r in range(r0, r1)]
    assert rows == list(range(N * OH))
    for task in tasks:  # a task holds whole samples
        assert task[0][0] % OH == 0 and task[-1][1] % OH == 0


@pytest.mark.parametrize("mode, expected", [("fast", "numba"), ("reference", "reference")])
def test_entry_points_pick_the_implementation(monkeypatch: pytest.MonkeyPatch, mode: str,
                                              expected: str) -> None:
    calls = []
    for module, name, tag in ((conv_cpu, "conv2d_forward", "numba"),
                              (conv_cpu, "conv2d_backward", "numba"),
                              (conv, "conv2d_forward_reference", "reference"),
                              (conv, "conv2d_backward_reference", "reference")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _real=real, _tag=tag: calls.append(_tag) or _real(*a))
    rng = np.random.default_rng(2)
    x, W = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 4, 4, 3))
    with use(mode):
        y = conv.conv2d_forward(x, W, None, (1, 1), (0, 0), (1, 1))
        gx, gW, _ = conv.conv2d_backward(x, W, gy, (1, 1), (0, 0), (1, 1), x.shape,
                                         W.shape)
    assert calls == [expected, expected]
    assert y.shape == gy.shape and gx.shape == x.shape and gW.shape == W.shape
