"""Shape ops against PyTorch and gradcheck: reshape/view, permute/transpose, flatten,
(un)squeeze, indexing (slices, ints, None, Ellipsis, negative steps, integer arrays with
repeats, boolean masks), cat and stack."""
import numpy as np
import pytest
import torch
from parity import assert_gradcheck, check_parity

import minicnn

DTYPES = [np.float32, np.float64]


def same(fn):
    """One lambda for both libraries (PyTorch's names)."""
    return fn, fn


# id -> (minicnn fn, torch fn, input shape)
RESHAPES = {
    "reshape(-1)": (*same(lambda t: t.reshape(-1)), (4, 5, 3)),
    "reshape(3,4,5)": (*same(lambda t: t.reshape(3, 4, 5)), (4, 5, 3)),
    "reshape((12,5))": (*same(lambda t: t.reshape((12, 5))), (4, 5, 3)),
    "reshape(2,-1,5)": (*same(lambda t: t.reshape(2, -1, 5)), (4, 5, 3)),
    "reshape(same)": (*same(lambda t: t.reshape(4, 5, 3)), (4, 5, 3)),
    "minicnn.reshape": (lambda t: minicnn.reshape(t, (6, 10)),
                        lambda t: torch.reshape(t, (6, 10)), (4, 5, 3)),
    "view(-1,3)": (*same(lambda t: t.view(-1, 3)), (4, 5, 3)),
    "minicnn.view": (lambda t: minicnn.view(t, 20, 3), lambda t: t.view(20, 3), (4, 5, 3)),
    "0d.reshape(1,1)": (*same(lambda t: t.reshape(1, 1)), ()),
    "reshape->0d": (*same(lambda t: t.reshape(())), (1, 1)),
    "T.reshape(-1)": (*same(lambda t: t.T.reshape(-1)), (4, 3)),
    "transpose(0,2)": (*same(lambda t: t.transpose(0, 2)), (4, 5, 3)),
    "transpose(-1,0)": (*same(lambda t: t.transpose(-1, 0)), (4, 5, 3)),
    "minicnn.transpose": (lambda t: minicnn.transpose(t, 1, 2),
                          lambda t: torch.transpose(t, 1, 2), (4, 5, 3)),
    "permute(2,0,1)": (*same(lambda t: t.permute(2, 0, 1)), (4, 5, 3)),
    "permute((1,-1,0))": (*same(lambda t: t.permute((1, -1, 0))), (4, 5, 3)),
    "minicnn.permute": (lambda t: minicnn.permute(t, (2, 1, 0)),
                        lambda t: torch.permute(t, (2, 1, 0)), (4, 5, 3)),
    "T": (*same(lambda t: t.T), (4, 3)),
    "t()": (*same(lambda t: t.t()), (4, 3)),
    "1d.t()": (*same(lambda t: t.t()), (4,)),
    "flatten()": (*same(lambda t: t.flatten()), (4, 5, 3)),
    "flatten(1)": (*same(lambda t: t.flatten(1)), (4, 5, 3)),
    "flatten(0,1)": (*same(lambda t: t.flatten(0, 1)), (4, 5, 3)),
    "flatten(-2,-1)": (*same(lambda t: t.flatten(-2, -1)), (4, 5, 3)),
    "minicnn.flatten": (lambda t: minicnn.flatten(t, 1), lambda t: torch.flatten(t, 1),
                        (2, 1, 3)),
    "0d.flatten()": (*same(lambda t: t.flatten()), ()),
    "flatten(T)": (*same(lambda t: t.T.flatten()), (4, 3)),
    "squeeze()": (*same(lambda t: t.squeeze()), (1, 4, 1, 3)),
    "squeeze(0)": (*same(lambda t: t.squeeze(0)), (1, 4, 1, 3)),
    "squeeze(-2)": (*same(lambda t: t.squeeze(-2)), (1, 4, 1, 3)),
    "squeeze(1) no-op": (*same(lambda t: t.squeeze(1)), (1, 4, 1, 3)),
    "minicnn.squeeze": (lambda t: minicnn.squeeze(t, 2), lambda t: torch.squeeze(t, 2),
                        (1, 4, 1, 3)),
    "0d.squeeze()": (*same(lambda t: t.squeeze()), ()),
    "(1,1).squeeze()": (*same(lambda t: t.squeeze()), (1, 1)),
    "unsqueeze(0)": (*same(lambda t: t.unsqueeze(0)), (4, 3)),
    "unsqueeze(-1)": (*same(lambda t: t.unsqueeze(-1)), (4, 3)),
    "unsqueeze(1)": (*same(lambda t: t.unsqueeze(1)), (4, 3)),
    "minicnn.unsqueeze": (lambda t: minicnn.unsqueeze(t, -2), lambda t: torch.unsqueeze(t, -2),
                          (4, 3)),
    "0d.unsqueeze(0)": (*same(lambda t: t.unsqueeze(0)), ()),
    "unsqueeze(T)": (*same(lambda t: t.T.unsqueeze(1)), (4, 3)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(RESHAPES))
def test_reshape_family_parity(name, dtype, device, rng):
    mc_fn, t_fn, shape = RESHAPES[name]
    check_parity(mc_fn, t_fn, [np.asarray(rng.standard_normal(shape))], dtype=dtype,
                 device=device)


@pytest.mark.parametrize("name", list(RESHAPES))
def test_reshape_family_gradcheck(name, device, rng):
    mc_fn, _, shape = RESHAPES[name]
    assert_gradcheck(mc_fn, [np.asarray(rng.standard_normal(shape))], device=device)


def test_reshape_errors(device):
    x = minicnn.tensor(np.zeros((4, 3)), device=device)
    for bad in ((5, 3), (-1, 5), (-1, -1), (0, -1)):
        with pytest.raises(RuntimeError):
            x.reshape(*bad)
    with pytest.raises(RuntimeError):
        x.permute(0, 0)
    with pytest.raises(IndexError):
        x.transpose(0, 2)


def test_view_of_non_contiguous_tensor_works(device):
    """NOTE: PyTorch's view() refuses a non-contiguous tensor; minicnn's view is reshape and
    copies instead (a documented difference)."""
    x = np.arange(12.0).reshape(4, 3)
    with pytest.raises(RuntimeError):
        torch.tensor(x).T.view(-1)
    check_parity(lambda t: t.T.view(-1), lambda t: t.T.reshape(-1), [x], dtype=np.float64,
                 device=device)


# --------------------------------------------------------------------------- indexing
def _keys(make):
    """id -> key for an input of shape (4, 5, 3); ``make`` turns a NumPy array into the
    library's index tensor (minicnn or torch)."""
    idx = make(np.array([0, 2, 0, 0]))  # repeats: their gradients must add up
    return {
        "int": 1,
        "-int": -1,
        "slice": slice(1, 3),
        "slice-step": slice(0, None, 2),
        "(:,int)": (slice(None), 1),
        "(int,int,int)": (3, -2, 0),
        "(...,0)": (Ellipsis, 0),
        "(1,...,None)": (1, Ellipsis, None),
        "(None,:,None)": (None, slice(None), None),
        "(:,None,1:)": (slice(None), None, slice(1, None)),
        "idx": idx,
        "list": [3, 1, 1],
        "-idx": make(np.array([-1, 0, -1])),
        "idx2d": make(np.array([[0, 1], [1, 1]])),
        "(idx,1:)": (idx, slice(1, None)),
        "(:,idx)": (slice(None), make(np.array([4, 4, 0]))),
        "(idx,idx)": (idx, make(np.array([1, 1, 4, 1]))),
        "(idx,int,idx)": (make(np.array([0, 0])), 2, make(np.array([1, 1]))),
        "mask0": make(np.array([True, False, True, True])),
        "(mask0,1)": (make(np.array([False, True, True, False])), 1),
        "(:,mask1)": (slice(None), make(np.array([True, False, False, True, True]))),
    }


def mc_make(device):
    return lambda a: minicnn.tensor(a, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", list(_keys(np.asarray)))
def test_getitem_parity(key, dtype, device, rng):
    mc_key, t_key = _keys(mc_make(device))[key], _keys(torch.tensor)[key]
    check_parity(lambda t: t[mc_key], lambda t: t[t_key], [rng.standard_normal((4, 5, 3))],
                 dtype=dtype, device=device)


@pytest.mark.parametrize("key", list(_keys(np.asarray)))
def test_getitem_gradcheck(key, device, rng):
    mc_key = _keys(mc_make(device))[key]
    assert_gradcheck(lambda t: t[mc_key], [rng.standard_normal((4, 5, 3))], device=device)


# Negative steps: PyTorch has none, so its side flips instead.
NEGATIVE_STEPS = {
    "[::-1]": (lambda t: t[::-1], lambda t: t.flip(0)),
    "[::-2,1::2]": (lambda t: t[::-2, 1::2], lambda t: t.flip(0)[::2, 1::2]),
    "[:,3:0:-1]": (lambda t: t[:, 3:0:-1], lambda t: t.flip(1)[:, 1:4]),
    "[...,::-1]": (lambda t: t[..., ::-1], lambda t: t.flip(-1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", list(NEGATIVE_STEPS))
def test_getitem_negative_steps(key, dtype, device, rng):
    mc_fn, t_fn = NEGATIVE_STEPS[key]
    x = rng.standard_normal((4, 5, 3))
    check_parity(mc_fn, t_fn, [x], dtype=dtype, device=device)
    assert_gradcheck(mc_fn, [x], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_mask_from_comparison(dtype, device, rng):
    """x[x > 0] and x[mask] with a full-shape mask."""
    x = rng.standard_normal((3, 4))
    check_parity(lambda t: t[t > 0], lambda t: t[t > 0], [x], dtype=dtype, device=device)
    check_parity(lambda t, m: t[m], lambda t, m: t[m], [x, x < 0.5], dtype=dtype, device=device)
    assert_gradcheck(lambda t: t[t > 0], [x], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_of_0d_and_1d(dtype, device, rng):
    for shape, fn in [((), lambda t: t[()]), ((), lambda t: t[None]), ((), lambda t: t[...]),
                      ((5,), lambda t: t[2]), ((5,), lambda t: t[-2:]),
                      ((5,), lambda t: t[[4, 4]])]:
        check_parity(fn, fn, [np.asarray(rng.standard_normal(shape))], dtype=dtype,
                     device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_non_contiguous_and_chained(dtype, device, rng):
    idx_mc = minicnn.tensor(np.array([2, 0, 2]), device=device)
    idx_t = torch.tensor([2, 0, 2])
    check_parity(lambda t: t.T[1:, idx_mc][::2], lambda t: t.T[1:, idx_t][::2],
                 [rng.standard_normal((3, 4))], dtype=dtype, device=device)


def test_iteration_and_len(device, rng):
    x = rng.standard_normal((3, 2))
    check_parity(lambda t: minicnn.stack(list(t)) * 2, lambda t: torch.stack(list(t)) * 2, [x],
                 dtype=np.float64, device=device)
    assert len(minicnn.tensor(x, device=device)) == 3


# --------------------------------------------------------------------------- cat, stack
CATS = {
    "dim0": ([(2, 3), (1, 3), (4, 3)], 0),
    "dim1": ([(2, 1), (2, 3)], 1),
    "dim-1": ([(2, 2, 1), (2, 2, 3), (2, 2, 2)], -1),
    "single": ([(3, 2)], 0),
    "1d": ([(2,), (3,)], 0),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CATS))
def test_cat_parity(case, dtype, device, rng):
    shapes, dim = CATS[case]
    xs = [rng.standard_normal(s) for s in shapes]
    check_parity(lambda *ts: minicnn.cat(ts, dim), lambda *ts: torch.cat(ts, dim), xs,
                 dtype=dtype, device=device)
    check_parity(lambda *ts: minicnn.cat(list(ts), dim=dim),
                 lambda *ts: torch.cat(list(ts), dim=dim), xs, dtype=dtype, device=device)
    assert_gradcheck(lambda *ts: minicnn.cat(ts, dim), xs, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack_parity(dim, dtype, device, rng):
    xs = [rng.standard_normal((2, 3)) for _ in range(3)]
    check_parity(lambda *ts: minicnn.stack(ts, dim), lambda *ts: torch.stack(ts, dim), xs,
                 dtype=dtype, device=device)
    assert_gradcheck(lambda *ts: minicnn.stack(ts, dim), xs, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_stack_0d_and_cat_non_contiguous(dtype, device, rng):
    xs = [np.asarray(rng.standard_normal(())) for _ in range(3)]
    check_parity(lambda *ts: minicnn.stack(ts), lambda *ts: torch.stack(ts), xs, dtype=dtype,
                 device=device)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 4))
    check_parity(lambda x, y: minicnn.cat([x.T, y.T], 0), lambda x, y: torch.cat([x.T, y.T], 0),
                 [a, b], dtype=dtype, device=device)
    check_parity(lambda x, y: minicnn.stack([x.T, y.T[:2]], 1),
                 lambda x, y: torch.stack([x.T, y.T[:2]], 1), [a, b], dtype=dtype,
                 device=device)


def test_cat_with_a_constant_input(device, rng):
    """Only the inputs that require grad get a gradient; the same tensor twice gets both."""
    a = minicnn.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    c = minicnn.tensor(rng.standard_normal((1, 3)), device=device)
    y = minicnn.cat([a, c, a], 0)
    y.backward(minicnn.tensor(np.arange(15.0).reshape(5, 3), device=device))
    assert c.grad is None
    g = np.arange(15.0).reshape(5, 3)
    np.testing.assert_array_equal(a.grad.numpy(), g[:2] + g[3:])


def test_cat_stack_errors(device):
    a = minicnn.tensor(np.zeros((2, 3)), device=device)
    b = minicnn.tensor(np.zeros((3, 3)), device=device)
    with pytest.raises(ValueError):
        minicnn.cat([])
    with pytest.raises(RuntimeError):
        minicnn.stack([a, b])
    with pytest.raises(TypeError):
        minicnn.cat([a, np.zeros((2, 3))])
