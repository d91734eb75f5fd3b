"""The standalone im2col / col2im (``kernels.conv``): the Numba CPU path against the xp
reference (tasks shrunk so that task edges and odd remainders are crossed), the adjoint
identity, and torch's unfold / fold."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from minicnn.kernels import conv, im2col_cpu, use
from minicnn.kernels.conv import col2im, col2im_reference, im2col, im2col_reference
from minicnn.kernels.geometry import conv_output_size

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv_cases(draw: st.DrawFn) -> tuple[tuple[int, int, int, int], tuple[int, ...], int]:
    """``(x shape, (KH, KW, SH, SW, PH, PW, DH, DW), seed)`` with an output of at least 1x1."""
    N, C = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))
    DH, DW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    assume(conv_output_size(H, KH, SH, PH, DH) >= 1 and conv_output_size(W, KW, SW, PW, DW) >= 1)
    return (N, C, H, W), (KH, KW, SH, SW, PH, PW, DH, DW), draw(st.integers(0, 2**32 - 1))


def _col_shape(x_shape: tuple[int, ...], params: tuple[int, ...]) -> tuple[int, ...]:
    N, C, H, W = x_shape
    KH, KW, SH, SW, PH, PW, DH, DW = params
    OH, OW = conv_output_size(H, KH, SH, PH, DH), conv_output_size(W, KW, SW, PW, DW)
    return N, C, KH, KW, OH, OW


def _torch_unfold(x: np.ndarray, params: tuple[int, ...]) -> np.ndarray:
    """torch's unfold (N, C*KH*KW, OH*OW) reshaped to (N, C, KH, KW, OH, OW)."""
    KH, KW, SH, SW, PH, PW, DH, DW = params
    u = F.unfold(torch.from_numpy(x), (KH, KW), dilation=(DH, DW), padding=(PH, PW),
                 stride=(SH, SW)).numpy()
    return u.reshape(_col_shape(x.shape, params))  # (N, C, KH, KW, OH, OW)


@pytest.mark.parametrize("size, k, s, p, d, expected", [
    (5, 3, 1, 0, 1, 3), (5, 3, 1, 1, 1, 5), (227, 11, 4, 0, 1, 55), (7, 3, 2, 1, 2, 3),
    (4, 5, 1, 0, 1, 0),
])
def test_conv_output_size(size: int, k: int, s: int, p: int, d: int, expected: int) -> None:
    assert conv_output_size(size, k, s, p, d) == expected


@contextmanager
def _tasks_of(samples: int, per_sample: int) -> Iterator[None]:
    """Shrink the standalone kernels' tasks to ``samples`` samples (0: one task for all)."""
    with pytest.MonkeyPatch.context() as mp:
        if samples:
            mp.setattr(im2col_cpu, "TASK_ELEMENTS", samples * per_sample)
        yield


# tasks of 1 sample, of 2 (an odd batch leaves a remainder of 1), or one task for all
TASK_SAMPLES = st.sampled_from([1, 2, 0])


@SETTINGS
@given(conv_cases(), TASK_SAMPLES)
def test_im2col_cpu_equals_reference(case, samples: int) -> None:
    x_shape, params, seed = case
    x = np.random.default_rng(seed).standard_normal(x_shape)
    with _tasks_of(samples, int(np.prod(_col_shape(x_shape, params)[1:]))):
        col = im2col_cpu.im2col(x, *params)
    assert col.shape == _col_shape(x_shape, params) and col.dtype == x.dtype
    np.testing.assert_array_equal(col, im2col_reference(x, *params))


@SETTINGS
@given(conv_cases(), TASK_SAMPLES)
def test_col2im_cpu_equals_reference(case, samples: int) -> None:
    """Exactly equal: both add the taps of each pixel in (kh, kw) order."""
    x_shape, params, seed = case
    col = np.random.default_rng(seed).standard_normal(_col_shape(x_shape, params))
    H, W = x_shape[2:]
    with _tasks_of(samples, int(np.prod(_col_shape(x_shape, params)[1:]))):
        gx = im2col_cpu.col2im(col, H, W, *params[2:])
    assert gx.shape == x_shape and gx.dtype == col.dtype
    np.testing.assert_array_equal(gx, col2im_reference(col, H, W, *params[2:]))


@SETTINGS
@given(conv_cases())
def test_col2im_is_adjoint_of_im2col(case) -> None:
    """<im2col(x), y> == <x, col2im(y)>: the dot-product test, not a round trip."""
    x_shape, params, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    y = rng.standard_normal(_col_shape(x_shape, params))
    col = im2col_cpu.im2col(x, *params)
    lhs = np.vdot(col, y)
    rhs = np.vdot(x, im2col_cpu.col2im(y, *x_shape[2:], *params[2:]))
    # NOTE: relative to sum |col * y|, the scale of a dot product's rounding error, so a
    # sum that cancels to near zero cannot make the test flaky.
    scale = np.vdot(np.abs(col), np.abs(y))
    assert abs(lhs - rhs) <= 1e-10 * scale


@SETTINGS
@given(conv_cases())
def test_im2col_equals_torch_unfold(case) -> None:
    x_shape, params, seed = case
    x = np.random.default_rng(seed).standard_normal(x_shape)
    np.testing.assert_array_equal(im2col(x, *params), _torch_unfold(x, params))


@SETTINGS
@given(conv_cases())
def test_col2im_matches_torch_fold(case) -> None:
    """torch's fold is unfold's adjoint too: same sums (up to summation order)."""
    x_shape, params, seed = case
    KH, KW, SH, SW, PH, PW, DH, DW = params
    col = np.random.default_rng(seed).standard_normal(_col_shape(x_shape, params))
    N, C, H, W = x_shape
    folded = F.fold(torch.from_numpy(col.reshape(N, C * KH * KW, -1)), (H, W), (KH, KW),
                    dilation=(DH, DW), padding=(PH, PW), stride=(SH, SW)).numpy()
    np.testing.assert_allclose(col2im(col, H, W, *params[2:]), folded, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", [im2col_cpu, conv], ids=["numba", "entry"])
def test_float32(impl) -> None:
    """float32 in, float32 out; im2col exact against reference and torch, col2im too."""
    rng = np.random.default_rng(0)
    params = (3, 2, 2, 1, 1, 1, 2, 1)
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    col = impl.im2col(x, *params)
    assert col.dtype == np.float32
    np.testing.assert_array_equal(col, im2col_reference(x, *params))
    np.testing.assert_array_equal(col, _torch_unfold(x, params))
    y = rng.standard_normal(col.shape).astype(np.float32)
    gx = impl.col2im(y, 9, 7, *params[2:])
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(gx, col2im_reference(y, 9, 7, *params[2:]))


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_padding_is_zero_and_overlaps_sum(mode: str) -> None:
    """Exact values: a 3x3 kernel, stride 1, padding 1 on a 2x2 image of ones."""
    x = np.ones((1, 1, 2, 2))
    with use(mode):
        col = im2col(x, 3, 3, 1, 1, 1, 1)
        # (N, C, KH, KW, OH, OW): tap (0, 0) of output (0, 0) reads the padding corner.
        assert col[0, 0, 0, 0, 0, 0] == 0 and col[0, 0, 1, 1, 0, 0] == 1
        # Each pixel of a 2x2 image is read by all 4 outputs of a 3x3 / pad 1 sweep.
        np.testing.assert_array_equal(col2im(np.ones_like(col), 2, 2, 1, 1, 1, 1),
                                      np.full((1, 1, 2, 2), 4.0))


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_errors(mode: str) -> None:
    x = np.zeros((1, 1, 4, 4))
    with use(mode):
        with pytest.raises(ValueError, match="output size"):
            im2col(x, 5, 5, 1, 1, 0, 0)
        with pytest.raises(ValueError, match="stride"):
            im2col(x, 3, 3, 0, 1, 0, 0)
        with pytest.raises(ValueError, match="does not come from"):
            col2im(np.zeros((1, 1, 3, 3, 2, 2)), 5, 5, 1, 1, 0, 0)
        with pytest.raises(ValueError, match=r"col must have shape \(N, C, KH, KW, OH, OW\)"):
            col2im(np.zeros((1, 3, 3, 2, 2)), 5, 5, 1, 1, 0, 0)


class _Other(np.ndarray):
    """An array type that is neither NumPy's own nor a CUDA array."""


@pytest.mark.parametrize("mode, array_type, expected", [
    ("fast", np.ndarray, "numba"), ("fast", _Other, "reference"),
    ("reference", np.ndarray, "reference")])
def test_entry_points_pick_the_implementation(monkeypatch: pytest.MonkeyPatch, mode: str,
                                              array_type: type, expected: str) -> None:
    calls = []
    for module, name, tag in ((im2col_cpu, "im2col", "numba"), (im2col_cpu, "col2im", "numba"),
                              (conv, "im2col_reference", "reference"),
                              (conv, "col2im_reference", "reference")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _real=real, _tag=tag: calls.append(_tag) or _real(*a))
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4))
    with use(mode):
        col = im2col(x.view(array_type), 3, 3, 1, 1, 1, 1)
        gx = col2im(np.asarray(col).view(array_type), 5, 4, 1, 1, 1, 1)
    assert calls == [expected, expected]
    np.testing.assert_array_equal(col, im2col_reference(x, 3, 3, 1, 1, 1, 1))
    np.testing.assert_array_equal(gx, col2im_reference(np.asarray(col), 5, 4, 1, 1, 1, 1))


def test_import_does_not_load_numba_cuda() -> None:
    """numba.cuda is imported lazily, only when a CUDA array shows up."""
    code = ("import sys, minicnn, minicnn.kernels.conv, minicnn.kernels.pooling\n"
            "assert not any(m.startswith('numba.cuda') for m in sys.modules), 'numba.cuda'\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[2])
