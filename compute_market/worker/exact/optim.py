"""SGD, AdamW and Adam whose updates are exact-mode kernels, with torch's optimizer interface and state
names, and gradient clipping by global norm.

The state layout is torch's (`momentum_buffer`; `step` as a 0-d float32 tensor, `exp_avg`, `exp_avg_sq`),
so checkpoints and the state hash keep their form. The arithmetic is ours: the per-element update is a
fixed sequence of rounded float32 operations (`gx_sgd`, `gx_adamw`, `gx_adam` in kernels.c), and the
scalars it takes are computed in IEEE double (`exactmath.powi` for beta^t, `math.sqrt` is correctly
rounded) and rounded once to float32. torch's own implementations may fuse multiply-adds on some CPUs and not others.
"""

from __future__ import annotations

import math

import torch

from compute_market import cost
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


class _ExactAdamFamily(torch.optim.Optimizer):
    """Adam with bias correction over torch's state (`step`, `exp_avg`, `exp_avg_sq`); the variants differ
    in how weight decay enters, which `_kernel` says."""

    KERNEL = ""

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _decay_args(self, lr: float, wd: float) -> tuple[float | int, ...]:
        raise NotImplementedError

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
                    *self._decay_args(lr, wd),
                    b1,
                    1.0 - b1,
                    b2,
                    1.0 - b2,
                    step_size,
                    bc2_sqrt,
                    eps,
                )
                native.threads.run(self.KERNEL, p.numel(), 8, *args)


class ExactAdamW(_ExactAdamFamily):
    """Decoupled weight decay, then Adam with bias correction, elementwise as in `gx_adamw`:
    p = p * (1 - lr * wd) (the factor computed in double, rounded once to float32)."""

    KERNEL = "gx_adamw"

    def _decay_args(self, lr: float, wd: float) -> tuple[float | int, ...]:
        return (1.0 - lr * wd,)


class ExactAdam(_ExactAdamFamily):
    """Coupled L2 weight decay (torch.optim.Adam): g = g + wd * p when wd != 0, then Adam with bias
    correction, elementwise as in `gx_adam`."""

    KERNEL = "gx_adam"

    def _decay_args(self, lr: float, wd: float) -> tuple[float | int, ...]:
        return (wd, int(wd != 0))


def clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> float:
    """Scale the gradients of `params` (in the given order: the trainer's sorted name order) to a global L2
    norm of at most `max_norm`, as torch.nn.utils.clip_grad_norm_ does; returns the norm before clipping.

    Every rounding is fixed: each gradient's sum of squares is taken in blocks of `cost.CLIP_BLOCK`
    elements (`gx_sumsq_blocks`: float64, in element order; threads split the blocks, never a block), the
    block sums of all parameters are added in order in float64 (`gx_sum_f64`), total = sqrt of that
    (correctly rounded), coef = max_norm / (total + 1e-6) in double; when coef < 1 (torch clamps it to 1),
    it is rounded once to float32 and every gradient element is multiplied by it (`gx_scale`)."""
    grads = [_flat(p.grad) for p in params if p.grad is not None]
    blocks = [-(-g.numel() // cost.CLIP_BLOCK) for g in grads]
    sums = torch.empty(sum(blocks), dtype=torch.float64)
    offset = 0
    for g, count in zip(grads, blocks, strict=True):
        out = sums.data_ptr() + offset * 8
        native.threads.run(
            "gx_sumsq_blocks", count, cost.CLIP_BLOCK, g.numel(), cost.CLIP_BLOCK, g.data_ptr(), out
        )
        offset += count
    total = math.sqrt(native.library().gx_sum_f64(sums.numel(), sums.data_ptr()))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            native.threads.run("gx_scale", g.numel(), 1, g.data_ptr(), coef)
    return total
