"""The LSTM ops (one cell step, one layer over a sequence) against PyTorch and gradcheck, on
every device; both kernel modes; sequences of 1,000 steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from parity import assert_gradcheck, check_parity

import minicnn
import minicnn.kernels
from minicnn.ops.recurrent import lstm_cell, lstm_layer

DTYPES = [np.float64, np.float32]


def _weights(rng: np.random.Generator, D: int, H: int, bias: bool = True) -> list:
    """W_ih (4H, D), W_hh (4H, H) and, with ``bias``, b_ih and b_hh (4H,)."""
    shapes = [(4 * H, D), (4 * H, H)] + ([(4 * H,), (4 * H,)] if bias else [])
    return [rng.standard_normal(s) * 0.5 for s in shapes]


def _torch_weights(prefix: str, weights: tuple) -> dict:
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"][:len(weights)]
    return {f"{name}{prefix}": w for name, w in zip(names, weights)}


def torch_lstm_layer(x, h0, c0, *weights):
    """PyTorch's one-layer nn.LSTM run with the given tensors as its parameters."""
    D, H = weights[0].shape[1], weights[1].shape[1]
    module = torch.nn.LSTM(D, H, bias=len(weights) == 4).to(x.dtype)
    out, (h, c) = torch.func.functional_call(module, _torch_weights("_l0", weights),
                                             (x, (h0[None], c0[None])))
    return out, h[0], c[0]


def torch_lstm_cell(x, h, c, *weights):
    """PyTorch's nn.LSTMCell run with the given tensors as its parameters."""
    D, H = weights[0].shape[1], weights[1].shape[1]
    module = torch.nn.LSTMCell(D, H, bias=len(weights) == 4).to(x.dtype)
    return torch.func.functional_call(module, _torch_weights("", weights), (x, (h, c)))


# (T, N, D, H): one step, short, odd sizes, a batch of one, and 50 steps.
LAYER_CASES = [(1, 3, 4, 5), (2, 2, 3, 4), (7, 5, 6, 3), (11, 1, 2, 8), (50, 4, 5, 6)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LAYER_CASES, ids=str)
def test_lstm_layer_matches_torch(case: tuple, dtype: type, bias: bool, device: str,
                                  rng: np.random.Generator) -> None:
    """output, h_n and c_n, and the gradients of x, h0, c0 and every weight (each output
    backpropagated with its own random gradient)."""
    T, N, D, H = case
    arrays = [rng.standard_normal((T, N, D)), rng.standard_normal((N, H)),
              rng.standard_normal((N, H))] + _weights(rng, D, H, bias)
    check_parity(lstm_layer, torch_lstm_layer, arrays, dtype=dtype, device=device)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [(1, 3, 2), (4, 5, 6), (2, 1, 7)], ids=str)
def test_lstm_cell_matches_torch(case: tuple, dtype: type, bias: bool, device: str,
                                 rng: np.random.Generator) -> None:
    N, D, H = case
    arrays = [rng.standard_normal((N, D)), rng.standard_normal((N, H)),
              rng.standard_normal((N, H))] + _weights(rng, D, H, bias)
    check_parity(lstm_cell, torch_lstm_cell, arrays, dtype=dtype, device=device)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_lstm_cell_gradcheck(bias: bool, device: str, rng: np.random.Generator) -> None:
    arrays = [rng.standard_normal((2, 3)), rng.standard_normal((2, 2)),
              rng.standard_normal((2, 2))] + _weights(rng, 3, 2, bias)
    assert_gradcheck(lstm_cell, arrays, device=device)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_lstm_layer_gradcheck(bias: bool, device: str, rng: np.random.Generator) -> None:
    arrays = [rng.standard_normal((3, 2, 3)), rng.standard_normal((2, 2)),
              rng.standard_normal((2, 2))] + _weights(rng, 3, 2, bias)
    assert_gradcheck(lstm_layer, arrays, device=device)


def test_lstm_layer_gradcheck_longer_sequence(rng: np.random.Generator) -> None:
    """12 steps, checked by a random vector-Jacobian product (one backward)."""
    arrays = [rng.standard_normal((12, 3, 4)), rng.standard_normal((3, 5)),
              rng.standard_normal((3, 5))] + _weights(rng, 4, 5)
    assert_gradcheck(lstm_layer, arrays, fast_mode=True)


def _layer_results(arrays: list, dtype: type) -> list[np.ndarray]:
    inputs = [minicnn.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out, h, c = lstm_layer(*inputs)
    (out.sum() + (h * h).sum() + (c * 3).sum()).backward()
    return [t.detach().numpy() for t in (out, h, c)] + [t.grad.numpy() for t in inputs]


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_modes_agree(dtype: type, rng: np.random.Generator) -> None:
    """The fast kernels (this batch of 32 x 64 units is above their threshold) and the
    reference give the same values and gradients."""
    arrays = [rng.standard_normal((6, 32, 10)), rng.standard_normal((32, 64)),
              rng.standard_normal((32, 64))] + _weights(rng, 10, 64)
    fast = _layer_results(arrays, dtype)
    with minicnn.kernels.use("reference"):
        reference = _layer_results(arrays, dtype)
    tol = dict(rtol=1e-13, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for k, (a, b) in enumerate(zip(fast, reference)):
        np.testing.assert_allclose(a, b, err_msg=f"result {k}", **tol)


def test_a_thousand_steps(rng: np.random.Generator) -> None:
    """1,000 steps in one layer op, and 1,000 chained cell ops: values and gradients equal
    torch's, with no recursion limit in sight (float64)."""
    T, N, D, H = 1000, 2, 3, 4
    arrays = [rng.standard_normal((T, N, D)), rng.standard_normal((N, H)),
              rng.standard_normal((N, H))] + _weights(rng, D, H)
    check_parity(lstm_layer, torch_lstm_layer, arrays, dtype=np.float64)

    x, h, c, *weights = [minicnn.tensor(a, requires_grad=True) for a in arrays]
    xt, ht, ct, *wt = [torch.tensor(a, requires_grad=True) for a in arrays]
    for t in range(T):
        h, c = lstm_cell(x[t], h, c, *weights)
        ht, ct = torch_lstm_cell(xt[t], ht, ct, *wt)
    (h.sum() + c.sum()).backward()
    (ht.sum() + ct.sum()).backward()
    np.testing.assert_allclose(h.detach().numpy(), ht.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in zip([x] + weights, [xt] + wt):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("op", ["layer", "cell"])
@pytest.mark.parametrize("which", [(0, 1, 2), (3, 4, 5, 6), (0, 4), (2, 3)],
                         ids=["inputs_only", "weights_only", "x_and_W_hh", "c_and_W_ih"])
def test_only_some_inputs_need_gradients(which: tuple, op: str,
                                         rng: np.random.Generator) -> None:
    """Inputs that need no gradient get none (and backward skips them); the others' are
    still torch's."""
    shape = (5, 3, 4) if op == "layer" else (3, 4)
    arrays = [rng.standard_normal(shape), rng.standard_normal((3, 2)),
              rng.standard_normal((3, 2))] + _weights(rng, 4, 2)
    mine = [minicnn.tensor(a, requires_grad=k in which) for k, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=k in which) for k, a in enumerate(arrays)]
    fn, t_fn = (lstm_layer, torch_lstm_layer) if op == "layer" else (lstm_cell, torch_lstm_cell)
    out, *_, c = fn(*mine)
    (out.sum() + (c * c).sum()).backward()
    ot, *_, ct = t_fn(*theirs)
    (ot.sum() + (ct * ct).sum()).backward()
    for k, (m, t) in enumerate(zip(mine, theirs)):
        if k not in which:
            assert m.grad is None, f"input {k}"
            continue
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"input {k}")


def test_no_grad_builds_no_graph(rng: np.random.Generator) -> None:
    arrays = [rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 5)),
              rng.standard_normal((2, 5))] + _weights(rng, 3, 5)
    inputs = [minicnn.tensor(a, requires_grad=True) for a in arrays]
    with minicnn.no_grad():
        out, h, c = lstm_layer(*inputs)
    assert not out.requires_grad and out.creator is None
    want = torch_lstm_layer(*(torch.tensor(a) for a in arrays))
    for mine, theirs in zip((out, h, c), want):
        np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_bad_inputs_are_refused(rng: np.random.Generator) -> None:
    W_ih, W_hh, b_ih, b_hh = (minicnn.tensor(a) for a in _weights(rng, 3, 2))
    h = c = minicnn.zeros(4, 2, dtype=minicnn.float64)
    x = minicnn.tensor(rng.standard_normal((5, 4, 3)))
    with pytest.raises(ValueError, match=r"\(T, N, D\)"):
        lstm_layer(x[0], h, c, W_ih, W_hh)
    with pytest.raises(ValueError, match="at least one step"):
        lstm_layer(x[:0], h, c, W_ih, W_hh)
    with pytest.raises(ValueError, match="input has 2 features, weight_ih expects 3"):
        lstm_layer(x[:, :, :2], h, c, W_ih, W_hh)
    with pytest.raises(ValueError, match=r"expected h of shape \(4, 2\), got \(3, 2\)"):
        lstm_layer(x, h[:3], c, W_ih, W_hh)
    with pytest.raises(ValueError, match=r"weight_ih \(4H, D\) and weight_hh \(4H, H\)"):
        lstm_layer(x, h, c, W_ih, W_ih)
    with pytest.raises(ValueError, match="both biases or neither"):
        lstm_layer(x, h, c, W_ih, W_hh, b_ih)
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        lstm_layer(x.float(), h, c, W_ih, W_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        lstm_cell(x, h, c, W_ih, W_hh)
