"""``LSTM`` and ``LSTMCell``, with PyTorch's arguments, parameter names and initialisation.

A PyTorch ``state_dict`` loads as it is: the gates are stacked in the order i, f, g, o
(rows ``k*H .. (k+1)*H - 1`` of every weight and bias belong to gate k), and every parameter
is drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch draws them. The math
is in ``minicnn.ops.recurrent`` (one Function per step of ``LSTMCell``, one per layer and
whole sequence of ``LSTM``).
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from minicnn import backend
from minicnn.autograd.tensor import Tensor
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.nn.modules.module import Module
from minicnn.nn.modules.parameter import empty_parameter
from minicnn.ops.recurrent import lstm_cell, lstm_layer
from minicnn.ops.shape import stack


def _zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A zero state of ``shape`` on ``like``'s device, in its dtype (no gradient)."""
    return Tensor(backend.get_array_module(like.data).zeros(shape, dtype=like.dtype))


def _check_sizes(input_size: Any, hidden_size: Any) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class LSTMCell(Module):
    """One LSTM step: ``(h', c') = cell(x, (h, c))``.

    ``i, f, o = sigmoid(.)``, ``g = tanh(.)`` of the rows of
    ``x W_ih^T + b_ih + h W_hh^T + b_hh``; ``c' = f*c + i*g``; ``h' = o*tanh(c')``.

    Input (N, input_size) or unbatched (input_size,); ``hx = (h, c)``, each (N, hidden_size)
    (or (hidden_size,)), zeros if omitted. Parameters ``weight_ih`` (4*hidden, input),
    ``weight_hh`` (4*hidden, hidden), ``bias_ih`` and ``bias_hh`` (4*hidden,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        H4 = 4 * hidden_size
        self.weight_ih = empty_parameter(H4, input_size, device=device, dtype=dtype)
        self.weight_hh = empty_parameter(H4, hidden_size, device=device, dtype=dtype)
        if bias:
            self.bias_ih = empty_parameter(H4, device=device, dtype=dtype)
            self.bias_hh = empty_parameter(H4, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None,
                ) -> tuple[Tensor, Tensor]:
        if input.ndim not in (1, 2):
            raise ValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.ndim}D "
                             "instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"LSTMCell: input has inconsistent input_size: got "
                               f"{input.shape[-1]}, expected {self.input_size}")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        state = (x.shape[0], self.hidden_size)
        if hx is None:
            h = c = _zeros(state, x)
        else:
            h, c = hx
            for k, s in enumerate((h, c)):
                if s.ndim != input.ndim:
                    raise ValueError(f"LSTMCell: Expected hx[{k}] to be {input.ndim}D like the "
                                     f"input, got {s.ndim}D instead")
            if not batched:
                h, c = h.unsqueeze(0), c.unsqueeze(0)
            for k, s in enumerate((h, c)):
                if s.shape != state:
                    raise RuntimeError(f"LSTMCell: Expected hx[{k}] of size {state}, got "
                                       f"{s.shape}")
        h, c = lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if not batched:
            h, c = h.squeeze(0), c.squeeze(0)
        return h, c

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LSTM(Module):
    """A multi-layer LSTM over a sequence: ``output, (h_n, c_n) = lstm(x, (h0, c0))``.

    Layer k runs ``LSTMCell``'s step for t = 1..T on the output of layer k - 1 (the input for
    k = 0), from the state ``h0[k]``, ``c0[k]`` (zeros if ``hx`` is omitted). With
    ``dropout`` > 0, in training mode, the output of every layer but the last goes through
    dropout before the next (masks from minicnn's seeded generator).

    Shapes (L = num_layers, H = hidden_size): input (T, N, input_size), or (N, T, input_size)
    with ``batch_first``, or unbatched (T, input_size); ``h0``, ``c0`` (L, N, H) (unbatched:
    (L, H)). ``output`` holds the last layer's h_t for every t: (T, N, H) ((N, T, H) with
    ``batch_first``); ``h_n``, ``c_n`` (L, N, H) are every layer's state after step T.
    ``batch_first`` does not apply to the states, as in PyTorch.

    Parameters per layer k: ``weight_ih_l{k}`` (4H, input_size for k = 0 else H),
    ``weight_hh_l{k}`` (4H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,). ``bidirectional``
    and ``proj_size`` are accepted for PyTorch's signature; anything but their defaults raises
    NotImplementedError.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size)
        if bidirectional:
            raise NotImplementedError("minicnn.nn.LSTM: bidirectional=True is not supported")
        if proj_size != 0:
            raise NotImplementedError(f"minicnn.nn.LSTM: proj_size={proj_size} is not "
                                      "supported (only 0)")
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"num_layers must be an integer of at least 1, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Number) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        H4 = 4 * hidden_size
        for k in range(num_layers):
            layer_input = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}",
                    empty_parameter(H4, layer_input, device=device, dtype=dtype))
            setattr(self, f"weight_hh_l{k}",
                    empty_parameter(H4, hidden_size, device=device, dtype=dtype))
            if bias:
                setattr(self, f"bias_ih_l{k}", empty_parameter(H4, device=device, dtype=dtype))
                setattr(self, f"bias_hh_l{k}", empty_parameter(H4, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _layer_weights(self, k: int) -> tuple[Any, ...]:
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        return tuple(getattr(self, f"{name}_l{k}") for name in names)

    def _initial_state(self, hx: Any, x: Tensor, batched: bool) -> tuple[Tensor, Tensor] | None:
        """(h0, c0) as (L, N, H), checked; None for zeros."""
        if hx is None:
            return None
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError("LSTM: hx must be a tuple (h0, c0)")
        h0, c0 = hx
        dims = 3 if batched else 2
        if h0.ndim != dims or c0.ndim != dims:
            raise RuntimeError(f"LSTM: for {dims}-D input, hx and cx should also be {dims}-D "
                               f"but got ({h0.ndim}-D, {c0.ndim}-D) tensors")
        if not batched:
            h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        expected = (self.num_layers, x.shape[1], self.hidden_size)
        for k, s in enumerate((h0, c0)):
            if s.shape != expected:
                raise RuntimeError(f"LSTM: Expected hidden[{k}] size {expected}, got {s.shape}")
        return h0, c0

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None,
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if input.ndim not in (2, 3):
            raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"LSTM: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")
        batched = input.ndim == 3
        if not batched:
            x = input.unsqueeze(1)  # (T, 1, I)
        elif self.batch_first:
            x = input.transpose(0, 1)  # (N, T, I) -> (T, N, I)
        else:
            x = input
        state = self._initial_state(hx, x, batched)
        zero = _zeros(x.shape[1:2] + (self.hidden_size,), x) if state is None else None
        h_n, c_n = [], []
        for k in range(self.num_layers):
            h0, c0 = (zero, zero) if state is None else (state[0][k], state[1][k])
            x, h, c = lstm_layer(x, h0, c0, *self._layer_weights(k))
            h_n.append(h)
            c_n.append(c)
            if self.dropout and self.training and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_stack, c_stack = stack(h_n), stack(c_n)  # (L, N, H)
        if not batched:
            return x.squeeze(1), (h_stack.squeeze(1), c_stack.squeeze(1))
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, N, H) -> (N, T, H)
        return x, (h_stack, c_stack)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s
