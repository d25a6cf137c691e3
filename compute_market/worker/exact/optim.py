"""SGD and AdamW whose updates are exact-mode kernels, with torch's optimizer interface and state names.

The state layout is torch's (`momentum_buffer`; `step` as a 0-d float32 tensor, `exp_avg`, `exp_avg_sq`),
so checkpoints and the state hash keep their form. The arithmetic is ours: the per-element update is a
fixed sequence of rounded float32 operations (`gx_sgd`, `gx_adamw` in kernels.c), and the scalars it
takes are computed in IEEE double (`exactmath.powi` for beta^t, `math.sqrt` is correctly rounded) and
rounded once to float32. torch's own implementations may fuse multiply-adds on some CPUs and not others.
"""

from __future__ import annotations

import math

import torch

from compute_market.exactmath import powi
from compute_market.worker.exact import native


def _flat(t: torch.Tensor) -> torch.Tensor:
    if not t.is_contiguous():
        raise ValueError("exact-mode optimizer tensors must be contiguous")
    return t


class ExactSGD(torch.optim.Optimizer):
    """d = g + wd * p; buf = d on the first step, else momentum * buf + d; p = p - lr * buf (or d)."""

    def __init__(self, params: list[torch.Tensor], lr: float, momentum: float, weight_decay: float):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, state = _flat(p.grad.contiguous()), self.state[p]
                first = "momentum_buffer" not in state
                if momentum != 0 and first:
                    state["momentum_buffer"] = torch.empty_like(p)
                buf = state.get("momentum_buffer")
                args = (
                    g.data_ptr(),
                    _flat(p).data_ptr(),
                    None if buf is None else buf.data_ptr(),
                    lr,
                    momentum,
                    wd,
                    int(wd != 0),
                    int(momentum != 0),
                    int(first),
                )
                native.threads.run("gx_sgd", p.numel(), 4, *args)


class ExactAdamW(torch.optim.Optimizer):
    """Decoupled weight decay, then Adam with bias correction, elementwise as in `gx_adamw`."""

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, state = _flat(p.grad.contiguous()), self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0, dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1.0
                t = int(state["step"].item())
                step_size = lr / (1.0 - powi(b1, t))
                bc2_sqrt = math.sqrt(1.0 - powi(b2, t))
                args = (
                    g.data_ptr(),
                    _flat(p).data_ptr(),
                    state["exp_avg"].data_ptr(),
                    state["exp_avg_sq"].data_ptr(),
                    1.0 - lr * wd,
                    b1,
                    1.0 - b1,
                    b2,
                    1.0 - b2,
                    step_size,
                    bc2_sqrt,
                    eps,
                )
                native.threads.run("gx_adamw", p.numel(), 8, *args)
