"""``Adam`` and ``AdamW`` (decoupled weight decay), with PyTorch's update rules."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.kernels import optim as kernels
from minicnn.optim.optimizer import Optimizer


def _lerp_(m: Any, g: Any, w: float) -> None:
    """m <- m + w * (g - m) in place, evaluated as PyTorch's ``lerp_`` does."""
    if abs(w) < 0.5:
        m += w * (g - m)
    else:
        m[...] = g - (g - m) * (1 - w)


class Adam(Optimizer):
    """PyTorch's Adam, step for step. For each parameter p with gradient g, at step t:

        p = p * (1 - lr * weight_decay)       (AdamW: decoupled decay)
        g = g + weight_decay * p              (Adam: L2 penalty in the gradient)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)                 (amsgrad; then v_max replaces v below)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    NOTE: eps is added AFTER the bias correction of sqrt(v) (as PyTorch; DeZero adds it
    before). State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v) and
    ``max_exp_avg_sq`` (amsgrad).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                        "amsgrad": amsgrad, "maximize": maximize,
                        "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a gradient (see the class doc)."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                xp = backend.get_array_module(p.data)
                # NOTE: new arrays only; p.grad.data is never written into.
                g = -p.grad.data if group["maximize"] else p.grad.data
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0.0
                    state["exp_avg"] = xp.zeros_like(p.data)
                    state["exp_avg_sq"] = xp.zeros_like(p.data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = xp.zeros_like(p.data)
                m = self._state_array(p, state, "exp_avg")
                v = self._state_array(p, state, "exp_avg_sq")
                state["step"] += 1
                t = state["step"]

                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        p.data *= 1 - lr * weight_decay
                    else:
                        g = g + weight_decay * p.data
                if (type(p.data) is np.ndarray and not group["amsgrad"]
                        and p.data.size >= kernels.PARALLEL_MIN and p.data.flags.c_contiguous
                        and m.flags.c_contiguous and v.flags.c_contiguous):
                    # the same arithmetic in one fused pass (bit-for-bit NumPy's)
                    kernels.adam_update(p.data, g, m, v, beta1, beta2, lr, eps, t)
                    continue
                _lerp_(m, g, 1 - beta1)
                v *= beta2
                v += (1 - beta2) * g * g

                bias_correction1 = 1 - beta1**t
                bias_correction2_sqrt = (1 - beta2**t) ** 0.5
                step_size = lr / bias_correction1
                if group["amsgrad"]:
                    v_max = self._state_array(p, state, "max_exp_avg_sq")
                    xp.maximum(v_max, v, out=v_max)
                    denom = xp.sqrt(v_max) / bias_correction2_sqrt
                else:
                    denom = xp.sqrt(v) / bias_correction2_sqrt
                denom += eps
                p.data += (-step_size * m) / denom
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p = p * (1 - lr * weight_decay)
    before the Adam step, instead of adding weight_decay * p to the gradient.
    Default weight_decay 1e-2, as PyTorch."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
