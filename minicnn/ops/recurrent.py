"""LSTM ops: one cell step, and one layer over a whole sequence, each a single Function.

Both run the same kernels (``minicnn.kernels.recurrent``: the gate math of one step, forward
and backward) around their matrix products (BLAS, through ``xp.matmul``).

A Function here has one output array, so each op returns its results packed into one array
and the wrappers hand out views of it (``GetItem``, differentiable): the cell returns
``(2, N, H)`` = [h', c'], the layer ``(T + 1, N, H)`` = [h_1 .. h_T, c_T]; the layer's
``output`` is the first T rows and ``h_n`` is row T - 1 (the gradients of ``output[-1]`` and
``h_n`` add up there, as they must).
"""
from __future__ import annotations

from typing import Any

from minicnn.autograd.function import Function
from minicnn.autograd.tensor import Tensor
from minicnn.backend import get_array_module
from minicnn.kernels import recurrent as kernels
from minicnn.kernels.linalg import matmul
from minicnn.ops.checks import check_float_operands


class LSTMCell(Function):
    """One LSTM step (PyTorch's ``nn.LSTMCell``, gates ordered i, f, g, o).

    Forward, for x (N, D), h and c (N, H), W_ih (4H, D), W_hh (4H, H), b_ih and b_hh (4H,)::

        a  = x W_ih^T + b_ih + h W_hh^T + b_hh = [a_i, a_f, a_g, a_o]     (N, 4H)
        i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);   g = tanh(a_g)
        c' = f * c + i * g
        h' = o * tanh(c')                     -> output [h', c'] (2, N, H)

    Backward, from dh' and dc' (the two halves of the output's gradient)::

        dct = dh' * o * (1 - tanh(c')^2) + dc'
        da  = [dct g i(1-i),  dct c f(1-f),  dct i (1-g^2),  dh' tanh(c') o(1-o)]
        dc  = dct * f
        dx  = da W_ih,   dh = da W_hh,   dW_ih = da^T x,   dW_hh = da^T h,
        db_ih = db_hh = sum over the batch of da
    """

    def forward(self, x: Any, h: Any, c: Any, W_ih: Any, W_hh: Any, b_ih: Any = None,
                b_hh: Any = None) -> Any:
        xp = get_array_module(x, h, c, W_ih)
        a = x @ W_ih.T  # (N, 4H)
        a += h @ W_hh.T
        if b_ih is not None:
            a += b_ih
            a += b_hh
        y = xp.empty((2,) + c.shape, dtype=c.dtype)  # (2, N, H): [h', c']
        kernels.lstm_cell_forward(a, c, h_out=y[0], c_out=y[1])
        need = self.needs_input_grad or (False,) * 5
        # only what backward uses: x for dW_ih, h for dW_hh, W_ih for dx, W_hh for dh
        self.x, self.h = (x if need[3] else None), (h if need[4] else None)
        self.W_ih, self.W_hh = (W_ih if need[0] else None), (W_hh if need[1] else None)
        self.c, self.acts, self.c_new = c, a, y[1]
        return y

    def backward(self, gy: Any) -> tuple:
        need = self.needs_input_grad
        da, dc = kernels.lstm_cell_backward(gy[0], gy[1], self.acts, self.c, self.c_new)
        dx = da @ self.W_ih if need[0] else None
        dh = da @ self.W_hh if need[1] else None
        dW_ih = da.T @ self.x if need[3] else None
        dW_hh = da.T @ self.h if need[4] else None
        grads = (dx, dh, dc if need[2] else None, dW_ih, dW_hh)
        if len(need) > 5:
            db = da.sum(axis=0)  # (4H,): the same for both biases
            grads += (db if need[5] else None, db if need[6] else None)
        return grads


class LSTMLayer(Function):
    """One LSTM layer over a whole sequence: T steps of ``LSTMCell`` in one Function.

    Inputs: x (T, N, D), h0 and c0 (N, H), W_ih (4H, D), W_hh (4H, H), b_ih and b_hh (4H,).
    Output: [h_1 .. h_T, c_T] packed as (T + 1, N, H).

    Forward: one GEMM gives the input part of the gates of every step,
    ``A = X W_ih^T + b_ih + b_hh`` (T*N, 4H); then, for t = 1..T, one small GEMM
    ``A_t += h_{t-1} W_hh^T`` and the cell kernel, which turns ``A_t`` into that step's
    activations (kept for backward) and writes h_t and c_t.

    Backward through time, for t = T..1, with dh_T and dc_T from the output's gradient:
    the cell kernel gives ``dA_t`` and dc_{t-1}; then ``dh_{t-1} = dA_t W_hh`` (+ the output's
    gradient at h_{t-1}). After the loop, one GEMM each over all steps:
    ``dX = dA W_ih``, ``dW_ih = dA^T X``, ``dW_hh = dA^T [h_0 .. h_{T-1}]``,
    ``db_ih = db_hh = sum of dA``. A loop, not a graph of T cells: no recursion at any T.
    """

    def forward(self, x: Any, h0: Any, c0: Any, W_ih: Any, W_hh: Any, b_ih: Any = None,
                b_hh: Any = None) -> Any:
        xp = get_array_module(x, h0, c0, W_ih)
        T, N, D = x.shape
        H = W_hh.shape[1]
        x2 = x.reshape(T * N, D)  # (T*N, D), a copy only if x is not contiguous
        A = matmul(x2, W_ih.T).reshape(T, N, 4 * H)  # (T, N, 4H)
        if b_ih is not None:
            A += b_ih
            A += b_hh
        hs = xp.empty((T + 1, N, H), dtype=x.dtype)  # h_0 .. h_T
        cs = xp.empty((T + 1, N, H), dtype=x.dtype)  # c_0 .. c_T
        hs[0], cs[0] = h0, c0
        for t in range(T):
            A[t] += hs[t] @ W_hh.T
            kernels.lstm_cell_forward(A[t], cs[t], h_out=hs[t + 1], c_out=cs[t + 1])
        need = self.needs_input_grad or (False,) * 5
        # only what backward uses: x for dW_ih, h_0 .. h_{T-1} for dW_hh, W_ih for dx;
        # W_hh, the cell states and the activations for the steps back through time
        self.x2 = x2 if need[3] else None
        self.hs = hs[:T] if need[4] else None
        self.W_ih = W_ih if need[0] else None
        self.cs, self.A, self.W_hh = cs, A, W_hh
        y = xp.empty((T + 1, N, H), dtype=x.dtype)  # [h_1 .. h_T, c_T]
        y[:T] = hs[1:]
        y[T] = cs[T]
        return y

    def backward(self, gy: Any) -> tuple:
        xp = get_array_module(gy)
        need = self.needs_input_grad
        cs, A, W_hh = self.cs, self.A, self.W_hh
        T, N, H4 = A.shape
        H = H4 // 4
        dA = xp.empty_like(A)  # (T, N, 4H)
        dh = gy[T - 1].copy()  # gradient reaching h_T
        dc = gy[T].copy()  # gradient reaching c_T
        for t in range(T - 1, -1, -1):
            kernels.lstm_cell_backward(dh, dc, A[t], cs[t], cs[t + 1], da_out=dA[t],
                                       dc_out=dc)
            dh = dA[t] @ W_hh  # (N, H): gradient reaching h_{t-1} through the step ...
            if t > 0:
                dh += gy[t - 1]  # ... plus the output's gradient at h_{t-1}
        dA2 = dA.reshape(T * N, H4)  # (T*N, 4H)
        dx = matmul(dA2, self.W_ih).reshape(T, N, -1) if need[0] else None
        dW_ih = matmul(dA2.T, self.x2) if need[3] else None
        dW_hh = matmul(dA2.T, self.hs.reshape(T * N, H)) if need[4] else None
        grads = (dx, dh if need[1] else None, dc if need[2] else None, dW_ih, dW_hh)
        if len(need) > 5:
            db = dA2.sum(axis=0)  # (4H,): the same for both biases
            grads += (db if need[5] else None, db if need[6] else None)
        return grads


def _check(x: Tensor, h: Tensor, c: Tensor, W_ih: Tensor, W_hh: Tensor, b_ih: Tensor | None,
           b_hh: Tensor | None, what: str) -> int:
    """H, after checking every shape against ``x`` (..., D) (ValueError otherwise) and the
    dtypes: all float32 or all float64 (DtypeError, a TypeError, otherwise)."""
    H4, D = W_ih.shape if W_ih.ndim == 2 else (None, None)
    if H4 is None or H4 % 4 or W_hh.shape != (H4, H4 // 4):
        raise ValueError(f"{what}: expected weight_ih (4H, D) and weight_hh (4H, H), got "
                         f"{W_ih.shape} and {W_hh.shape}")
    H = H4 // 4
    if x.shape[-1] != D:
        raise ValueError(f"{what}: input has {x.shape[-1]} features, weight_ih expects {D}")
    state = x.shape[-2:-1] + (H,)
    for name, s in (("h", h), ("c", c)):
        if s.shape != state:
            raise ValueError(f"{what}: expected {name} of shape {state}, got {s.shape}")
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{what}: pass both biases or neither")
    if b_ih is not None and (b_ih.shape != (H4,) or b_hh.shape != (H4,)):
        raise ValueError(f"{what}: expected biases of shape ({H4},), got {b_ih.shape} and "
                         f"{b_hh.shape}")
    check_float_operands(what, input=x, h=h, c=c, weight_ih=W_ih, weight_hh=W_hh, bias_ih=b_ih,
                         bias_hh=b_hh)
    return H


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, weight_ih: Tensor, weight_hh: Tensor,
              bias_ih: Tensor | None = None,
              bias_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step: ``(h', c')``, each (N, H), from x (N, D) and the state h, c (N, H).

    ``c' = f*c + i*g``, ``h' = o*tanh(c')`` with the gates of ``LSTMCell``'s docstring.
    """
    _check(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, "lstm_cell")
    if x.ndim != 2:
        raise ValueError(f"lstm_cell: expected input of shape (N, D), got {x.shape}")
    biases = () if bias_ih is None else (bias_ih, bias_hh)
    y = LSTMCell().apply(x, h, c, weight_ih, weight_hh, *biases)
    return y[0], y[1]


def lstm_layer(x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
               bias_ih: Tensor | None = None,
               bias_hh: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """One LSTM layer over a sequence: ``(output, h_n, c_n)``.

    x (T, N, D) (time first), h0 and c0 (N, H); output (T, N, H) holds h_1 .. h_T, and
    h_n = h_T, c_n = c_T are (N, H).
    """
    if x.ndim != 3:
        raise ValueError(f"lstm_layer: expected input of shape (T, N, D), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("lstm_layer: expected a sequence of at least one step, got T = 0")
    _check(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, "lstm_layer")
    biases = () if bias_ih is None else (bias_ih, bias_hh)
    y = LSTMLayer().apply(x, h0, c0, weight_ih, weight_hh, *biases)
    T = x.shape[0]
    return y[:T], y[T - 1], y[T]
