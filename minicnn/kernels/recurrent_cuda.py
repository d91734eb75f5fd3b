"""numba.cuda kernels for the LSTM cell's gate math (the GPU side of ``kernels.recurrent``).

Imported lazily by ``kernels.recurrent``'s entry points when a CUDA array shows up, so
``import minicnn`` never imports numba.cuda. The equations are in ``kernels.recurrent``'s
docstring; here one thread computes one element (n, j) of the (N, H) state, reading the four
gates ``a[n, j + k*H]`` (k = 0..3), as the CPU kernel's inner loop does. Arrays come through
the CUDA array interface (CuPy; NumPy under Numba's CUDA simulator in the tests).

NOTE: ``one`` is passed in the arrays' dtype, so float32 data is computed in float32 (a
``1.0`` literal would promote every expression to slow float64 on a GPU).
"""
from __future__ import annotations

import math
from typing import Any

from numba import cuda

THREADS_PER_BLOCK = 256


def _blocks(size: int) -> int:
    """Blocks of ``THREADS_PER_BLOCK`` threads that cover ``size`` elements."""
    return (size + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK


@cuda.jit(device=True)
def _sigmoid(v, one):  # pragma: no cover (device code)
    z = math.exp(-abs(v))
    s = one / (one + z)
    return s if v >= 0 else z * s


@cuda.jit
def _forward_kernel(a, c, h_out, c_out, one, H, size):  # pragma: no cover (device code)
    """One thread per (n, j): a[n] -> [i, f, g, o] in place, c' and h' written."""
    k = cuda.grid(1)
    if k >= size:
        return
    n = k // H
    j = k % H
    i = _sigmoid(a[n, j], one)
    f = _sigmoid(a[n, H + j], one)
    g = math.tanh(a[n, 2 * H + j])
    o = _sigmoid(a[n, 3 * H + j], one)
    cc = f * c[n, j] + i * g
    a[n, j] = i
    a[n, H + j] = f
    a[n, 2 * H + j] = g
    a[n, 3 * H + j] = o
    c_out[n, j] = cc
    h_out[n, j] = o * math.tanh(cc)


@cuda.jit
def _backward_kernel(dh, dc, acts, c, c_new, da, dc_out, one, H,
                     size):  # pragma: no cover (device code)
    """One thread per (n, j): the four gate gradients and the previous cell's gradient."""
    k = cuda.grid(1)
    if k >= size:
        return
    n = k // H
    j = k % H
    i = acts[n, j]
    f = acts[n, H + j]
    g = acts[n, 2 * H + j]
    o = acts[n, 3 * H + j]
    tc = math.tanh(c_new[n, j])
    d_h = dh[n, j]
    dct = d_h * o * (one - tc * tc) + dc[n, j]
    da[n, j] = dct * g * i * (one - i)
    da[n, H + j] = dct * c[n, j] * f * (one - f)
    da[n, 2 * H + j] = dct * i * (one - g * g)
    da[n, 3 * H + j] = d_h * tc * o * (one - o)
    dc_out[n, j] = dct * f


def lstm_cell_forward_gpu(a: Any, c: Any, h_out: Any, c_out: Any) -> None:
    """CUDA forward of the gate math: ``a`` (N, 4H) -> [i, f, g, o] in place; ``h_out``,
    ``c_out`` (N, H) get h' = o*tanh(c') and c' = f*c + i*g."""
    N, H = c.shape
    size = N * H
    if size:
        _forward_kernel[_blocks(size), THREADS_PER_BLOCK](a, c, h_out, c_out,
                                                          a.dtype.type(1), H, size)


def lstm_cell_backward_gpu(dh: Any, dc: Any, acts: Any, c: Any, c_new: Any, da_out: Any,
                           dc_out: Any) -> None:
    """CUDA backward of the gate math: ``da_out`` (N, 4H) and ``dc_out`` (N, H, may be ``dc``)
    from ``dh``, ``dc``, ``acts``, ``c``, ``c_new`` (see ``kernels.recurrent``)."""
    N, H = c.shape
    size = N * H
    if size:
        _backward_kernel[_blocks(size), THREADS_PER_BLOCK](dh, dc, acts, c, c_new, da_out,
                                                           dc_out, acts.dtype.type(1), H, size)
