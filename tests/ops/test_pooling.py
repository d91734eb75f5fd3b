"""max_pool2d and avg_pool2d against PyTorch and gradcheck: overlapping windows, padding (with
negative inputs), strides, non-square inputs and kernels; the tie rule of max pooling; output
sizes (rounding down, the 227x227 conv/pool chain); and the ValueErrors of bad arguments."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from parity import assert_gradcheck, check_parity

import minicnn
import minicnn.nn.functional as F
from minicnn.ops import pooling as pooling_module

DTYPES = [np.float32, np.float64]

# (N, C, H, W), kernel_size, stride (None: the kernel size), padding
POOL_CASES = {
    "k2": ((2, 3, 6, 7), 2, None, 0),
    "k2-s1-overlap": ((1, 3, 5, 6), 2, 1, 0),
    "k3-s2-p1-overlap": ((1, 2, 7, 6), 3, 2, 1),
    "k3-s1-p1-overlap": ((2, 2, 5, 5), 3, 1, 1),
    "k3-s3-rounddown": ((1, 2, 7, 8), 3, 3, 0),
    "k1-s2": ((1, 2, 5, 6), 1, 2, 0),
    "k5-s2-p2": ((1, 1, 7, 7), 5, 2, 2),
    "k4-s3-p2": ((1, 1, 7, 7), 4, 3, 2),
    "pairs": ((2, 2, 7, 6), (3, 2), (2, 1), (1, 0)),
    "pairs-default-stride": ((1, 2, 7, 7), (2, 3), None, (1, 1)),
}
POOLS = {"max": (F.max_pool2d, TF.max_pool2d), "avg": (F.avg_pool2d, TF.avg_pool2d)}


def pool_fns(kind, case):
    _, k, s, p = POOL_CASES[case]
    mc, tf = POOLS[kind]
    return (lambda x: mc(x, k, stride=s, padding=p)), (lambda x: tf(x, k, stride=s, padding=p))


def distinct(rng, shape, spacing=0.05):
    """Values with no ties, at least ``spacing`` apart (far beyond gradcheck's eps), shuffled
    and centred on 0, so max pooling's argmax never moves under a finite-difference step."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * spacing).reshape(shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(POOL_CASES))
@pytest.mark.parametrize("kind", list(POOLS))
def test_pool_parity(kind, case, dtype, device, rng):
    check_parity(*pool_fns(kind, case), [distinct(rng, POOL_CASES[case][0])], dtype=dtype,
                 device=device)


@pytest.mark.parametrize("case", list(POOL_CASES))
@pytest.mark.parametrize("kind", list(POOLS))
def test_pool_gradcheck(kind, case, device, rng):
    assert_gradcheck(pool_fns(kind, case)[0], [distinct(rng, POOL_CASES[case][0])],
                     device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(POOLS))
def test_pool_non_contiguous_input(kind, dtype, device, rng):
    mc, tf = POOLS[kind]
    check_parity(lambda x: mc(x.transpose(2, 3), 3, 2, 1),
                 lambda x: tf(x.transpose(2, 3), 3, 2, 1),
                 [distinct(rng, (2, 2, 7, 6))], dtype=dtype, device=device)


# --------------------------------------------------------------------------- max-pool ties
# NOTE: the convention under test. Max pooling is not differentiable where a window holds
# several equal maxima; minicnn follows PyTorch's CPU kernel: the *first* maximum in row-major
# window order (lowest row, then lowest column) is the argmax and gets the whole gradient
# (a later element replaces the candidate only if strictly greater).

def test_max_pool_tie_goes_to_first_in_row_major_order(device):
    x = minicnn.tensor(np.array([[[[1.0, 3.0], [3.0, 2.0]]]]), device=device,
                       requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0.0, 1.0], [0.0, 0.0]]]])
    xt = torch.tensor([[[[1.0, 3.0], [3.0, 2.0]]]], dtype=torch.float64, requires_grad=True)
    TF.max_pool2d(xt, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_max_pool_constant_input_overlapping_windows(device):
    """All values equal: each window's gradient goes to its first (top-left) element."""
    x = minicnn.tensor(np.full((1, 1, 4, 5), 7.0), device=device, requires_grad=True)
    y = F.max_pool2d(x, 3, stride=1, padding=1)
    y.backward(minicnn.tensor(np.arange(1.0, 21.0).reshape(1, 1, 4, 5), device=device))
    xt = torch.full((1, 1, 4, 5), 7.0, dtype=torch.float64, requires_grad=True)
    TF.max_pool2d(xt, 3, stride=1, padding=1).backward(
        torch.arange(1.0, 21.0, dtype=torch.float64).reshape(1, 1, 4, 5))
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    # window (oh, ow) starts at (oh - 1, ow - 1): its first real element is (max(oh-1, 0),
    # max(ow-1, 0)).
    want = np.zeros((4, 5))
    for oh in range(4):
        for ow in range(5):
            want[max(oh - 1, 0), max(ow - 1, 0)] += 1 + oh * 5 + ow
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["k2", "k2-s1-overlap", "k3-s2-p1-overlap", "k3-s1-p1-overlap",
                                  "k5-s2-p2", "pairs"])
def test_max_pool_exact_ties_match_torch(case, dtype, device, rng):
    """Small integers (many exact ties per window): values and routed gradients equal torch's."""
    x = rng.integers(-2, 2, POOL_CASES[case][0]).astype(np.float64)
    gy_shape = pool_fns("max", case)[1](torch.tensor(x)).shape
    gy = rng.integers(1, 5, gy_shape).astype(np.float64)  # exact sums in either dtype
    check_parity(*pool_fns("max", case), [x], dtype=dtype, device=device, rtol=0, atol=0,
                 gy=gy)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["k3-s2-p1-overlap", "k3-s1-p1-overlap", "k5-s2-p2", "pairs",
                                  "k4-s3-p2"])
def test_max_pool_padding_with_negative_inputs(case, dtype, device, rng):
    """Padding acts as -inf: an all-negative input never pools to 0 and the gradient reaches
    only real elements."""
    x = -1.0 - np.abs(distinct(rng, POOL_CASES[case][0]))
    mc, tf = pool_fns("max", case)
    y = mc(minicnn.tensor(x, device=device))
    assert (y.numpy() < 0).all()
    check_parity(mc, tf, [x], dtype=dtype, device=device)


def test_max_pool_overlapping_windows_sum_gradients(device):
    """One element that is the maximum of several overlapping windows gets their sum."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 10.0
    xt = minicnn.tensor(x, device=device, requires_grad=True)
    y = F.max_pool2d(xt, 3, stride=1)  # (3, 3) outputs, every window contains (2, 2)
    y.backward(minicnn.tensor(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), device=device))
    assert xt.grad.numpy()[0, 0, 2, 2] == 45.0
    assert xt.grad.numpy().sum() == 45.0


# --------------------------------------------------------------------------- output sizes

@pytest.mark.parametrize("H", [5, 6, 7, 8, 11])
@pytest.mark.parametrize("k,s,p", [(1, 1, 0), (2, 2, 0), (2, 1, 1), (3, 2, 1), (3, 3, 0),
                                   (3, 2, 0), (4, 3, 2), (5, 2, 2)])
@pytest.mark.parametrize("kind", list(POOLS))
def test_pool_output_size_matches_torch(kind, H, k, s, p, device):
    """OH = floor((H + 2P - K) / S) + 1 (ceil_mode=False), for every combination."""
    x = np.zeros((1, 1, H, H + 1))
    mc, tf = POOLS[kind]
    y = mc(minicnn.tensor(x, device=device), k, s, p)
    assert y.shape == tuple(tf(torch.tensor(x), k, s, p).shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_227_through_conv_and_pool_twice_gives_56(dtype, device, rng):
    """227 -> conv 3x3 pad 1 -> 227 -> pool 2 -> 113 -> conv -> 113 -> pool 2 -> 56, as torch
    (the odd sizes expose an off-by-one in either op's output size)."""
    x = rng.standard_normal((1, 3, 227, 227))
    W1, W2 = rng.standard_normal((4, 3, 3, 3)) / 3, rng.standard_normal((2, 4, 3, 3)) / 6

    def mc(a, w1, w2):
        return F.max_pool2d(F.conv2d(F.max_pool2d(F.conv2d(a, w1, padding=1), 2), w2,
                                     padding=1), 2)

    def tf(a, w1, w2):
        return TF.max_pool2d(TF.conv2d(TF.max_pool2d(TF.conv2d(a, w1, padding=1), 2), w2,
                                       padding=1), 2)

    y = mc(*(minicnn.tensor(a.astype(dtype), device=device) for a in (x, W1, W2)))
    assert y.shape == (1, 2, 56, 56)
    # NOTE: in float32 the weight gradients sum 227*227 products; PyTorch's own float32 result
    # is ~3e-4 off the float64 one there (minicnn's ~7e-5), so float32 compares values only.
    check_parity(mc, tf, [x, W1, W2], dtype=dtype, device=device, grad=dtype == np.float64)


# --------------------------------------------------------------------------- bad input

@pytest.fixture
def no_pool_compute(monkeypatch):
    """Fail if pooling starts computing: argument errors must come before it."""
    def forbidden(*args, **kwargs):
        raise AssertionError("pooling forward ran before the arguments were checked")

    monkeypatch.setattr(pooling_module.MaxPool2d, "forward", forbidden)
    monkeypatch.setattr(pooling_module.AvgPool2d, "forward", forbidden)


@pytest.mark.parametrize("kind", list(POOLS))
@pytest.mark.parametrize("shape,args,expected", [
    ((3, 5, 5), (2,), ["4-D", "(3, 5, 5)"]),
    ((1, 1, 5, 5), (2, 0), ["stride", "positive", "0"]),
    ((1, 1, 5, 5), (2, -2), ["stride", "positive", "-2"]),
    ((1, 1, 5, 5), (0,), ["kernel_size", "positive", "0"]),
    ((1, 1, 3, 5), (4,), ["kernel (4, 4)", "larger than the padded input", "(3, 5)"]),
    ((1, 1, 5, 5), (3, 1, 2), ["padding", "half of the kernel", "(2, 2)", "(3, 3)"]),
    ((1, 1, 5, 5), (3, 1, -1), ["padding", "(-1, -1)"]),
], ids=["3d-input", "stride-0", "stride-neg", "kernel-0", "kernel-too-big", "padding-too-big",
        "padding-neg"])
def test_pool_bad_arguments(kind, shape, args, expected, device, no_pool_compute):
    op = f"{kind}_pool2d"
    with pytest.raises(ValueError) as info:
        POOLS[kind][0](minicnn.tensor(np.zeros(shape), device=device), *args)
    for part in [op] + expected:
        assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"
