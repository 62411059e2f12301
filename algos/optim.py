"""Adam for the small networks of SAC, where the optimizer's bookkeeping costs as much as its arithmetic."""

from __future__ import annotations

import torch
from torch.optim.adam import adam as functional_adam


def fused_adam_step(params: list[torch.Tensor], grads: list[torch.Tensor], exp_avg: list[torch.Tensor],
                    exp_avg_sq: list[torch.Tensor], step: torch.Tensor, lr: float, betas: tuple[float, float],
                    eps: float) -> None:
    """One Adam step of every tensor in place: the project's one use of a private torch API.

    `torch._fused_adam_` is the kernel behind torch.optim.Adam(fused=True), called without the optimizer's
    per-call regrouping and hook wrappers; docs/benchmarks.md gives the end-to-end gain that keeps it. Where a torch
    release lacks it, torch's public functional Adam runs instead (the same update, not bit for bit).
    """
    kernel = getattr(torch, "_fused_adam_", None)
    if kernel is not None:
        kernel(params, grads, exp_avg, exp_avg_sq, [], [step] * len(params), lr=lr, beta1=betas[0], beta2=betas[1],
               weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)
        return
    steps = [(step - 1).clone() for _ in params]  # the functional form counts the step itself
    functional_adam(params, grads, exp_avg, exp_avg_sq, [], steps, amsgrad=False, beta1=betas[0], beta2=betas[1],
                    lr=lr, weight_decay=0.0, eps=eps, maximize=False)


class Adam:
    """Adam (Kingma and Ba 2015) as one fused step over every parameter (fused_adam_step).

    The tensor lists are built once and all parameters share one step counter, so results match
    torch.optim.Adam(fused=True) bit for bit while every parameter receives a gradient each step. A parameter
    without a gradient is left untouched, moments included; its bias correction still counts the shared step.
    """

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avg: list[torch.Tensor] = []
        self.exp_avg_sq: list[torch.Tensor] = []
        self.step_count: torch.Tensor | None = None  # allocated at the first step, on the parameters' device

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        if self.step_count is None:
            self._init_state()
        self.step_count += 1
        params, grads, exp_avg, exp_avg_sq = self.params, [p.grad for p in self.params], self.exp_avg, self.exp_avg_sq
        if any(g is None for g in grads):
            keep = [i for i, g in enumerate(grads) if g is not None]
            params, grads = [params[i] for i in keep], [grads[i] for i in keep]
            exp_avg, exp_avg_sq = [exp_avg[i] for i in keep], [exp_avg_sq[i] for i in keep]
        if params:
            fused_adam_step(params, grads, exp_avg, exp_avg_sq, self.step_count, self.lr, self.betas, self.eps)

    def _init_state(self) -> None:
        device = self.params[0].device
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.step_count = torch.zeros((), dtype=torch.float32, device=device)

    def state_dict(self) -> dict:
        if self.step_count is None:
            self._init_state()
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "step": self.step_count,
                "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state_dict(self, state: dict) -> None:
        if len(state["exp_avg"]) != len(self.params):
            raise ValueError(f"optimizer state holds {len(state['exp_avg'])} parameters, this one has "
                             f"{len(self.params)}")
        self.lr, self.betas, self.eps = state["lr"], tuple(state["betas"]), state["eps"]
        self.exp_avg = [m.to(p.device, copy=True) for m, p in zip(state["exp_avg"], self.params)]
        self.exp_avg_sq = [v.to(p.device, copy=True) for v, p in zip(state["exp_avg_sq"], self.params)]
        self.step_count = state["step"].to(self.params[0].device, torch.float32, copy=True)
