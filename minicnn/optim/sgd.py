"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from minicnn.kernels import optim as kernels
from minicnn.optim.optimizer import Optimizer


class SGD(Optimizer):
    """PyTorch's SGD, step for step. For each parameter p with gradient g:

        g = g + weight_decay * p                      (if weight_decay != 0)
        if momentum != 0:
            b = g                                     (first step: no dampening)
            b = momentum * b + (1 - dampening) * g    (later steps)
            g = g + momentum * b   if nesterov  else  b
        p = p - lr * g

    (``maximize=True`` negates g first.) State per parameter: ``momentum_buffer``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                        "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD update of every parameter that has a gradient (see the class doc)."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            dampening, weight_decay = group["dampening"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                # NOTE: new arrays only; p.grad.data is never written into.
                g = -p.grad.data if group["maximize"] else p.grad.data
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                if momentum != 0:
                    state = self.state[p]
                    if state.get("momentum_buffer") is None:
                        buf = g.copy()  # NOTE: the first step takes g undampened
                        state["momentum_buffer"] = buf
                    else:
                        buf = self._state_array(p, state, "momentum_buffer")
                        buf *= momentum
                        buf += (1 - dampening) * g
                    g = g + momentum * buf if group["nesterov"] else buf
                kernels.sgd_update(p.data, g, lr)  # p -= lr * g, in place
        return loss
