"""batch_norm against PyTorch: output, the gradients of x, weight and bias, and the running
statistics after the update; training and evaluation, (N, C) and (N, C, H, W), with and without
the affine weight/bias; gradcheck; and the ValueErrors of bad arguments."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from parity import TOLERANCES, assert_gradcheck, check_parity

import minicnn
import minicnn.nn.functional as F
from minicnn.ops import normalization as norm_module

DTYPES = [np.float32, np.float64]
SHAPES = {"NC": (5, 3), "NC-batch2": (2, 4), "NCHW": (2, 3, 4, 5), "NCHW-batch1": (1, 2, 3, 3)}
AFFINE = {"none": (), "weight": ("weight",), "bias": ("bias",),
          "weight+bias": ("weight", "bias")}


def bn_arrays(rng, shape, affine):
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + 0.5
    return [x] + [rng.standard_normal(C) for _ in AFFINE[affine]]


def affine_kwargs(affine, wb):
    """The affine tensors by name (a bias may come without a weight, as in torch)."""
    return dict(zip(AFFINE[affine], wb))


def running_stats(rng, C):
    return rng.standard_normal(C) * 0.1, rng.uniform(0.5, 2.0, C)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_batch_norm_parity(shape, affine, training, dtype, device, rng):
    """Output, gradients of x / weight / bias, and running_mean / running_var after the call
    (updated with the unbiased variance when training, untouched in evaluation) equal torch's."""
    shape = SHAPES[shape]
    arrays = bn_arrays(rng, shape, affine)
    rm0, rv0 = running_stats(rng, shape[1])
    kw = {"training": training, "momentum": 0.3, "eps": 1e-3}
    stats = {}

    def mc(x, *wb):
        rm, rv = (minicnn.tensor(a.astype(dtype), device=device) for a in (rm0, rv0))
        stats["mc"] = rm, rv
        return F.batch_norm(x, rm, rv, **affine_kwargs(affine, wb), **kw)

    def tf(x, *wb):
        rm, rv = torch.tensor(rm0.astype(dtype)), torch.tensor(rv0.astype(dtype))
        stats["torch"] = rm, rv
        return TF.batch_norm(x, rm, rv, **affine_kwargs(affine, wb), **kw)

    check_parity(mc, tf, arrays, dtype=dtype, device=device)
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    for got, want, name in zip(stats["mc"], stats["torch"], ("running_mean", "running_var")):
        assert got.dtype == dtype and got.device == device
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=rtol, atol=atol, err_msg=name)
        if not training:
            np.testing.assert_array_equal(
                got.numpy(), (rm0 if name == "running_mean" else rv0).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_running_stats_over_several_steps(dtype, device, rng):
    """Three training steps with default momentum/eps, then evaluation, as torch."""
    C = 3
    rm, rv = minicnn.zeros(C, dtype=dtype, device=device), minicnn.ones(C, dtype=dtype,
                                                                        device=device)
    trm, trv = torch.zeros(C, dtype=getattr(torch, np.dtype(dtype).name)), \
        torch.ones(C, dtype=getattr(torch, np.dtype(dtype).name))
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    for _ in range(3):
        x = (rng.standard_normal((4, C, 3, 2)) * 3 + 1).astype(dtype)
        F.batch_norm(minicnn.tensor(x, device=device), rm, rv, training=True)
        TF.batch_norm(torch.tensor(x), trm, trv, training=True)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=rtol, atol=atol)
    x = rng.standard_normal((2, C, 2, 2)).astype(dtype)
    check_parity(lambda a: F.batch_norm(a, rm, rv), lambda a: TF.batch_norm(a, trm, trv), [x],
                 dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ["NC", "NCHW"])
def test_batch_norm_training_without_running_stats(shape, dtype, device, rng):
    check_parity(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                 lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
                 bn_arrays(rng, SHAPES[shape], "weight+bias"), dtype=dtype, device=device)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_batch_norm_gradcheck(shape, affine, training, device, rng):
    shape = SHAPES[shape]
    rm0, rv0 = running_stats(rng, shape[1])

    def fn(x, *wb):
        # fresh running statistics each call: the training update must not leak between calls
        rm, rv = minicnn.tensor(rm0, device=device), minicnn.tensor(rv0, device=device)
        return F.batch_norm(x, rm, rv, **affine_kwargs(affine, wb), training=training)

    assert_gradcheck(fn, bn_arrays(rng, shape, affine), device=device)


# --------------------------------------------------------------------------- bad input

@pytest.fixture
def no_bn_compute(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("BatchNorm.forward ran before the arguments were checked")

    monkeypatch.setattr(norm_module.BatchNorm, "forward", forbidden)


def test_batch_norm_bad_arguments(device, no_bn_compute):
    def t(*shape):
        return minicnn.zeros(*shape, dtype=np.float64, device=device)

    cases = [
        (lambda: F.batch_norm(t(2, 3, 4), t(3), t(3)), ["batch_norm", "2-D", "4-D", "(2, 3, 4)"]),
        (lambda: F.batch_norm(t(2, 3), t(4), t(3)), ["batch_norm", "running_mean", "(3,)", "(4,)"]),
        (lambda: F.batch_norm(t(2, 3), t(3), t(3), t(2)), ["batch_norm", "weight", "(2,)"]),
        (lambda: F.batch_norm(t(1, 3), None, None, training=True),
         ["batch_norm", "more than 1 value per channel", "(1, 3)"]),
        (lambda: F.batch_norm(t(2, 3), None, None), ["batch_norm", "running_mean"]),
    ]
    for call, expected in cases:
        with pytest.raises(ValueError) as info:
            call()
        for part in expected:
            assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"
