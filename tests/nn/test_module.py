"""Module machinery: registration, traversal, modes, devices, state_dict and repr."""
from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import minicnn
from minicnn import nn
from minicnn.autograd.tensor import Tensor


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.register_buffer("scale", minicnn.ones(1))
        self.register_buffer("cache", minicnn.zeros(2), persistent=False)
        self.alpha = nn.Parameter(minicnn.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x))) * self.scale + self.alpha


class TorchBlock(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.act = torch.nn.ReLU()
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("cache", torch.zeros(2), persistent=False)
        self.alpha = torch.nn.Parameter(torch.zeros(1))


def make_net(lib):
    return lib.Sequential(Block() if lib is nn else TorchBlock(), lib.Flatten(),
                          lib.Linear(64, 5), lib.Dropout(0.3))


def test_registration_order_matches_torch() -> None:
    net, ref = make_net(nn), make_net(torch.nn)
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert list(net.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in net.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [n for n, _ in net.named_children()] == [n for n, _ in ref.named_children()]
    assert [tuple(p.shape) for p in net.parameters()] == \
        [tuple(p.shape) for p in ref.parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert "cache" not in net[0].state_dict() and "cache" in dict(net[0].named_buffers())


def test_repr_matches_torch() -> None:
    layers = [
        ("Conv2d", (3, 8, 3), {"padding": 1, "bias": False}),
        ("Conv2d", (1, 2, (3, 5)), {"stride": 2, "padding": "valid", "dilation": 2}),
        ("Conv2d", (2, 2, 3), {"padding": "same"}),
        ("BatchNorm2d", (8,), {}), ("BatchNorm1d", (3,), {"momentum": None, "affine": False}),
        ("MaxPool2d", (2,), {}), ("MaxPool2d", (3, 2, 1), {}), ("AvgPool2d", (2,), {}),
        ("Dropout", (), {}), ("Flatten", (), {}), ("Linear", (4, 3), {}),
        ("Linear", (4, 3), {"bias": False}), ("ReLU", (), {}), ("Sigmoid", (), {}),
        ("Tanh", (), {}), ("Softmax", (1,), {}), ("LogSoftmax", (-1,), {}),
        ("CrossEntropyLoss", (), {}), ("MSELoss", (), {}), ("BCEWithLogitsLoss", (), {}),
        ("Identity", (), {}),
    ]
    mine = nn.Sequential(*[getattr(nn, n)(*a, **k) for n, a, k in layers])
    ref = torch.nn.Sequential(*[getattr(torch.nn, n)(*a, **k) for n, a, k in layers])
    assert repr(mine) == repr(ref)
    nested = nn.Sequential(OrderedDict(block=Block(), head=nn.Linear(2, 2)))
    tnested = torch.nn.Sequential(OrderedDict(block=TorchBlock(), head=torch.nn.Linear(2, 2)))
    assert repr(nested) == repr(tnested).replace("TorchBlock", "Block")
    p = nn.Parameter(minicnn.zeros(2))
    assert repr(p) == "Parameter containing:\ntensor([0., 0.], requires_grad=True)"


def test_train_eval_propagate() -> None:
    net = make_net(nn)
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net[0].train()
    assert net[0].bn.training and not net.training and not net[1].training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError):
        net.train("no")


def test_setattr_rules() -> None:
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = minicnn.zeros(3, 2)
    m.bias = None
    assert m.bias is None and "bias" not in m.state_dict()
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    m.extra = nn.ReLU()
    assert list(dict(m.named_children())) == ["extra"]
    del m.extra
    assert list(m.children()) == []
    with pytest.raises(KeyError):
        m.register_buffer("weight", minicnn.zeros(1))
    with pytest.raises(KeyError):
        m.register_buffer("a.b", minicnn.zeros(1))

    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(minicnn.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_shared_parameters_counted_once() -> None:
    lin = nn.Linear(3, 3)
    net = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(net.parameters())) == 2
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_apply_children_first_and_get_submodule() -> None:
    net = make_net(nn)
    seen: list[str] = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Conv2d", "BatchNorm2d", "ReLU", "Block", "Flatten", "Linear", "Dropout",
                    "Sequential"]
    assert net.get_submodule("0.bn") is net[0].bn
    with pytest.raises(AttributeError):
        net.get_submodule("0.nope")


def test_zero_grad_and_requires_grad(device: str) -> None:
    net = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1)).to(device)
    net(minicnn.randn(4, 3, device=device)).sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    old = grads[0].detach().numpy().copy()
    net.zero_grad(set_to_none=False)
    assert all(float(abs(p.grad).sum()) == 0 for p in net.parameters())
    # the old gradient array is untouched
    np.testing.assert_array_equal(grads[0].detach().numpy(), old)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_to_keeps_parameter_objects(device: str) -> None:
    net = make_net(nn)
    params = list(net.parameters())
    nbt = net[0].bn.num_batches_tracked
    assert net.double() is net
    assert all(a is b for a, b in zip(net.parameters(), params))
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net[0].scale.dtype == np.float64
    assert net[0].bn.num_batches_tracked is nbt and nbt.dtype == np.int64
    net.to(device, minicnn.float32)
    assert all(p.dtype == np.float32 and p.device == device for p in net.parameters())
    assert all(b.device == device for b in net.buffers())
    net.to(dtype=minicnn.float64).float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    with pytest.raises(TypeError):
        net.to(minicnn.int64)
    out = net.eval()(minicnn.randn(2, 3, 4, 4, device=device))
    assert out.shape == (2, 5) and out.device == device


def test_state_dict_values_are_detached_and_shared() -> None:
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"].data is lin.weight.data
    assert lin.state_dict(keep_vars=True)["weight"] is lin.weight


def _problems_sd():
    sd = {k: v.numpy() for k, v in make_net(torch.nn).state_dict().items()}
    del sd["0.bn.running_var"], sd["2.bias"]
    sd["0.conv.weight"] = np.zeros((4, 3, 5, 5), np.float32)
    sd["2.weight"] = np.zeros((5, 63), np.float32)
    sd["extra.weight"] = np.zeros(1)
    sd["0.bn.bias2"] = np.zeros(1)
    return sd


def test_strict_load_reports_everything_and_loads_nothing() -> None:
    net = make_net(nn)
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(_problems_sd())
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:\n\t")
    assert 'Missing key(s) in state_dict: "0.bn.running_var", "2.bias". ' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight", "0.bn.bias2". ' in msg
    assert "size mismatch for 0.conv.weight: copying a param with shape torch.Size([4, 3, 5, " \
           "5]) from checkpoint, the shape in current model is torch.Size([4, 3, 3, 3])." in msg
    assert "size mismatch for 2.weight" in msg
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    # The same message as PyTorch, line for line.
    with pytest.raises(RuntimeError) as tinfo:
        make_net(torch.nn).load_state_dict({k: torch.from_numpy(np.asarray(v))
                                            for k, v in _problems_sd().items()})
    assert sorted(msg.split("\n\t")) == sorted(str(tinfo.value).split("\n\t"))


def test_non_strict_load() -> None:
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    sd = {"0.weight": np.ones((3, 2)), "junk": np.zeros(1)}
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.bias", "1.weight", "1.bias"]
    assert result.unexpected_keys == ["junk"]
    np.testing.assert_array_equal(net[0].weight.detach().numpy(), np.ones((3, 2)))
    assert net[0].weight.dtype == np.float32
    with pytest.raises(RuntimeError, match="size mismatch"):
        net.load_state_dict({"0.weight": np.ones((2, 2))}, strict=False)


def test_load_keeps_arrays_device_and_dtype(device: str) -> None:
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).to(device)
    arrays = [t.data for t in net.state_dict().values()]
    src = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double()
    src[1].num_batches_tracked.data[...] = 7
    net.load_state_dict(src.state_dict())
    after = list(net.state_dict().values())
    assert all(a.data is b for a, b in zip(after, arrays))
    assert net[0].weight.dtype == np.float32 and net[0].weight.device == device
    assert int(net[1].num_batches_tracked.item()) == 7
    np.testing.assert_allclose(net[0].weight.detach().numpy(),
                               src[0].weight.detach().numpy(), rtol=1e-6)


def test_deepcopy_and_pickle() -> None:
    net = make_net(nn)
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert repr(clone) == repr(net)
        assert all(isinstance(p, nn.Parameter) for p in clone.parameters())
        for (_, a), (_, b) in zip(clone.state_dict().items(), net.state_dict().items()):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            assert a.data is not b.data


def test_sequential_and_modulelist() -> None:
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[-1] is layers[2] and list(seq) == layers
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head.state_dict()) == ["2.weight", "2.bias"]
    with pytest.raises(IndexError):
        seq[3]
    del seq[1]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 3
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.Linear(2, 4))
    assert len(ml) == 4 and ml[-1].out_features == 4
    assert list(ml.state_dict())[-1] == "3.bias"
    holder = nn.Module()
    holder.blocks = ml
    assert len(list(holder.parameters())) == 8
    with pytest.raises(NotImplementedError):
        holder(1)
