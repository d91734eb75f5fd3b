"""Bad arguments to the functional ops (and the layers that call them), each refused before
any op runs: the error type (PyTorch's, or TypeError for a wrong type), a message naming the
op, the argument and what came, no warning printed, and nothing changed (the tensors' values
and versions, the layers' state, minicnn's random generator)."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import minicnn
import minicnn.nn.functional as F
from minicnn import nn
from minicnn.autograd.function import Function
from minicnn.ops.checks import DtypeError
from minicnn.random import get_generator

f16, f64 = minicnn.float16, minicnn.float64


class Context:
    """The layers and tensors the calls use, made before anything is watched."""

    def __init__(self) -> None:
        self.conv, self.conv64 = nn.Conv2d(1, 2, 3), nn.Conv2d(1, 2, 3).double()
        self.conv16 = nn.Conv2d(1, 2, 3).half()
        self.lin, self.lin64, self.lin16 = nn.Linear(3, 2), nn.Linear(3, 2).double(), \
            nn.Linear(3, 2).half()
        self.bn, self.bn16 = nn.BatchNorm2d(2), nn.BatchNorm2d(2).half()
        self.bn1 = nn.BatchNorm1d(3)
        self.lstm, self.lstm16 = nn.LSTM(3, 2), nn.LSTM(3, 2).half()
        self.cell = nn.LSTMCell(3, 2)
        self.pool = nn.MaxPool2d(2)
        self.img = minicnn.randn(1, 1, 5, 5)  # float32
        self.img64, self.img16 = self.img.to(f64), self.img.to(f16)
        self.img_int = minicnn.tensor(np.zeros((1, 1, 5, 5), np.int64))
        self.bn_in = minicnn.randn(2, 2, 3, 3)
        self.bn_in64, self.bn_in16 = self.bn_in.to(f64), self.bn_in.to(f16)
        self.x = minicnn.randn(2, 3)
        self.x64, self.x16 = self.x.to(f64), self.x.to(f16)
        self.x_int = minicnn.tensor(np.zeros((2, 3), np.int64))
        self.W, self.W64T = minicnn.randn(2, 3), minicnn.randn(3, 2, dtype=f64)
        self.b, self.b64 = minicnn.zeros(2), minicnn.zeros(2, dtype=f64)
        self.k = minicnn.randn(2, 1, 3, 3)
        self.stats = minicnn.zeros(2), minicnn.ones(2)
        self.var64 = minicnn.ones(2, dtype=f64)
        self.seq = minicnn.randn(4, 1, 3)
        self.seq64, self.seq16 = self.seq.to(f64), self.seq.to(f16)
        self.p, self.p_high = minicnn.tensor([0.25, 0.5]), minicnn.tensor([0.75, 1.5])
        self.t = minicnn.tensor([1.0, 0.0])

    def state(self) -> list[tuple[Any, ...]]:
        """Every tensor's values and version, the layers' included."""
        tensors = [v for v in vars(self).values() if isinstance(v, minicnn.Tensor)]
        tensors += list(self.stats)
        for m in vars(self).values():
            if isinstance(m, nn.Module):
                tensors += list(m.state_dict().values())
        return [(t.numpy().copy(), t._version) for t in tensors]


def _ramp(c: Context) -> minicnn.Tensor:
    return minicnn.tensor(np.linspace(-1, 1, 20000).astype(np.float16))


# (call, error type, a pattern the message must match: the op, the argument, what came)
CASES = [
    # float32 and float64 mixed, integer inputs, float16: PyTorch raises RuntimeError
    (lambda c: c.conv(c.img64), DtypeError,
     r"conv2d: expected input, weight, bias of one dtype, got input float64, weight float32"),
    (lambda c: c.conv64(c.img), DtypeError, r"conv2d: .*input float32, weight float64"),
    (lambda c: F.conv2d(c.img, c.k, c.b64), DtypeError, r"conv2d: .*bias float64"),
    (lambda c: c.conv(c.img_int), DtypeError,
     r"conv2d: input has dtype int64, .*\(supported dtypes: float32, float64\)"),
    (lambda c: c.conv16(c.img16), DtypeError, r"conv2d: input has dtype float16"),
    (lambda c: c.lin(c.x64), DtypeError, r"linear: .*got input float64, weight float32"),
    (lambda c: c.lin64(c.x), DtypeError, r"linear: .*got input float32, weight float64"),
    (lambda c: c.lin(c.x_int), DtypeError, r"linear: input has dtype int64"),
    (lambda c: F.linear(c.x, c.W, c.b64), DtypeError, r"linear: .*bias float64"),
    (lambda c: c.lin16(c.x16), DtypeError, r"linear: input has dtype float16"),
    (lambda c: c.x @ c.W64T, DtypeError,
     r"matmul: expected both operands of one dtype, got float32 and float64"),
    (lambda c: c.bn(c.bn_in64), DtypeError, r"batch_norm: .*input float64, weight float32"),
    (lambda c: F.batch_norm(c.bn_in64, *c.stats, training=True), DtypeError,
     r"batch_norm: .*input float64, running_mean float32, running_var float32"),
    (lambda c: F.batch_norm(c.bn_in, c.stats[0], c.var64), DtypeError,
     r"batch_norm: .*running_var float64"),
    (lambda c: c.bn16(c.bn_in16), DtypeError, r"batch_norm: input has dtype float16"),
    (lambda c: c.bn1(c.x_int), DtypeError, r"batch_norm: input has dtype int64"),
    (lambda c: F.max_pool2d(c.img16, 2), DtypeError, r"max_pool2d: input has dtype float16"),
    (lambda c: c.pool(c.img_int), DtypeError, r"max_pool2d: input has dtype int64"),
    (lambda c: F.avg_pool2d(c.img16, 2), DtypeError, r"avg_pool2d: input has dtype float16"),
    (lambda c: F.relu(_ramp(c)), DtypeError,
     r"relu: input has dtype float16.*float32, float64 and the integer dtypes"),
    (lambda c: c.lstm(c.seq64), DtypeError,
     r"lstm_layer: .*got input float64, h float64, c float64, weight_ih float32"),
    (lambda c: c.lstm16(c.seq16), DtypeError, r"lstm_layer: input has dtype float16"),
    (lambda c: c.cell(c.x64), DtypeError, r"lstm_cell: .*input float64.*weight_ih float32"),
    (lambda c: minicnn.where(c.p, c.p, c.t), DtypeError,
     r"where: expected condition to be a bool tensor, got dtype float32"),
    # probabilities outside [0, 1]
    (lambda c: F.binary_cross_entropy(minicnn.tensor([1.5, 0.5]), c.t), ValueError,
     r"binary_cross_entropy: all elements of input should be between 0 and 1, got values "
     r"in \[0\.5, 1\.5\]"),
    (lambda c: F.binary_cross_entropy(minicnn.tensor([-0.1, 0.5]), c.t), ValueError,
     r"elements of input .*\[-0\.1, 0\.5\]"),
    (lambda c: F.binary_cross_entropy(minicnn.tensor([np.nan, 0.5]), c.t), ValueError,
     r"elements of input .*\[nan, nan\]"),
    (lambda c: F.binary_cross_entropy(c.p, minicnn.tensor([2.0, 0.0])), ValueError,
     r"all elements of target should be between 0 and 1, got values in \[0\.0, 2\.0\]"),
    (lambda c: F.binary_cross_entropy(c.p, minicnn.tensor([-1.0, 0.0]), reduction="sum"),
     ValueError, r"elements of target .*\[-1\.0, 0\.0\]"),
    (lambda c: nn.BCELoss()(c.p_high, c.t), ValueError, r"elements of input .*0\.75, 1\.5"),
    # shapes and dims: TypeError naming the argument
    (lambda c: c.x.reshape(2.5, 2), TypeError,
     r"reshape: shape must be a sequence of ints, got \(2\.5, 2\) \(float 2\.5 at position 0\)"),
    (lambda c: c.x.reshape(True, 6), TypeError, r"reshape: .*\(bool True at position 0\)"),
    (lambda c: c.x.view((3, 2.0)), TypeError, r"view: .*\(float 2\.0 at position 1\)"),
    (lambda c: c.x.sum(0.5), TypeError, r"sum: dim must be an int, got float 0\.5"),
    (lambda c: c.x.sum((0, 1.0)), TypeError, r"sum: dim must be an int, got float 1\.0"),
    (lambda c: c.x.sum(0, keepdim="yes"), TypeError, r"sum: keepdim must be a bool, got str"),
    (lambda c: c.x.mean(True), TypeError, r"mean: dim must be an int, got bool True"),
    (lambda c: c.x.max(0.5), TypeError, r"max: dim must be an int, got float 0\.5"),
    (lambda c: c.x.min(dim=1.0), TypeError, r"min: dim must be an int, got float 1\.0"),
    (lambda c: c.x.argmax(0.5), TypeError, r"argmax: dim must be an int, got float 0\.5"),
    (lambda c: c.x.argmin(1, keepdim=1), TypeError, r"argmin: keepdim must be a bool, got int"),
    (lambda c: c.x.softmax(1.0), TypeError, r"softmax: dim must be an int, got float 1\.0"),
    (lambda c: F.log_softmax(c.x, "1"), TypeError, r"log_softmax: dim must be an int, got str"),
    (lambda c: c.x.permute(0.0, 1), TypeError, r"permute: dims must be an int, got float 0\.0"),
    (lambda c: c.x.transpose(0, 1.0), TypeError, r"transpose: dim1 must be an int, got float"),
    (lambda c: c.x.squeeze(0.0), TypeError, r"squeeze: dim must be an int, got float 0\.0"),
    (lambda c: c.x.unsqueeze(0.5), TypeError, r"unsqueeze: dim must be an int, got float 0\.5"),
    (lambda c: c.x.flatten(start_dim=1.0), TypeError, r"flatten: start_dim must be an int"),
    (lambda c: F.flatten(c.x, 0, None), TypeError, r"flatten: end_dim .*NoneType None"),
    (lambda c: minicnn.cat([c.x, c.x], 0.0), TypeError, r"cat: dim must be an int, got float"),
    (lambda c: minicnn.stack([c.x, c.x], True), TypeError, r"stack: dim .*got bool True"),
    (lambda c: c.x.clamp(min="0"), TypeError, r"clamp: min must be a real number .*str '0'"),
    (lambda c: c.x.clamp(-1.0, [1.0]), TypeError, r"clamp: max .*list \[1\.0\]"),
    (lambda c: c.x.sum(2), IndexError, r"sum: Dimension out of range .*\[-2, 1\].*got 2"),
    # functional forms: the same exception types as their nn twins
    (lambda c: F.max_pool2d(c.img, 2.0), TypeError,
     r"max_pool2d: kernel_size must be an int or a pair of ints, got float 2\.0"),
    (lambda c: F.avg_pool2d(c.img, 2, stride=1.5), TypeError, r"avg_pool2d: stride.*float 1\.5"),
    (lambda c: F.max_pool2d(c.img, 2, padding=(0, True)), TypeError,
     r"max_pool2d: padding .*bool True"),
    (lambda c: F.conv2d(c.img, c.k, stride=1.5), TypeError, r"conv2d: stride.*float 1\.5"),
    (lambda c: F.conv2d(c.img, c.k, dilation=(1, 2.0)), TypeError, r"conv2d: dilation.*2\.0"),
    (lambda c: F.dropout(c.x, "a"), TypeError,
     r"dropout: p \(the dropout probability\) must be a real number, got str 'a'"),
    (lambda c: F.dropout(c.x, True), TypeError, r"dropout: p .*got bool True"),
    (lambda c: F.dropout(c.x, 0.5, "yes"), TypeError, r"dropout: training must be a bool"),
    (lambda c: F.batch_norm(c.bn_in, *c.stats, training="yes"), TypeError,
     r"batch_norm: training must be a bool, got str"),
    (lambda c: F.batch_norm(c.bn_in, *c.stats, training=True, momentum="0.1"), TypeError,
     r"batch_norm: momentum must be a real number, got str"),
    (lambda c: F.batch_norm(c.bn_in, *c.stats, eps=-1.0), ValueError,
     r"batch_norm: eps must be in \[0\.0, inf\], got -1\.0"),
]


@pytest.fixture
def no_op_runs(monkeypatch: pytest.MonkeyPatch) -> Callable:
    """A switch that makes any Function.apply fail: the checks must come first."""
    def forbid() -> None:
        def apply(self: Function, *inputs: Any) -> Any:
            raise AssertionError(f"{self.name} ran before the arguments were checked")

        monkeypatch.setattr(Function, "apply", apply)

    return forbid


@pytest.mark.parametrize("call,error,pattern", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_op_argument_is_refused_before_anything_runs(call: Callable, error: type,
                                                         pattern: str, no_op_runs: Callable
                                                         ) -> None:
    context = Context()
    before = context.state()
    rng_state = get_generator().bit_generator.state
    no_op_runs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy warning on the way fails the test
        with pytest.raises(error, match=pattern):
            call(context)
    assert get_generator().bit_generator.state == rng_state  # nothing drawn
    for (value, version), (now, now_version) in zip(before, context.state()):
        np.testing.assert_array_equal(now, value)
        assert now_version == version


def test_dtype_errors_are_what_pytorch_raises_and_type_errors() -> None:
    """PyTorch raises RuntimeError for these; Python's convention is TypeError: both catch."""
    with pytest.raises(RuntimeError):
        nn.Linear(3, 2)(minicnn.zeros(2, 3, dtype=f64))
    with pytest.raises(TypeError):
        nn.Linear(3, 2)(minicnn.zeros(2, 3, dtype=f64))
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.nn.Linear(3, 2)(torch.zeros(2, 3, dtype=torch.float64))


def test_layers_of_one_dtype_still_run() -> None:
    """The positive control of the dtype checks: float64 layers on float64 inputs."""
    c = Context()
    assert c.conv64(c.img64).dtype == f64
    assert c.lin64(c.x64).dtype == f64
    assert nn.BatchNorm2d(2).double()(c.bn_in64).dtype == f64
    assert nn.LSTM(3, 2).double()(c.seq64)[0].dtype == f64
    assert F.relu(minicnn.tensor(np.arange(-2, 3))).dtype == np.int64


# kernel_size, stride, padding: each bad value given to MaxPool2d / AvgPool2d and to the
# functional form must raise the same exception type
POOL_ARGS = [(2.0, None, 0), (True, None, 0), (2, 1.5, 0), (2, (1, "1"), 0), (2, None, 0.5),
             (0, None, 0), (2, 0, 0), (2, None, 2), (2, None, -1), ((2, 2, 2), None, 0)]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("args", POOL_ARGS, ids=[repr(a) for a in POOL_ARGS])
def test_functional_pooling_raises_as_its_module_twin(kind: str, args: tuple) -> None:
    module = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[kind]
    functional = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
    with pytest.raises((TypeError, ValueError)) as from_module:
        module(*args)
    with pytest.raises((TypeError, ValueError)) as from_functional:
        functional(minicnn.zeros(1, 1, 6, 6), *args)
    assert type(from_functional.value) is type(from_module.value)
    assert f"{kind}_pool2d" in str(from_functional.value)


def test_dropout_raises_as_its_module_twin() -> None:
    for p, error in (("a", TypeError), (True, TypeError), (None, TypeError),
                     (1.5, ValueError), (float("nan"), ValueError)):
        with pytest.raises(error):
            nn.Dropout(p)
        with pytest.raises(error):
            F.dropout(minicnn.zeros(3), p)


def test_bce_range_check_leaves_a_valid_batch_alone() -> None:
    """The boundaries 0 and 1 are valid (a saturated sigmoid), as in PyTorch."""
    p, t = [0.0, 1.0, 0.5], [0.0, 1.0, 1.0]
    got = F.binary_cross_entropy(minicnn.tensor(p), minicnn.tensor(t))
    expected = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t))
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-6)


def test_bce_range_is_not_checked_on_a_device(device: str) -> None:
    """The documented limit (ops/loss.py, ``_check_probabilities``): on a device the check
    would cost a device-to-host sync per call, so an input above 1 gives NaN there."""
    p = minicnn.tensor([1.5, 0.5], device=device)
    t = minicnn.tensor([1.0, 0.0], device=device)
    if device == "cpu":
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.binary_cross_entropy(p, t)
    else:
        with np.errstate(invalid="ignore"):  # the stand-in computes with NumPy underneath
            assert np.isnan(F.binary_cross_entropy(p, t).item())
