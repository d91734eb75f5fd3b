"""Bad arguments across the API, each refused before anything runs: a TypeError for a wrong
type, a ValueError for a wrong value, a message naming the argument and what came, and no
state changed (minicnn's random generator, the object's own state)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.data import DataLoader, Subset, TensorDataset
from minicnn.random import get_generator

DS = TensorDataset(np.zeros((10, 2), np.float32), np.arange(10))


class Context:
    """What the calls need, made before the generator's state is taken."""

    def __init__(self) -> None:
        from minicnn.models import CNN2

        self.params = list(nn.Linear(2, 2).parameters())
        self.opt = optim.SGD(list(nn.Linear(2, 2).parameters()), lr=0.1)
        self.model = CNN2()


def _summary(size: tuple) -> Callable:
    def run(c: Context) -> None:
        from minicnn.train import summary

        summary(c.model, size, print_fn=None)

    return run


# (call, error type, a pattern the message must match: the argument and what came)
CASES = [
    # nn layers
    (lambda c: nn.Conv2d(1, 2, kernel_size=2.5), TypeError, r"Conv2d: kernel_size.*float 2\.5"),
    (lambda c: nn.Conv2d(1, 2, kernel_size=True), TypeError, r"kernel_size.*bool True"),
    (lambda c: nn.Conv2d(1, 2, 3, stride=0), ValueError, r"stride must be positive, got 0"),
    (lambda c: nn.Conv2d(1, 2, 3, stride=(1, 2, 3)), ValueError, r"stride.*3 values"),
    (lambda c: nn.Conv2d(1, 2, 3, padding=-1), ValueError, r"padding must be non-negative, got -1"),
    (lambda c: nn.Conv2d(1, 2, 3, padding="full"), ValueError, r"padding string 'full'"),
    (lambda c: nn.Conv2d(1, 2, 3, stride=2, padding="same"), ValueError, r"'same'.*stride"),
    (lambda c: nn.Conv2d(1.0, 2, 3), TypeError, r"in_channels must be an int, got float"),
    (lambda c: nn.Conv2d(1, 0, 3), ValueError, r"out_channels must be positive, got 0"),
    (lambda c: nn.Conv2d(1, 2, 3, dilation=(1, 1.5)), TypeError, r"dilation.*float 1\.5"),
    (lambda c: nn.Conv2d(1, 2, 3, bias="yes"), TypeError, r"bias must be a bool, got str"),
    (lambda c: nn.Linear(3.0, 2), TypeError, r"Linear: in_features must be an int, got float"),
    (lambda c: nn.Linear(3, -1), ValueError, r"out_features must be non-negative, got -1"),
    (lambda c: nn.MaxPool2d(2.0), TypeError, r"MaxPool2d: kernel_size.*float 2\.0"),
    (lambda c: nn.MaxPool2d(0), ValueError, r"kernel_size must be positive, got 0"),
    (lambda c: nn.MaxPool2d(2, stride=1.5), TypeError, r"stride.*float 1\.5"),
    (lambda c: nn.MaxPool2d(2, padding=2), ValueError, r"padding.*half of the kernel"),
    (lambda c: nn.AvgPool2d((2, 2, 2)), ValueError, r"AvgPool2d: kernel_size.*3 values"),
    (lambda c: nn.BatchNorm2d(0), ValueError, r"num_features must be positive, got 0"),
    (lambda c: nn.BatchNorm2d(3.0), TypeError, r"BatchNorm2d: num_features.*float"),
    (lambda c: nn.BatchNorm2d(3, momentum=1.5), ValueError, r"momentum must be in \[0\.0, 1"),
    (lambda c: nn.BatchNorm1d(3, eps="small"), TypeError, r"eps must be a real number, got str"),
    (lambda c: nn.Dropout(1.5), ValueError, r"Dropout: p .*must be in \[0\.0, 1\.0\], got 1\.5"),
    (lambda c: nn.Dropout("0.5"), TypeError, r"Dropout: p .*str '0\.5'"),
    (lambda c: nn.Flatten(start_dim=1.0), TypeError, r"Flatten: start_dim.*float"),
    (lambda c: nn.Softmax(dim="1"), TypeError, r"Softmax: dim must be an int, got str"),
    (lambda c: nn.CrossEntropyLoss(reduction="avg"), ValueError, r"'avg'.*reduction"),
    (lambda c: nn.MSELoss(reduction=None), TypeError, r"MSELoss: reduction.*NoneType"),
    # data
    (lambda c: DataLoader(DS, batch_size=2.7), TypeError, r"batch_size.*float 2\.7"),
    (lambda c: DataLoader(DS, batch_size=0), ValueError, r"batch_size.*got 0"),
    (lambda c: DataLoader(DS, batch_size=-1), ValueError, r"batch_size.*got -1"),
    (lambda c: DataLoader(DS, batch_size=True), TypeError, r"batch_size.*bool True"),
    (lambda c: DataLoader(DS, 2, shuffle="yes"), TypeError, r"shuffle must be a bool, got str"),
    (lambda c: DataLoader(DS, 2, seed=1.5), TypeError, r"seed must be an int or None, got float"),
    (lambda c: DataLoader(DS, 2, seed=-3), ValueError, r"seed must be non-negative, got -3"),
    (lambda c: DataLoader(5, 2), TypeError, r"dataset must be indexable.*int"),
    (lambda c: DataLoader(DS, 2, device="tpu"), ValueError, r"unknown device 'tpu'"),
    (lambda c: Subset(DS, [0.5, 1.0]), TypeError, r"Subset: indices must be integers.*float"),
    (lambda c: Subset(DS, [0, 99]), IndexError, r"Subset indices.*\[0, 99\]"),
    (lambda c: TensorDataset(np.zeros(3), np.zeros(4)), ValueError, r"sizes \[3, 4\]"),
    (lambda c: TensorDataset(np.zeros(3), None), TypeError, r"array 1 .*NoneType"),
    # creation
    (lambda c: minicnn.zeros(2.5), TypeError, r"zeros\(\): size.*float \(2\.5\)"),
    (lambda c: minicnn.zeros(-1), ValueError, r"zeros\(\): size must not be negative"),
    (lambda c: minicnn.ones(True), TypeError, r"ones\(\): size.*bool"),
    (lambda c: minicnn.rand((2, 3.0)), TypeError, r"rand\(\): size.*float \(3\.0\)"),
    (lambda c: minicnn.randn(2, dtype="nonsense"), TypeError, r"randn\(\): dtype.*'nonsense'"),
    (lambda c: minicnn.full((2,), "a"), TypeError, r"full\(\): fill_value must be a number"),
    (lambda c: minicnn.arange(0, 5, 0), ValueError, r"arange\(\): step must be nonzero"),
    (lambda c: minicnn.arange(5, 0), ValueError, r"arange\(\).*step sign"),
    # optimisers and schedulers
    (lambda c: optim.SGD(c.params, lr="0.1"), TypeError, r"SGD: lr must be a real number.*str"),
    (lambda c: optim.SGD(c.params, lr=-1), ValueError, r"Invalid learning rate: -1"),
    (lambda c: optim.SGD(c.params, lr=0.1, momentum=None), TypeError, r"momentum.*NoneType"),
    (lambda c: optim.SGD(c.params, lr=0.1, nesterov=1), TypeError, r"nesterov must be a bool"),
    (lambda c: optim.Adam(c.params, betas=0.9), TypeError, r"Adam: betas must be a pair"),
    (lambda c: optim.Adam(c.params, betas=(0.9, "0.999")), TypeError, r"betas.*'0\.999'"),
    (lambda c: optim.AdamW(c.params, amsgrad="no"), TypeError, r"AdamW: amsgrad must be a bool"),
    (lambda c: optim.Adam(c.params, lr=True), TypeError, r"lr must be a real number.*bool"),
    (lambda c: optim.lr_scheduler.StepLR(c.opt, step_size=0), ValueError, r"step_size.*got 0"),
    (lambda c: optim.lr_scheduler.StepLR(c.opt, step_size=2.5), TypeError, r"step_size.*float"),
    (lambda c: optim.lr_scheduler.ReduceLROnPlateau(c.opt, patience=-1), ValueError,
     r"patience must be at least 0, got -1"),
    (lambda c: optim.lr_scheduler.ReduceLROnPlateau(c.opt, factor="x"), TypeError,
     r"factor must be a real number, got str"),
    # summary
    (_summary((1, 28.0, 28)), TypeError, r"summary: input_size must hold ints"),
    (_summary((0, 28, 28)), ValueError, r"summary: input_size must hold positive sizes"),
]


@pytest.mark.parametrize("call,error,pattern", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_argument_is_refused_before_anything_runs(call: Callable, error: type,
                                                      pattern: str) -> None:
    context = Context()
    weights = [p.detach().numpy().copy() for p in context.params + list(context.model.parameters())]
    rng_state = get_generator().bit_generator.state
    with pytest.raises(error, match=pattern):
        call(context)
    assert get_generator().bit_generator.state == rng_state  # nothing drawn
    after = [p.detach().numpy() for p in context.params + list(context.model.parameters())]
    assert all(np.array_equal(a, b) for a, b in zip(weights, after))
    assert context.opt.state == {} and context.opt.param_groups[0]["lr"] == 0.1


def test_batch_norm_input_checked_before_its_state_changes() -> None:
    bn = nn.BatchNorm2d(3)
    bn(minicnn.randn(4, 3, 2, 2))
    state = {k: v.numpy().copy() for k, v in bn.state_dict().items()}
    versions = {k: v._version for k, v in bn.state_dict().items()}
    bad = [(minicnn.randn(4, 4, 2, 2), ValueError, r"3 channels.*\(4, 4, 2, 2\)"),
           (minicnn.randn(4, 3, 2), ValueError, r"expected 4D input \(got 3D"),
           (np.zeros((4, 3, 2, 2)), TypeError, r"minicnn Tensor input, got ndarray")]
    for x, error, pattern in bad:
        with pytest.raises(error, match=pattern):
            bn(x)
    bn1 = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        bn1(minicnn.randn(1, 3))
    assert int(bn1.num_batches_tracked.item()) == 0
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k])
        assert v._version == versions[k]


def test_a_bad_param_group_leaves_the_optimizer_as_it_was() -> None:
    opt = Context().opt
    groups = [dict(g) for g in opt.param_groups]
    extra = nn.Parameter(minicnn.zeros(2))
    for group, error, pattern in [({"params": [extra], "lr": "fast"}, TypeError, r"lr.*'fast'"),
                                  ({"lr": 0.1}, ValueError, r"'params'"),
                                  ({"params": [extra], "momentum": [0.9]}, TypeError,
                                   r"momentum.*list")]:
        with pytest.raises(error, match=pattern):
            opt.add_param_group(group)
    assert opt.param_groups == groups


def test_reduce_lr_on_plateau_state_of_another_scheduler_is_refused() -> None:
    plateau = optim.lr_scheduler.ReduceLROnPlateau(Context().opt)
    before = dict(plateau.state_dict())
    step = optim.lr_scheduler.StepLR(Context().opt, step_size=2)
    with pytest.raises(ValueError, match=r"unknown entries.*gamma"):
        plateau.load_state_dict(step.state_dict())
    with pytest.raises(ValueError, match=r"mode 'median' is unknown"):
        plateau.load_state_dict({**before, "mode": "median"})
    with pytest.raises(TypeError, match="expected a dict, got list"):
        plateau.load_state_dict([])
    assert plateau.state_dict() == before
