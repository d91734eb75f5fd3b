"""conv2d against PyTorch (values and the gradients of x, W, b) and gradcheck, over a grid of
strides, paddings (including 'same' with odd and even kernels), dilations, kernel sizes and
non-square inputs; output sizes; and the ValueErrors of bad arguments."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from parity import assert_gradcheck, check_parity

import minicnn
import minicnn.nn.functional as F
from minicnn.ops import conv as conv_module

DTYPES = [np.float32, np.float64]

# (N, C, H, W), (OC, KH, KW), stride, padding, dilation: kept tiny so that gradcheck (one
# forward pair per input element) stays cheap.
CONV_CASES = {
    "k1": ((2, 3, 5, 6), (2, 1, 1), 1, 0, 1),
    "k2-s2": ((1, 2, 6, 7), (3, 2, 2), 2, 0, 1),
    "k3-p1": ((2, 3, 6, 5), (2, 3, 3), 1, 1, 1),
    "k3-s2-p1-rounddown": ((1, 2, 6, 6), (2, 3, 3), 2, 1, 1),
    "k3-s3-p2": ((1, 2, 7, 7), (2, 3, 3), 3, 2, 1),
    "k5-p2": ((1, 2, 7, 6), (2, 5, 5), 1, 2, 1),
    "k3-d2-p2": ((2, 2, 7, 7), (2, 3, 3), 1, 2, 2),
    "k2-d2-s3": ((1, 3, 7, 7), (2, 2, 2), 3, 1, 2),
    "same-k3": ((1, 3, 5, 6), (2, 3, 3), 1, "same", 1),
    "same-k2-even": ((1, 2, 5, 6), (2, 2, 2), 1, "same", 1),
    "same-k4-even": ((1, 2, 6, 7), (2, 4, 4), 1, "same", 1),
    "same-k3-d2": ((1, 2, 6, 7), (2, 3, 3), 1, "same", 2),
    "same-k2-d3": ((1, 2, 7, 6), (2, 2, 2), 1, "same", 3),
    "same-k5x2": ((2, 1, 6, 5), (2, 5, 2), 1, "same", 1),
    "valid": ((1, 1, 5, 5), (1, 3, 3), 1, "valid", 1),
    "pairs": ((2, 2, 7, 6), (3, 3, 2), (2, 1), (1, 0), (1, 2)),
    "pairs-s3x2": ((1, 2, 7, 7), (2, 2, 3), (3, 2), (0, 1), 1),
}
FULL_MODE = ["k1", "k2-s2", "same-k2-even", "k3-d2-p2"]


def conv_arrays(rng, case, bias=True):
    (N, C, H, W), (OC, KH, KW), *_ = CONV_CASES[case]
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((OC, C, KH, KW))]
    return arrays + [rng.standard_normal(OC)] if bias else arrays


def conv_fns(case):
    _, _, stride, padding, dilation = CONV_CASES[case]

    def mc(*args):
        return F.conv2d(*args, stride=stride, padding=padding, dilation=dilation)

    def tf(*args):
        return TF.conv2d(*args, stride=stride, padding=padding, dilation=dilation)

    return mc, tf


# torch warns that 'same' with an even kernel copies the input: that is what it should do.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_parity(case, dtype, bias, device, rng):
    """Output and the gradients of x, W (and b) equal torch's (1e-10 / 1e-5 relative)."""
    check_parity(*conv_fns(case), conv_arrays(rng, case, bias), dtype=dtype, device=device)


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_gradcheck_fast(case, device, rng):
    assert_gradcheck(conv_fns(case)[0], conv_arrays(rng, case), device=device, fast_mode=True)


@pytest.mark.parametrize("case", FULL_MODE)
def test_conv2d_gradcheck_full(case, device, rng):
    assert_gradcheck(conv_fns(case)[0], conv_arrays(rng, case, bias=case != "k1"),
                     device=device)


def test_conv2d_gradcheck_single_input_needs_grad(device, rng):
    """Only W requires grad, then only x: the skipped gradients must not disturb the others."""
    x, W, b = conv_arrays(rng, "k3-s2-p1-rounddown")
    mc, _ = conv_fns("k3-s2-p1-rounddown")
    xt = minicnn.tensor(x, device=device)
    bt = minicnn.tensor(b, device=device)
    assert_gradcheck(lambda w: mc(xt, w, bt), [W], device=device)
    Wt = minicnn.tensor(W, device=device)
    assert_gradcheck(lambda a: mc(a, Wt), [x], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_non_contiguous_input(dtype, device, rng):
    """A transposed (non-contiguous) input view goes through im2col correctly."""
    x, W, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 3, 3)), \
        rng.standard_normal(2)
    check_parity(lambda a, w, c: F.conv2d(a.transpose(2, 3), w, c, padding=1),
                 lambda a, w, c: TF.conv2d(a.transpose(2, 3), w, c, padding=1),
                 [x, W, b], dtype=dtype, device=device)


@pytest.mark.parametrize("H", [5, 6, 7, 8, 11])
@pytest.mark.parametrize("k,s,p,d", [(1, 1, 0, 1), (2, 2, 0, 1), (3, 2, 1, 1), (3, 3, 2, 1),
                                     (5, 2, 2, 1), (3, 2, 2, 2), (2, 3, 1, 3), (4, 3, 0, 1)])
def test_conv2d_output_size_matches_torch(H, k, s, p, d, device):
    """OH = floor((H + 2P - D(K-1) - 1) / S) + 1 for every combination (rounding down)."""
    if d * (k - 1) + 1 > H + 2 * p:
        pytest.skip("kernel larger than the padded input")
    x = np.zeros((1, 1, H, H + 1))
    W = np.zeros((1, 1, k, k))
    y = F.conv2d(minicnn.tensor(x, device=device), minicnn.tensor(W, device=device),
                 stride=s, padding=p, dilation=d)
    want = TF.conv2d(torch.tensor(x), torch.tensor(W), stride=s, padding=p, dilation=d)
    assert y.shape == tuple(want.shape)


# --------------------------------------------------------------------------- bad input

@pytest.fixture
def no_conv_compute(monkeypatch):
    """Fail if the convolution starts computing: argument errors must come before it."""
    def forbidden(*args, **kwargs):
        raise AssertionError("Conv2d.forward ran before the arguments were checked")

    monkeypatch.setattr(conv_module.Conv2d, "forward", forbidden)


def _t(shape, device):
    return minicnn.tensor(np.zeros(shape), device=device)


@pytest.mark.parametrize("kwargs,shapes,expected", [
    ({}, ((3, 5, 5), (2, 3, 3, 3)), ["conv2d", "4-D", "(3, 5, 5)"]),
    ({}, ((1, 3, 5, 5), (2, 3, 3)), ["conv2d", "4-D", "weight", "(2, 3, 3)"]),
    ({}, ((1, 3, 5, 5), (2, 2, 3, 3)), ["conv2d", "3 channels", "(2, 2, 3, 3)", "expects 2"]),
    ({}, ((1, 1, 4, 6), (1, 1, 5, 5)), ["conv2d", "kernel height 5", "padded input height 4"]),
    ({"padding": 1}, ((1, 1, 6, 3), (1, 1, 3, 6)),
     ["conv2d", "kernel width 6", "padded input width 5"]),
    ({"padding": 1, "dilation": 3}, ((1, 1, 4, 9), (1, 1, 3, 3)),
     ["conv2d", "kernel height 3", "dilated 7", "padded input height 6"]),
    ({"stride": 0}, ((1, 1, 5, 5), (1, 1, 3, 3)), ["conv2d", "stride", "positive", "0"]),
    ({"stride": -1}, ((1, 1, 5, 5), (1, 1, 3, 3)), ["conv2d", "stride", "positive", "-1"]),
    ({"stride": (1, 0)}, ((1, 1, 5, 5), (1, 1, 3, 3)), ["conv2d", "stride", "(1, 0)"]),
    ({"dilation": 0}, ((1, 1, 5, 5), (1, 1, 3, 3)), ["conv2d", "dilation", "positive", "0"]),
    ({"padding": -1}, ((1, 1, 5, 5), (1, 1, 3, 3)), ["conv2d", "padding", "-1"]),
    ({"padding": "same", "stride": 2}, ((1, 1, 5, 5), (1, 1, 3, 3)),
     ["conv2d", "'same'", "stride 1", "(2, 2)"]),
    ({"padding": "full"}, ((1, 1, 5, 5), (1, 1, 3, 3)), ["conv2d", "padding", "'full'"]),
], ids=["3d-input", "3d-weight", "channels", "kernel-too-big", "kernel-too-wide",
        "dilated-kernel-too-big", "stride-0", "stride-neg", "stride-pair-0", "dilation-0",
        "padding-neg", "same-stride2", "padding-str"])
def test_conv2d_bad_arguments(kwargs, shapes, expected, device, no_conv_compute):
    """Each a ValueError naming the op, what was expected and what came, raised before any
    computation."""
    x, W = (_t(s, device) for s in shapes)
    with pytest.raises(ValueError) as info:
        F.conv2d(x, W, **kwargs)
    for part in expected:
        assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"


@pytest.mark.parametrize("kwargs,expected", [
    ({"stride": 1.5}, ["conv2d", "stride", "float 1.5"]),
    ({"padding": (1, True)}, ["conv2d", "padding", "bool True"]),
    ({"dilation": "2"}, ["conv2d", "dilation", "str '2'"]),
], ids=["stride-float", "padding-bool", "dilation-str"])
def test_conv2d_wrong_argument_types(kwargs, expected, device, no_conv_compute):
    """A TypeError (as PyTorch's and the nn layers'), naming the argument and what came."""
    x, W = _t((1, 1, 5, 5), device), _t((1, 1, 3, 3), device)
    with pytest.raises(TypeError) as info:
        F.conv2d(x, W, **kwargs)
    for part in expected:
        assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"


def test_conv2d_bad_bias_shape(device, no_conv_compute):
    with pytest.raises(ValueError, match=r"conv2d: .*bias of shape \(2,\).*\(3,\)"):
        F.conv2d(_t((1, 1, 5, 5), device), _t((2, 1, 3, 3), device), _t((3,), device))
