"""dropout: inverted scaling, the dropped fraction, seeding, the identity cases, bad p, the
gradient (the mask), and parity with PyTorch applying minicnn's recorded mask."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from parity import assert_gradcheck, check_parity

import minicnn
import minicnn.nn.functional as F
from minicnn.backend import to_host
from minicnn.ops import dropout as dropout_module

DTYPES = [np.float32, np.float64]


@pytest.fixture
def recorded_masks(monkeypatch):
    """Every mask ``draw_keep_mask`` returns, in order (the op itself is left unchanged)."""
    masks = []
    draw = dropout_module.draw_keep_mask

    def recording(*args, **kwargs):
        mask = draw(*args, **kwargs)
        masks.append(mask)  # on the input's device
        return mask

    monkeypatch.setattr(dropout_module, "draw_keep_mask", recording)
    return masks


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_inverted_scaling(p, dtype, device, rng):
    """Kept entries are x / (1 - p), dropped ones exactly 0."""
    x = rng.uniform(0.5, 2.0, (40, 50)).astype(dtype)  # no zeros: a 0 output means dropped
    y = F.dropout(minicnn.tensor(x, device=device), p).numpy()
    assert y.dtype == dtype
    kept = y != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(y[kept], x[kept] / dtype(1 - p), rtol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_fraction_near_p(p, device):
    """1e6 draws: the dropped fraction has std sqrt(p(1-p)/1e6) <= 5e-4, so |frac - p| < 0.005
    is a 10-sigma bound (fails by chance with probability < 1e-22)."""
    y = F.dropout(minicnn.ones(1000, 1000, dtype=np.float32, device=device), p).numpy()
    assert abs((y == 0).mean() - p) < 0.005


def test_dropout_same_seed_same_mask(device, rng):
    x = minicnn.tensor(rng.standard_normal((8, 9)), device=device)
    minicnn.manual_seed(42)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    minicnn.manual_seed(42)
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)  # the generator moves on between calls


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_identity_cases(dtype, device, rng):
    """training=False (evaluation) and p=0 return x unchanged, with gradient 1 (as torch)."""
    x = rng.standard_normal((3, 4)).astype(dtype)
    for kw in ({"p": 0.5, "training": False}, {"p": 0.0}, {"p": 0.0, "training": False},
               {"p": 1.0, "training": False}):
        check_parity(lambda a, kw=kw: F.dropout(a, **kw), lambda a, kw=kw: TF.dropout(a, **kw),
                     [x], dtype=dtype, device=device, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_p1_gives_zeros(dtype, device, rng):
    x = rng.standard_normal((3, 4)).astype(dtype)
    check_parity(lambda a: F.dropout(a, 1.0), lambda a: TF.dropout(a, 1.0), [x], dtype=dtype,
                 device=device, rtol=0, atol=0)
    y = F.dropout(minicnn.tensor(x, device=device), 1.0).numpy()
    np.testing.assert_array_equal(y, np.zeros_like(x))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_invalid_p(p, device):
    x = minicnn.ones(2, 3, device=device)
    with pytest.raises(ValueError) as info:
        F.dropout(x, p)
    assert "dropout" in str(info.value) and "between 0 and 1" in str(info.value)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_parity_with_recorded_mask(p, dtype, device, rng, recorded_masks):
    """torch with minicnn's mask: y = x * mask and gx = gy * mask; the mask's kept value is
    1 / (1 - p), the value torch's own dropout scales by."""
    x = rng.standard_normal((4, 3, 5)).astype(dtype)

    def tf(a):
        mask = torch.tensor(to_host(recorded_masks[-1]))
        return a * mask

    check_parity(lambda a: F.dropout(a, p), tf, [x], dtype=dtype, device=device)
    assert len(recorded_masks) == 1
    mask = to_host(recorded_masks[0])
    assert mask.dtype == dtype and mask.shape == x.shape
    torch_scale = TF.dropout(torch.ones(10000, dtype=getattr(torch, np.dtype(dtype).name)), p)
    np.testing.assert_array_equal(np.unique(mask), np.unique(torch_scale.numpy()))


def test_dropout_gradient_is_the_mask(device, rng, recorded_masks):
    x = minicnn.tensor(rng.standard_normal((6, 7)), device=device, requires_grad=True)
    F.dropout(x, 0.4).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), to_host(recorded_masks[0]))


@pytest.mark.parametrize("p", [0.3, 0.7])
def test_dropout_gradcheck_with_fixed_mask(p, device, rng):
    """Reseeding before each forward makes every call draw the same mask."""
    def fn(x):
        minicnn.manual_seed(5)
        return F.dropout(x, p)

    assert_gradcheck(fn, [rng.standard_normal((3, 4, 2))], device=device)
