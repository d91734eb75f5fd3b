"""Test helpers: one op checked against PyTorch (values and gradients), and gradcheck.

``check_parity`` is the tinygrad-style helper: the same NumPy inputs go through a minicnn
function and a PyTorch function, outputs are compared, then one random upstream gradient is
pushed back through both and every input's gradient is compared.

    from parity import assert_gradcheck, check_parity

    check_parity(lambda a, b: a * b, lambda a, b: a * b, [x, y], dtype=np.float32,
                 device=device)
    assert_gradcheck(lambda a: a.exp(), [x], device=device)

(``tests/`` is on ``sys.path`` because ``tests/conftest.py`` lives there.)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import minicnn
from minicnn.autograd import Tensor, gradcheck

# (rtol, atol) per float dtype: float64 to 1e-10 relative, float32 to 1e-5.
TOLERANCES = {
    np.dtype(np.float64): (1e-10, 1e-12),
    np.dtype(np.float32): (1e-5, 1e-6),
    np.dtype(np.float16): (1e-3, 1e-3),
}
GY_SEED = 0xC0FFEE


def _as_list(out: Any) -> list:
    """A function's result as a list of outputs (a namedtuple/tuple/list is unpacked)."""
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _mc_inputs(arrays: Sequence[Any], dtype: Any, device: str, grad: bool,
               force_grad: bool = False) -> list:
    """minicnn inputs: float arrays in ``dtype`` (requiring grad), int arrays as int64,
    bool arrays as bool; anything that is not a NumPy array is passed through unchanged."""
    out = []
    for a in arrays:
        if not isinstance(a, np.ndarray):
            out.append(a)
        elif a.dtype.kind == "f":
            out.append(minicnn.tensor(a.astype(dtype), device=device,
                                      requires_grad=grad or force_grad))
        elif a.dtype.kind in "iu":
            out.append(minicnn.tensor(a.astype(np.int64), device=device))
        else:
            out.append(minicnn.tensor(a, device=device))
    return out


def _torch_inputs(arrays: Sequence[Any], dtype: Any, grad: bool) -> list:
    out = []
    for a in arrays:
        if not isinstance(a, np.ndarray):
            out.append(a)
        elif a.dtype.kind == "f":
            out.append(torch.tensor(a.astype(dtype), requires_grad=grad))
        elif a.dtype.kind in "iu":
            out.append(torch.tensor(a.astype(np.int64)))
        else:
            out.append(torch.tensor(a))
    return out


def _to_numpy(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return t.detach().numpy()


def _compare(what: str, got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> None:
    """Assert same shape and ``|got - want| <= atol + rtol |want|`` elementwise (NaN == NaN,
    equal infinities pass); the message gives the worst absolute and relative error."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch's {want.shape}"
    if want.dtype.kind not in "fc":
        mismatch = got != want
        assert not mismatch.any(), (
            f"{what}: {int(mismatch.sum())} of {got.size} elements differ from torch "
            f"(first at {tuple(int(i) for i in np.argwhere(mismatch)[0])}):\n"
            f"minicnn {got}\ntorch   {want}"
        )
        return
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    same_special = (np.isnan(g64) & np.isnan(w64)) | (np.isinf(w64) & (g64 == w64))
    with np.errstate(invalid="ignore", over="ignore"):
        abs_err = np.where(same_special, 0.0, np.abs(g64 - w64))
        abs_err = np.where(np.isnan(abs_err), np.inf, abs_err)
        rel_err = abs_err / np.maximum(np.abs(w64), np.finfo(np.float64).tiny)
        bad = abs_err > atol + rtol * np.abs(w64)
    if bad.any():
        k = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {got.size} elements differ from torch beyond "
            f"rtol={rtol}, atol={atol}; max abs err {abs_err.max():.3e}, max rel err "
            f"{np.max(np.where(bad, rel_err, 0)):.3e}; first at {k}: minicnn {float(g64[k])!r}, "
            f"torch {float(w64[k])!r}"
        )


def check_parity(
    mc_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    arrays: Sequence[Any],
    *,
    dtype: Any,
    device: str = "cpu",
    grad: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    gy: Any = None,
) -> None:
    """Check ``mc_fn`` on minicnn tensors against ``torch_fn`` on torch tensors.

    Both get tensors built from the same ``arrays``: float NumPy arrays are cast to ``dtype``
    (and require grad when ``grad``), integer arrays become int64 tensors, bool arrays bool
    tensors; other items (Python numbers, None...) are passed as they are. Every output (each
    element of a returned tuple) must match torch's in shape, dtype and value. With ``grad``,
    the same upstream gradient (``gy``: one array per float output; by default drawn from a
    fixed-seed normal generator) is backpropagated through both, and every float input's
    ``.grad`` must match (an input torch gives no gradient must get none or zeros).

    Tolerances default by dtype: float64 rtol 1e-10 / atol 1e-12, float32 rtol 1e-5 / atol
    1e-6. Integer and bool outputs must be equal.
    """
    dtype = np.dtype(dtype)
    d_rtol, d_atol = TOLERANCES[dtype]
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol

    mc_in = _mc_inputs(arrays, dtype, device, grad)
    t_in = _torch_inputs(arrays, dtype, grad)
    mc_out = _as_list(mc_fn(*mc_in))
    t_out = _as_list(torch_fn(*t_in))
    assert len(mc_out) == len(t_out), \
        f"minicnn returned {len(mc_out)} outputs, torch {len(t_out)}"

    for k, (m, t) in enumerate(zip(mc_out, t_out, strict=True)):
        assert isinstance(m, Tensor), f"output {k}: expected a minicnn Tensor, got {type(m)}"
        if m.device != device:
            raise AssertionError(f"output {k}: on device {m.device!r}, expected {device!r}")
        want_dtype = np.dtype(str(t.dtype).replace("torch.", ""))
        assert m.dtype == want_dtype, f"output {k}: dtype {m.dtype} != torch's {want_dtype}"
        _compare(f"output {k}", _to_numpy(m), _to_numpy(t), rtol, atol)
        if grad and t.dtype.is_floating_point:
            assert m.requires_grad == t.requires_grad, (
                f"output {k}: requires_grad {m.requires_grad} != torch's {t.requires_grad}"
            )

    if not grad:
        return
    diff = [k for k, t in enumerate(t_out) if t.dtype.is_floating_point and t.requires_grad]
    if not diff:
        return
    if gy is None:
        rng = np.random.default_rng(GY_SEED)
        gys = [rng.standard_normal(t_out[k].shape) for k in diff]
    else:
        gys = _as_list(gy)
        assert len(gys) == len(diff), f"gy: {len(gys)} arrays for {len(diff)} float outputs"
    gys = [np.asarray(g).astype(dtype) for g in gys]

    torch.autograd.backward([t_out[k] for k in diff], [torch.tensor(g) for g in gys])
    for n, (k, g) in enumerate(zip(diff, gys, strict=True)):
        last = n == len(diff) - 1
        # NOTE: one backward per output, so the graph must be kept until the last one.
        mc_out[k].backward(minicnn.tensor(g, device=device), retain_graph=not last)

    for j, (m, t) in enumerate(zip(mc_in, t_in, strict=True)):
        if not (isinstance(t, torch.Tensor) and t.requires_grad):
            continue
        want = np.zeros(t.shape, dtype) if t.grad is None else _to_numpy(t.grad)
        if m.grad is None:
            got = np.zeros(m.shape, dtype)
        else:
            assert m.grad.dtype == dtype, f"input {j}: grad dtype {m.grad.dtype} != {dtype}"
            if m.grad.device != device:
                raise AssertionError(f"input {j}: grad on {m.grad.device!r}, expected {device!r}")
            got = _to_numpy(m.grad)
        _compare(f"gradient of input {j}", got, want, rtol, atol)


def assert_gradcheck(fn: Callable[..., Any], arrays: Sequence[Any], device: str = "cpu",
                     **kw: Any) -> None:
    """Assert ``minicnn.autograd.gradcheck(fn, inputs, **kw)`` passes on float64 inputs.

    Float arrays become float64 tensors requiring grad, integer arrays int64 tensors, bool
    arrays bool tensors; other items are passed through. ``kw`` goes to gradcheck (``eps``,
    ``atol``, ``rtol``, ``fast_mode``...).
    """
    inputs = _mc_inputs(arrays, np.float64, device, grad=True)
    assert gradcheck(fn, inputs, **kw)
