"""Tensor basics: dtype rules (as PyTorch), attributes, conversions, casts, in-place rules."""
import numpy as np
import pytest
import torch
from parity import check_parity

import minicnn


def test_dtype_rules(device):
    """Python floats -> float32, Python ints -> int64, NumPy arrays keep their dtype."""
    cases = [
        (1.5, np.float32), ([1.0, 2.0], np.float32), ([[1, 2.5]], np.float32),
        (3, np.int64), ([1, 2], np.int64), (True, np.bool_), ([True, False], np.bool_),
        (np.array([1.0]), np.float64), (np.array([1.0], np.float32), np.float32),
        (np.float64(2.0), np.float64), (np.array([1, 2], np.int32), np.int32),
        (np.array(1.0), np.float64),
    ]
    for data, want in cases:
        t = minicnn.tensor(data, device=device)
        assert t.dtype == want, (data, t.dtype)
        assert t.device == device
        assert str(torch.tensor(data).dtype) == "torch." + str(np.dtype(want)), data
    assert minicnn.tensor([1, 2], dtype=minicnn.float64, device=device).dtype == np.float64
    assert minicnn.float32 == np.float32 and minicnn.float64 == np.float64
    assert minicnn.int64 == np.int64 and minicnn.long == np.int64 and minicnn.double == np.float64


def test_tensor_copies_its_input(device):
    arr = np.array([1.0, 2.0])
    t = minicnn.tensor(arr, device=device)
    arr[0] = 9.0
    assert t.numpy()[0] == 1.0


def test_scalar_operands_keep_dtype_and_promotion(device):
    """As PyTorch: x + 1 and x * 2.5 keep float32; int64 + 1.5 is float32; int / int is
    float32; float32 op float64 is float64."""
    f32 = minicnn.tensor(np.ones(2, np.float32), device=device)
    f64 = minicnn.tensor(np.ones(2), device=device)
    i64 = minicnn.tensor([1, 2], device=device)
    b = minicnn.tensor([True, False], device=device)
    t32, t64, ti, tb = (torch.ones(2), torch.ones(2, dtype=torch.float64),
                        torch.tensor([1, 2]), torch.tensor([True, False]))
    pairs = [
        (f32 + 1, t32 + 1), (2.5 * f32, 2.5 * t32), (f32 / 3, t32 / 3), (f32 ** 2, t32 ** 2),
        (2 ** f32, 2 ** t32), (f64 - 1.5, t64 - 1.5), (f32 * f64, t32 * t64),
        (i64 + 1.5, ti + 1.5), (i64 * 2, ti * 2), (i64 / 2, ti / 2), (i64 / i64, ti / ti),
        (1.5 * i64, 1.5 * ti), (i64 + f32, ti + t32), (b + 2, tb + 2), (b * 1.5, tb * 1.5),
        (f32 > 0, t32 > 0), (i64 == 2, ti == 2),
    ]
    for k, (m, t) in enumerate(pairs):
        assert str(t.dtype) == "torch." + str(m.dtype), (k, m.dtype, t.dtype)
        np.testing.assert_array_equal(m.numpy(), t.numpy())


def test_integer_tensors_cannot_require_grad(device):
    with pytest.raises(RuntimeError, match="floating point"):
        minicnn.tensor([1, 2], requires_grad=True, device=device)
    with pytest.raises(RuntimeError):
        minicnn.tensor([1, 2], device=device).requires_grad_()
    with pytest.raises(RuntimeError):
        minicnn.tensor([True], device=device).requires_grad_()
    x = minicnn.tensor([1.0, 2.0], device=device).requires_grad_()
    assert x.requires_grad and x.is_leaf


def test_attributes(device):
    x = minicnn.tensor(np.zeros((2, 3, 4)), device=device)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and len(x) == 2
    s = minicnn.tensor(np.array(2.0), device=device)
    assert s.shape == () and s.numel() == 1
    with pytest.raises(TypeError):
        len(s)


def test_item_and_python_numbers(device):
    x = minicnn.tensor(np.array([[2.5]]), device=device)
    assert x.item() == 2.5 and type(x.item()) is float
    assert float(x) == 2.5 and int(x) == 2 and bool(x)
    n = minicnn.tensor(7, device=device)
    assert n.item() == 7 and type(n.item()) is int
    assert [10, 20, 30][n - 6] == 20  # __index__
    with pytest.raises(ValueError):
        minicnn.tensor([1.0, 2.0], device=device).item()
    assert minicnn.tensor([[1, 2]], device=device).tolist() == [[1, 2]]


def test_numpy(device):
    x = minicnn.tensor(np.array([1.0, 2.0]), requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    out = x.detach().numpy()
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [1, 2])
    np.testing.assert_array_equal((x * 2).detach().numpy(), [2, 4])


@pytest.mark.parametrize("method", ["to", "double", "type_as"])
def test_to_float64_is_differentiable(method, device, rng):
    ref = minicnn.tensor(np.zeros(1), device=device)
    cast = {"to": lambda t: t.to(minicnn.float64), "double": lambda t: t.double(),
            "type_as": lambda t: t.type_as(ref)}[method]
    x = minicnn.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True,
                       device=device)
    y = cast(x)
    assert y.dtype == np.float64 and y.requires_grad and y.creator is not None
    (y * minicnn.tensor(np.array([1.0, 2.0, 3.0]), device=device)).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [1, 2, 3])


def test_to_same_dtype_and_integer_casts(device):
    x = minicnn.tensor(np.array([1.7, -2.2]), requires_grad=True, device=device)
    assert x.to(minicnn.float64) is x and x.to(device) is x
    i = x.long()
    assert i.dtype == np.int64 and not i.requires_grad
    np.testing.assert_array_equal(i.numpy(), [1, -2])
    assert x.float().dtype == np.float32 and x.int().dtype == np.int32
    check_parity(lambda t: t.float() * 2, lambda t: t.float() * 2, [np.array([0.1, 0.2])],
                 dtype=np.float64, device=device)


def test_in_place_rules(device):
    w = minicnn.tensor(np.ones(3), requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="leaf"):
        w.zero_()
    with pytest.raises(RuntimeError):
        w[0] = 5.0
    with minicnn.no_grad():
        w.fill_(2.0)
        w[1] = 3.0
        w.copy_(minicnn.tensor(np.array([4.0, 5.0, 6.0]), device=device))
    np.testing.assert_array_equal(w.detach().numpy(), [4, 5, 6])
    h = w * 2
    h[0] = 1.0  # as PyTorch: a differentiable change of an intermediate
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0, 2, 2])
    c = minicnn.tensor(np.zeros((2, 2)), device=device)
    c[0, 1] = 7.0
    c[minicnn.tensor([1], device=device)] = 1.0
    np.testing.assert_array_equal(c.numpy(), [[0, 7], [1, 1]])
    with pytest.raises(ValueError):
        c.copy_(minicnn.tensor(np.zeros(3), device=device))


def test_repr(device):
    x = minicnn.tensor(np.array([1.0, 2.0]), requires_grad=True, device=device)
    assert repr(x).startswith("tensor([1., 2.]") and "requires_grad=True" in repr(x)
    assert "float64" in repr(x)
    assert "grad_fn=<MulBackward>" in repr(x * 2)
    suffix = "" if device == "cpu" else f", device='{device}'"
    assert repr(minicnn.tensor([1, 2], device=device)) == f"tensor([1, 2]{suffix})"


def test_creation_functions(device):
    """Factories: float32 by default, int64 for integer aranges, on the requested device."""
    for t, shape, dtype in [
        (minicnn.zeros(2, 3, device=device), (2, 3), np.float32),
        (minicnn.ones((2,), device=device), (2,), np.float32),
        (minicnn.full((2, 2), 1.5, device=device), (2, 2), np.float32),
        (minicnn.zeros(2, dtype=minicnn.float64, device=device), (2,), np.float64),
        (minicnn.arange(5, device=device), (5,), np.int64),
        (minicnn.arange(0, 1, 0.25, device=device), (4,), np.float32),
        (minicnn.rand(3, 2, device=device), (3, 2), np.float32),
        (minicnn.randn(4, device=device), (4,), np.float32),
    ]:
        assert t.shape == shape and t.dtype == dtype and t.device == device
    x = minicnn.randn(2, 2, device=device, requires_grad=True)
    assert x.requires_grad and x.is_leaf
    z = minicnn.zeros_like(x)
    assert z.shape == (2, 2) and z.dtype == np.float32 and not z.requires_grad
    assert minicnn.ones_like(x, dtype=minicnn.float64).dtype == np.float64
    minicnn.manual_seed(3)
    a = minicnn.randn(3).numpy()
    minicnn.manual_seed(3)
    np.testing.assert_array_equal(minicnn.randn(3).numpy(), a)
