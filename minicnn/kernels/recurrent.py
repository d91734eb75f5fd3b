"""LSTM cell kernels: the elementwise gate math of one time step, forward and backward.

One step of an LSTM (PyTorch's ``nn.LSTMCell``; gates ordered i, f, g, o) is two GEMMs, left
to BLAS by the caller (``minicnn.ops.recurrent``), and elementwise gate math, done here::

    a  = x W_ih^T + b_ih + h W_hh^T + b_hh = [a_i, a_f, a_g, a_o]   (N, 4H): the caller's GEMMs
    i  = sigmoid(a_i),  f = sigmoid(a_f),  g = tanh(a_g),  o = sigmoid(a_o)   (N, H) each
    c' = f * c + i * g
    h' = o * tanh(c')

Forward (``lstm_cell_forward``) overwrites ``a`` in place with the activations ``[i, f, g, o]``
(what backward needs) and writes ``h'`` and ``c'``.

Backward (``lstm_cell_backward``), given ``dh'`` (the whole gradient reaching h') and ``dc'``
(the gradient reaching c' from the later steps, or from outside for the last one)::

    dct  = dh' * o * (1 - tanh(c')^2) + dc'      (every path into c')
    da_i = dct * g * i * (1 - i)
    da_f = dct * c * f * (1 - f)
    da_g = dct * i * (1 - g^2)
    da_o = dh' * tanh(c') * o * (1 - o)
    dc   = dct * f

``da`` = [da_i, da_f, da_g, da_o] (N, 4H) then gives the GEMM gradients (the caller's):
``dx = da W_ih``, ``dh = da W_hh``, ``dW_ih = da^T x``, ``dW_hh = da^T h``, ``db = sum_n da``.

NOTE: sigmoid(v) is computed from ``z = exp(-|v|)`` as ``s = 1 / (1 + z)`` for v >= 0 and
``z * s`` for v < 0, so that exp never overflows, whatever |v|. All arithmetic stays in the
arrays' dtype (float32 math for float32 data, as PyTorch does).

Three implementations, picked by the entry points with ``minicnn.kernels.implementation``:
``*_reference`` (xp code, the oracle, what this docstring describes), ``*_cpu`` (per block of
rows on minicnn's thread pool: NumPy's SIMD exp/tanh passes, then one fused Numba pass over
the gates for everything else; see the NOTE there) and ``*_gpu`` (numba.cuda, one thread per
state element, ``minicnn.kernels.recurrent_cuda``, imported only for CUDA arrays).
"""
from __future__ import annotations

from typing import Any

import numba
import numpy as np

from minicnn import kernels, memory
from minicnn.backend import get_array_module
from minicnn.parallel import chunks, parallel_for

# N*H below which NumPy arrays take the reference (read at call time; tests shrink it): below
# it, the fixed cost of the CPU path's calls is more than the passes it saves.
CELL_MIN_SIZE = 1024
# State elements (n, j) per task of the CPU path (each reads and writes its four gates).
# NOTE: a task makes six GIL-releasing calls, and two threads trading the GIL that often cost
# more than they save below ~10^5 elements: at the course's 128 x 128 one step took 216 us in
# two tasks of 2^13 and 83 us in one (forward; backward 99 and 33 us; benchmarks/README.md).
TASK_ELEMENTS = 1 << 15


def _check_shapes(a: Any, c: Any) -> tuple[int, int]:
    """``(N, H)`` of gates ``a`` (N, 4H) and cell state ``c`` (N, H); ValueError otherwise."""
    if c.ndim != 2 or a.ndim != 2 or a.shape != (c.shape[0], 4 * c.shape[1]):
        raise ValueError(f"LSTM cell kernel: expected gates of shape (N, 4H) and a cell state "
                         f"of shape (N, H), got {tuple(a.shape)} and {tuple(c.shape)}")
    if a.dtype != c.dtype:
        raise ValueError(f"LSTM cell kernel: gates are {a.dtype} but the cell state is {c.dtype}")
    return c.shape[0], c.shape[1]


# ----------------------------------------------------------------------------------------
# Reference (readable, any xp)
# ----------------------------------------------------------------------------------------

def _sigmoid_reference(v: Any) -> Any:
    xp = get_array_module(v)
    z = xp.exp(-xp.abs(v))
    s = 1 / (1 + z)
    return xp.where(v >= 0, s, z * s)


def lstm_cell_forward_reference(a: Any, c: Any, h_out: Any, c_out: Any) -> None:
    """The gate math of one step in xp: ``a`` (N, 4H) -> [i, f, g, o] in place; ``h_out``,
    ``c_out`` (N, H) get h' and c' (see the module docstring)."""
    xp = get_array_module(a)
    H = c.shape[1]
    i = _sigmoid_reference(a[:, :H])
    f = _sigmoid_reference(a[:, H:2 * H])
    g = xp.tanh(a[:, 2 * H:3 * H])
    o = _sigmoid_reference(a[:, 3 * H:])
    c_new = f * c + i * g
    h_new = o * xp.tanh(c_new)
    a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:] = i, f, g, o
    c_out[...] = c_new
    h_out[...] = h_new


def lstm_cell_backward_reference(dh: Any, dc: Any, acts: Any, c: Any, c_new: Any,
                                 da_out: Any, dc_out: Any) -> None:
    """The gate gradients of one step in xp: ``da_out`` (N, 4H) gets da, ``dc_out`` (N, H) the
    gradient of the previous cell state (it may be ``dc`` itself)."""
    xp = get_array_module(acts)
    H = c.shape[1]
    i, f, g, o = acts[:, :H], acts[:, H:2 * H], acts[:, 2 * H:3 * H], acts[:, 3 * H:]
    tc = xp.tanh(c_new)
    dct = dh * o * (1 - tc * tc) + dc
    da_out[:, :H] = dct * g * i * (1 - i)
    da_out[:, H:2 * H] = dct * c * f * (1 - f)
    da_out[:, 2 * H:3 * H] = dct * i * (1 - g * g)
    da_out[:, 3 * H:] = dh * tc * o * (1 - o)
    dc_out[...] = dct * f


# ----------------------------------------------------------------------------------------
# CPU (NumPy's SIMD exp/tanh, then one fused Numba pass)
# ----------------------------------------------------------------------------------------
# NOTE: inside a Numba loop, exp and tanh are scalar libm calls (measured roughly, on a busy
# 2-core machine: tanh 26 ns, exp 3-8 ns per element) where NumPy's own loops are SIMD
# (tanh 0.3 ns in float32, 3 ns in float64): a step's five transcendentals in one Numba pass
# were 2x *slower* than the reference's twenty NumPy passes. So each block of rows runs the
# transcendentals as NumPy passes into a scratch array, and all the rest (sigmoid's select
# and division, the cell update, the gradients) as one Numba pass, whose loops LLVM can
# vectorise.

@numba.njit(nogil=True, cache=True, error_model="numpy")  # NOTE: see kernels/optim.py
def _forward_rows(a, e, c, c_out, one, r0, r1):  # pragma: no cover (jitted)
    """Rows ``r0:r1``: ``e`` holds [exp(-|a_i|), exp(-|a_f|), tanh(a_g), exp(-|a_o|)];
    ``a`` becomes [i, f, g, o] and ``c_out`` gets c' = f*c + i*g."""
    H = c.shape[1]
    for n in range(r0, r1):
        an, en, cn, co = a[n], e[n], c[n], c_out[n]
        for j in range(H):
            # NOTE: sigmoid(v) = s or z*s with z = exp(-|v|), s = 1/(1+z): a select on the
            # sign, not a branch (the sign is data: a branch would mispredict).
            z = en[j]
            s = one / (one + z)
            i = s if an[j] >= 0 else z * s
            z = en[H + j]
            s = one / (one + z)
            f = s if an[H + j] >= 0 else z * s
            z = en[3 * H + j]
            s = one / (one + z)
            o = s if an[3 * H + j] >= 0 else z * s
            g = en[2 * H + j]
            an[j] = i
            an[H + j] = f
            an[2 * H + j] = g
            an[3 * H + j] = o
            co[j] = f * cn[j] + i * g


@numba.njit(nogil=True, cache=True)
def _backward_rows(dh, dc, acts, c, tc, da, dc_out, one, r0, r1):  # pragma: no cover
    """Rows ``r0:r1`` of the backward, ``tc`` = tanh(c'); ``dc_out`` may be ``dc`` (each
    element is read before it is written)."""
    H = c.shape[1]
    for n in range(r0, r1):
        dhn, dcn, an, cn, tn, dan, don = dh[n], dc[n], acts[n], c[n], tc[n], da[n], dc_out[n]
        for j in range(H):
            i = an[j]
            f = an[H + j]
            g = an[2 * H + j]
            o = an[3 * H + j]
            t = tn[j]
            d_h = dhn[j]
            dct = d_h * o * (one - t * t) + dcn[j]
            dan[j] = dct * g * i * (one - i)
            dan[H + j] = dct * cn[j] * f * (one - f)
            dan[2 * H + j] = dct * i * (one - g * g)
            dan[3 * H + j] = d_h * t * o * (one - o)
            don[j] = dct * f


def _row_tasks(N: int, H: int) -> list[tuple[int, int]]:
    """Row ranges of about ``TASK_ELEMENTS`` elements each (fixed by the shape alone)."""
    return chunks(N, max(1, TASK_ELEMENTS // max(H, 1)))


def lstm_cell_forward_cpu(a: np.ndarray, c: np.ndarray, h_out: np.ndarray,
                          c_out: np.ndarray) -> None:
    """CPU forward of the gate math (same contract as the reference), by blocks of rows."""
    N, H = c.shape
    one = a.dtype.type(1)
    e = memory.empty(a.shape, a.dtype)  # (N, 4H) scratch: exp(-|a|), tanh in the g columns
    tasks = _row_tasks(N, H)

    def task(t: int) -> None:
        r0, r1 = tasks[t]
        ar, er = a[r0:r1], e[r0:r1]
        np.abs(ar, out=er)
        np.negative(er, out=er)
        np.exp(er, out=er)
        np.tanh(ar[:, 2 * H:3 * H], out=er[:, 2 * H:3 * H])
        _forward_rows(a, e, c, c_out, one, r0, r1)
        np.tanh(c_out[r0:r1], out=h_out[r0:r1])
        h_out[r0:r1] *= ar[:, 3 * H:]  # h' = o * tanh(c')

    parallel_for(task, len(tasks))


def lstm_cell_backward_cpu(dh: np.ndarray, dc: np.ndarray, acts: np.ndarray, c: np.ndarray,
                           c_new: np.ndarray, da_out: np.ndarray, dc_out: np.ndarray) -> None:
    """CPU backward of the gate math (same contract as the reference), by blocks of rows."""
    N, H = c.shape
    one = acts.dtype.type(1)
    tc = memory.empty(c.shape, c.dtype)  # (N, H) scratch: tanh(c')
    tasks = _row_tasks(N, H)

    def task(t: int) -> None:
        r0, r1 = tasks[t]
        np.tanh(c_new[r0:r1], out=tc[r0:r1])
        _backward_rows(dh, dc, acts, c, tc, da_out, dc_out, one, r0, r1)

    parallel_for(task, len(tasks))


# ----------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------

def lstm_cell_forward(a: Any, c: Any, h_out: Any = None,
                      c_out: Any = None) -> tuple[Any, Any, Any]:
    """One step's gate math: ``(h', c', acts)``.

    ``a`` (N, 4H) holds the pre-activations ``[a_i, a_f, a_g, a_o]`` and is overwritten with
    the activations ``acts = [i, f, g, o]``; ``c`` (N, H) is the previous cell state;
    ``c' = f*c + i*g`` and ``h' = o*tanh(c')`` go to ``c_out`` and ``h_out`` (N, H) (new
    arrays if None). NumPy -> Numba (from ``CELL_MIN_SIZE`` elements), CUDA arrays ->
    numba.cuda, anything else or reference mode -> the xp reference.
    """
    N, H = _check_shapes(a, c)
    xp = get_array_module(a, c)
    h_out = xp.empty_like(c) if h_out is None else h_out
    c_out = xp.empty_like(c) if c_out is None else c_out
    impl = kernels.implementation(c, min_size=CELL_MIN_SIZE)
    if impl == "numba":
        lstm_cell_forward_cpu(a, c, h_out, c_out)
    elif impl == "cuda":
        from minicnn.kernels import recurrent_cuda  # lazy: numba.cuda only for GPU arrays

        recurrent_cuda.lstm_cell_forward_gpu(a, c, h_out, c_out)
    else:
        lstm_cell_forward_reference(a, c, h_out, c_out)
    return h_out, c_out, a


def lstm_cell_backward(dh: Any, dc: Any, acts: Any, c: Any, c_new: Any, da_out: Any = None,
                       dc_out: Any = None) -> tuple[Any, Any]:
    """One step's gate gradients: ``(da, dc_prev)``.

    ``dh``, ``dc`` (N, H): the gradients reaching h' and c'; ``acts`` (N, 4H): the forward's
    ``[i, f, g, o]``; ``c``, ``c_new`` (N, H): the cell state before and after the step.
    ``da`` (N, 4H) goes to ``da_out`` and the previous cell state's gradient to ``dc_out``
    (new arrays if None; ``dc_out`` may be ``dc``). Dispatch as ``lstm_cell_forward``.
    """
    N, H = _check_shapes(acts, c)
    xp = get_array_module(acts, c)
    da_out = xp.empty_like(acts) if da_out is None else da_out
    dc_out = xp.empty_like(c) if dc_out is None else dc_out
    impl = kernels.implementation(c, min_size=CELL_MIN_SIZE)
    if impl == "numba":
        lstm_cell_backward_cpu(dh, dc, acts, c, c_new, da_out, dc_out)
    elif impl == "cuda":
        from minicnn.kernels import recurrent_cuda  # lazy: numba.cuda only for GPU arrays

        recurrent_cuda.lstm_cell_backward_gpu(dh, dc, acts, c, c_new, da_out, dc_out)
    else:
        lstm_cell_backward_reference(dh, dc, acts, c, c_new, da_out, dc_out)
    return da_out, dc_out
