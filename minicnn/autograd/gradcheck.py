"""``gradcheck``: analytic gradients against central finite differences, in float64."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.autograd.grad_mode import no_grad
from minicnn.autograd.tensor import Tensor


class GradcheckError(RuntimeError):
    """An analytic gradient disagrees with its numeric estimate."""


def _outputs(func: Callable, inputs: tuple) -> list[Tensor]:
    out = func(*inputs)
    out = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in out if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _flat_outputs(func: Callable, inputs: tuple) -> np.ndarray:
    with no_grad():
        outs = _outputs(func, inputs)
    if not outs:
        return np.zeros(0)
    return np.concatenate([backend.to_host(o.data).ravel() for o in outs])


def _numeric_column(func: Callable, inputs: tuple, x: Tensor, i: int, eps: float,
                    x_host: np.ndarray) -> np.ndarray:
    """d(all outputs, flattened) / d(x.flat[i]) by the central difference (f(+eps)-f(-eps))/2eps.

    ``x_host`` is a host copy of x's values: the element is read there (no device-to-host
    transfer per element) and written into x's array on its device as a Python float.
    """
    idx = np.unravel_index(i, x.shape)
    orig = float(x_host[idx])
    x.data[idx] = orig + eps
    plus = _flat_outputs(func, inputs)
    x.data[idx] = orig - eps
    minus = _flat_outputs(func, inputs)
    x.data[idx] = orig
    return (plus - minus) / (2 * eps)


def _analytic_vjp(func: Callable, inputs: tuple, diff: list[int], v: list[np.ndarray]) -> list:
    """v^T J for every differentiable input: one backward of sum_k <out_k, v_k>."""
    for j in diff:
        inputs[j].grad = None
    outs = _outputs(func, inputs)
    total = None
    for o, vk in zip(outs, v):
        if not o.requires_grad:
            continue
        term = (o * Tensor(backend.to_device(vk.reshape(o.shape), backend.device_of(o.data)))).sum()
        total = term if total is None else total + term
    grads = []
    if total is not None:
        total.backward()
    for j in diff:
        g = inputs[j].grad
        grads.append(np.zeros(inputs[j].shape) if g is None else backend.to_host(g.data))
        inputs[j].grad = None
    return grads


def gradcheck(
    func: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    fast_mode: bool = False,
    seed: int = 0,
) -> bool:
    """Check the gradients of ``func`` at ``inputs`` against central finite differences.

    For every float64 input with ``requires_grad`` the full Jacobian J (d out / d in, all
    outputs flattened and joined) is built twice: analytically, one backward per output element
    (the rows e_k^T J), and numerically, column by column,
    ``J[:, i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``. Every element must satisfy
    ``|analytic - numeric| <= atol + rtol * |numeric|``, as in ``torch.autograd.gradcheck``.
    ``fast_mode=True`` instead compares one vector-Jacobian product ``v^T J`` with a random
    ``v``, element by element (one backward instead of one per output element).

    Inputs must be float64: float32 central differences are too imprecise to judge anything.
    On a mismatch it raises ``GradcheckError`` naming the input, the element, both values (or
    returns False when ``raise_exception`` is False).
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [j for j, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input has requires_grad=True; nothing to check")
    for j in diff:
        if inputs[j].dtype != np.float64:
            raise ValueError(
                f"gradcheck: input {j} has dtype {inputs[j].dtype}; gradcheck needs float64 "
                "inputs (float32 is too imprecise for finite differences): call .double() first"
            )
    n_out = _flat_outputs(func, inputs).size
    if n_out == 0:
        raise ValueError("gradcheck: func returned no floating point output")
    rng = np.random.default_rng(seed)
    out_shapes = [o.shape for o in _outputs(func, inputs)]
    sizes = [int(np.prod(s)) for s in out_shapes]

    def split(flat: np.ndarray) -> list[np.ndarray]:
        return np.split(flat, np.cumsum(sizes)[:-1])

    if fast_mode:
        v = rng.standard_normal(n_out)
        analytic = [g.ravel()[None, :] for g in _analytic_vjp(func, inputs, diff, split(v))]
        weights = v[None, :]
    else:
        rows = [_analytic_vjp(func, inputs, diff, split(np.eye(1, n_out, k).ravel()))
                for k in range(n_out)]
        analytic = [np.stack([r[d].ravel() for r in rows]) for d in range(len(diff))]
        weights = np.eye(n_out)
    for d, j in enumerate(diff):
        x = inputs[j]
        x_host = backend.to_host(x.data)
        for i in range(x.data.size):
            numeric = weights @ _numeric_column(func, inputs, x, i, eps, x_host)
            got = analytic[d][:, i]
            bad = np.abs(got - numeric) > atol + rtol * np.abs(numeric)
            if bad.any():
                k = int(np.argmax(bad))
                where = f"output element {k}" if not fast_mode else "a random v^T J"
                msg = (
                    f"gradcheck: Jacobian mismatch for input {j} at element "
                    f"{tuple(int(e) for e in np.unravel_index(i, x.shape))}, {where}: "
                    f"analytic {float(got[k])!r}, numeric {float(numeric[k])!r} "
                    f"(eps={eps}, atol={atol}, rtol={rtol})"
                )
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True
