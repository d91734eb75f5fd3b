"""``nn.LSTM`` and ``nn.LSTMCell`` against PyTorch's: same state_dict, same inputs; outputs and
the gradients of the input, the initial states and every parameter; plus initialisation,
dropout between layers, unbatched inputs, errors and repr."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from parity import TOLERANCES

import minicnn
import minicnn.kernels
from minicnn import nn

DTYPES = [np.float64, np.float32]
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _mirror(ref: torch.nn.Module, mine: nn.Module, dtype: type, device: str) -> nn.Module:
    """``mine`` in ``dtype`` on ``device`` with ``ref``'s parameters (``ref`` cast too)."""
    ref.to(TORCH_DTYPE[dtype])
    mine.to(dtype)
    mine.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    return mine.to(device)


def _assert_close(what: str, got: minicnn.Tensor, want: torch.Tensor, dtype: type) -> None:
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    assert got.dtype == np.dtype(dtype), what
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=rtol,
                               atol=atol, err_msg=what)


def _run_both(ref: torch.nn.Module, mine: nn.Module, arrays: list[np.ndarray], dtype: type,
              device: str, rng: np.random.Generator) -> None:
    """Call both modules on the same inputs (``arrays``: the input, then h0 and c0 if given),
    backpropagate one random gradient per output, and compare everything."""
    t_in = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    m_in = [minicnn.tensor(a.astype(dtype), device=device, requires_grad=True) for a in arrays]

    def call(module, inputs):
        out = module(inputs[0], tuple(inputs[1:]) if len(inputs) > 1 else None)
        return [out[0], *out[1]] if isinstance(module, (nn.LSTM, torch.nn.LSTM)) else list(out)

    t_out, m_out = call(ref, t_in), call(mine, m_in)
    for k, (m, t) in enumerate(zip(m_out, t_out, strict=True)):
        assert m.device == device and m.shape == tuple(t.shape), f"output {k}"
        _assert_close(f"output {k}", m, t, dtype)
    gys = [rng.standard_normal(t.shape).astype(dtype) for t in t_out]
    torch.autograd.backward(t_out, [torch.tensor(g) for g in gys])
    total = sum(((m * minicnn.tensor(g, device=device)).sum() for m, g in zip(m_out, gys)),
                start=minicnn.tensor(0.0, device=device, dtype=dtype))
    total.backward()
    for k, (m, t) in enumerate(zip(m_in, t_in)):
        _assert_close(f"gradient of input {k}", m.grad, t.grad, dtype)
    t_params = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        _assert_close(f"gradient of {name}", p.grad, t_params[name].grad, dtype)


@pytest.mark.parametrize("T", [1, 5, 50])
@pytest.mark.parametrize("states", ["given", "zeros"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_first", "batch_first"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_matches_torch(dtype: type, num_layers: int, batch_first: bool, states: str,
                            T: int, device: str, rng: np.random.Generator) -> None:
    N, D, H = 3, 4, 5
    torch.manual_seed(T + num_layers)
    ref = torch.nn.LSTM(D, H, num_layers=num_layers, batch_first=batch_first)
    mine = _mirror(ref, nn.LSTM(D, H, num_layers=num_layers, batch_first=batch_first), dtype,
                   device)
    arrays = [rng.standard_normal((N, T, D) if batch_first else (T, N, D))]
    if states == "given":
        arrays += [rng.standard_normal((num_layers, N, H)) for _ in range(2)]
    _run_both(ref, mine, arrays, dtype, device, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_without_bias(dtype: type, device: str, rng: np.random.Generator) -> None:
    ref = torch.nn.LSTM(3, 4, num_layers=2, bias=False)
    mine = _mirror(ref, nn.LSTM(3, 4, num_layers=2, bias=False), dtype, device)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
    _run_both(ref, mine, [rng.standard_normal((6, 2, 3))], dtype, device, rng)


@pytest.mark.parametrize("states", ["given", "zeros"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_unbatched_input(dtype: type, states: str, device: str,
                              rng: np.random.Generator) -> None:
    """A 2-D input (T, D) is one sequence: output (T, H), states (L, H)."""
    ref = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True)  # batch_first plays no part
    mine = _mirror(ref, nn.LSTM(3, 4, num_layers=2, batch_first=True), dtype, device)
    arrays = [rng.standard_normal((7, 3))]
    if states == "given":
        arrays += [rng.standard_normal((2, 4)) for _ in range(2)]
    _run_both(ref, mine, arrays, dtype, device, rng)


@pytest.mark.parametrize("shape", [(4, 3), (3,)], ids=["batched", "unbatched"])
@pytest.mark.parametrize("states", ["given", "zeros"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell_matches_torch(dtype: type, bias: bool, states: str, shape: tuple,
                                 device: str, rng: np.random.Generator) -> None:
    ref = torch.nn.LSTMCell(3, 5, bias=bias)
    mine = _mirror(ref, nn.LSTMCell(3, 5, bias=bias), dtype, device)
    arrays = [rng.standard_normal(shape)]
    if states == "given":
        arrays += [rng.standard_normal(shape[:-1] + (5,)) for _ in range(2)]
    _run_both(ref, mine, arrays, dtype, device, rng)


def test_kernel_modes_agree(rng: np.random.Generator) -> None:
    """LSTMNet's first layer at batch 64: the fast kernels and the reference agree."""
    lstm = nn.LSTM(28, 128, batch_first=True).double()
    x = rng.standard_normal((64, 28, 28))

    def run() -> list[np.ndarray]:
        xm = minicnn.tensor(x, requires_grad=True)
        lstm.zero_grad()
        out, (h, c) = lstm(xm)
        (out.sum() + (c * c).sum()).backward()
        return [out.detach().numpy(), xm.grad.numpy()] + [p.grad.numpy()
                                                          for p in lstm.parameters()]

    fast = run()
    with minicnn.kernels.use("reference"):
        reference = run()
    for k, (a, b) in enumerate(zip(fast, reference)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=f"result {k}")


def test_state_dict_is_torchs(rng: np.random.Generator) -> None:
    """Same keys in the same order with the same shapes; a torch state_dict (torch tensors as
    they are) loads strictly and gives torch's outputs; ours loads back into torch."""
    ref = torch.nn.LSTM(6, 7, num_layers=3).double()
    mine = nn.LSTM(6, 7, num_layers=3).double()
    t_state, m_state = ref.state_dict(), mine.state_dict()
    assert list(m_state) == list(t_state)
    assert [v.shape for v in m_state.values()] == [tuple(v.shape) for v in t_state.values()]
    mine.load_state_dict(t_state)
    x = rng.standard_normal((4, 2, 6))
    with torch.no_grad(), minicnn.no_grad():
        (ot, (ht, ct)), (om, (hm, cm)) = ref(torch.tensor(x)), mine(minicnn.tensor(x))
    for m, t in ((om, ot), (hm, ht), (cm, ct)):
        np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)
    fresh = torch.nn.LSTM(6, 7, num_layers=3).double()
    fresh.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mine.state_dict().items()})
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, t_state[k]), k


@pytest.mark.parametrize("make", [lambda L: L.LSTM(5, 16, num_layers=2),
                                  lambda L: L.LSTMCell(5, 16)], ids=["LSTM", "LSTMCell"])
def test_initialisation_is_torchs(make) -> None:
    """Every parameter from U(-1/sqrt(H), 1/sqrt(H)) (H = 16: bound 0.25), float32, redrawn
    the same after the same seed; the parameter counts are torch's."""
    minicnn.manual_seed(3)
    mine = make(nn)
    ref = make(torch.nn)
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in ref.parameters())
    values = np.concatenate([p.detach().numpy().ravel() for p in mine.parameters()])
    assert values.dtype == np.float32
    assert np.abs(values).max() <= 0.25
    assert np.abs(values).max() > 0.24 and abs(values.mean()) < 0.02  # spread over the range
    # U(-b, b) has standard deviation b / sqrt(3)
    assert abs(values.std() - 0.25 / np.sqrt(3)) < 0.01
    minicnn.manual_seed(3)
    again = np.concatenate([p.detach().numpy().ravel() for p in make(nn).parameters()])
    np.testing.assert_array_equal(values, again)


def test_dropout_between_layers(rng: np.random.Generator) -> None:
    """Training: layer 2 reads layer 1's output through dropout (minicnn's seeded masks), the
    last layer's output is not dropped; evaluation: no dropout, torch's outputs."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5).double()
    mine = _mirror(ref, nn.LSTM(3, 4, num_layers=2, dropout=0.5), np.float64, "cpu")
    x = rng.standard_normal((5, 2, 3))
    layers = [nn.LSTM(3, 4).double(), nn.LSTM(4, 4).double()]
    for k, layer in enumerate(layers):
        layer.load_state_dict({f"{name}_l0": ref.state_dict()[f"{name}_l{k}"].numpy()
                               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    minicnn.manual_seed(11)
    out, (h, c) = mine(minicnn.tensor(x))
    minicnn.manual_seed(11)
    y1, (h1, c1) = layers[0](minicnn.tensor(x))
    y2, (h2, c2) = layers[1](nn.functional.dropout(y1, 0.5, training=True))
    np.testing.assert_array_equal(out.detach().numpy(), y2.detach().numpy())
    np.testing.assert_array_equal(h.detach().numpy(), np.concatenate([h1.detach().numpy(),
                                                                      h2.detach().numpy()]))
    no_dropout, _ = layers[1](y1)
    assert not np.allclose(out.detach().numpy(), no_dropout.detach().numpy())
    mine.eval()
    ref.eval()
    with torch.no_grad(), minicnn.no_grad():
        np.testing.assert_allclose(mine(minicnn.tensor(x))[0].numpy(),
                                   ref(torch.tensor(x))[0].numpy(), rtol=1e-10, atol=1e-12)


def test_dropout_with_one_layer_warns_as_torch() -> None:
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


def test_unsupported_options_raise() -> None:
    with pytest.raises(NotImplementedError, match="bidirectional"):
        nn.LSTM(3, 4, bidirectional=True)
    with pytest.raises(NotImplementedError, match="proj_size=2"):
        nn.LSTM(3, 4, proj_size=2)


def test_bad_arguments_and_inputs_raise() -> None:
    with pytest.raises(ValueError, match="hidden_size must be a positive integer, got 0"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="num_layers"):
        nn.LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.5)
    lstm, cell = nn.LSTM(3, 4, num_layers=2), nn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        lstm(minicnn.zeros(1, 2, 3, 3))
    with pytest.raises(RuntimeError, match="Expected 3, got 5"):
        lstm(minicnn.zeros(2, 2, 5))
    h = minicnn.zeros(2, 2, 4)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(2, 2, 4\), got "
                                           r"\(1, 2, 4\)"):
        lstm(minicnn.zeros(5, 2, 3), (h, h[:1]))
    with pytest.raises(RuntimeError, match="hx and cx should also be 2-D"):
        lstm(minicnn.zeros(5, 3), (h, h))
    with pytest.raises(TypeError, match=r"tuple \(h0, c0\)"):
        lstm(minicnn.zeros(5, 2, 3), h)
    with pytest.raises(TypeError, match="one dtype"):
        lstm(minicnn.zeros(5, 2, 3, dtype=minicnn.float64))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        cell(minicnn.zeros(1, 2, 3))
    with pytest.raises(RuntimeError, match="got 5, expected 3"):
        cell(minicnn.zeros(2, 5))
    with pytest.raises(RuntimeError, match=r"Expected hx\[0\] of size \(2, 4\), got \(3, 4\)"):
        cell(minicnn.zeros(2, 3), (minicnn.zeros(3, 4), minicnn.zeros(2, 4)))


@pytest.mark.parametrize("args,kwargs", [
    ((28, 128), dict(batch_first=True)),
    ((3, 4), dict(num_layers=2, bias=False, dropout=0.25)),
    ((3, 4), {}),
])
def test_repr_is_torchs(args: tuple, kwargs: dict) -> None:
    assert repr(nn.LSTM(*args, **kwargs)) == repr(torch.nn.LSTM(*args, **kwargs))
    assert repr(nn.LSTMCell(*args[:2])) == repr(torch.nn.LSTMCell(*args[:2]))
    assert repr(nn.LSTMCell(3, 4, bias=False)) == repr(torch.nn.LSTMCell(3, 4, bias=False))
