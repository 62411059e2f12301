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


class MemberAdam(Adam):
    """Adam over ensemble tensors, stepped one member's loss at a time, each member counting its own steps.

    torch.optim.Adam keeps one step count per parameter tensor and starts it at the first step that finds a
    gradient. Lim et al.'s AR-DAE code (lim0606/pytorch-ardae-rl, sac_ardae.py) puts both Q networks in one Adam and
    steps it once per Q loss after zeroing the gradients: at the very first update Q2 has no gradient yet at Q1's
    step, so it starts one step later, and from then on its bias correction runs one step behind Q1's. Here the
    members are slices of shared tensors along `axis`, so each member keeps its own count, and a member takes no
    step before its first own turn. Each member's step is the same fused kernel over that member's slice.
    """

    def __init__(self, params, lr: float, num_members: int, axis: int, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        super().__init__(params, lr, betas, eps)
        self.num_members, self.axis = num_members, axis
        self.started = [False] * num_members  # held on the host, so that a GPU step needs no sync to read it

    @torch.no_grad()
    def step_member(self, turn: int, grads: list[torch.Tensor]) -> None:
        """One optimizer step on member `turn`'s loss: `grads` holds that loss's gradient in member `turn`'s slice
        (other slices are ignored); every member that has started steps on it, the others with a zero gradient."""
        if self.step_count is None:
            self._init_state()
        for member in range(self.num_members):
            if member != turn and not self.started[member]:
                continue  # no gradient yet: torch.optim.Adam skips the tensor and starts no count
            self.started[member] = True
            self.step_count[member] += 1
            views = [[t.select(self.axis, member) for t in tensors]
                     for tensors in (self.params, grads, self.exp_avg, self.exp_avg_sq)]
            params, member_grads, exp_avg, exp_avg_sq = [[v.contiguous() for v in vs] for vs in views]
            if member != turn:
                member_grads = [torch.zeros_like(g) for g in member_grads]
            fused_adam_step(params, member_grads, exp_avg, exp_avg_sq, self.step_count[member], self.lr, self.betas,
                            self.eps)
            for slices, results in zip((views[0], views[2], views[3]), (params, exp_avg, exp_avg_sq)):
                for view, result in zip(slices, results):
                    if view.data_ptr() != result.data_ptr():  # a slice across the group axis was a copy
                        view.copy_(result)

    def step(self) -> None:
        raise RuntimeError("MemberAdam steps one member's loss at a time: call step_member")

    def _init_state(self) -> None:
        super()._init_state()
        self.step_count = torch.zeros(self.num_members, dtype=torch.float32, device=self.params[0].device)

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint of a shared count (written before members counted their own) gives every member that count."""
        super().load_state_dict(state)
        if self.step_count.dim() == 0:
            self.step_count = self.step_count.expand(self.num_members).clone()
        self.started = (self.step_count > 0).tolist()
