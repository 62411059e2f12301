"""Between a group of seeds and its single-seed agents: stack G agents into one group agent, and read or write
member g's slice in exactly the format of a single-seed agent's state (its checkpoint).

Every group parameter, buffer and optimizer moment is the single-seed tensor of the same name with a leading
member axis (algos.members), so both directions are a stack or an index along axis 0 of each named tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from algos.optim import Adam
from algos.sac import SAC


def stack_modules(group: nn.Module, singles: Sequence[nn.Module]) -> None:
    """Loads `singles` into `group`, member g from singles[g]; the names must match, as they do by construction."""
    _load_stacked_module(group, [single.state_dict() for single in singles])


def _load_stacked_module(group: nn.Module, states: Sequence[dict]) -> None:
    group.load_state_dict({name: torch.stack([state[name] for state in states]) for name in states[0]})


def member_module_state(group: nn.Module, g: int) -> dict[str, torch.Tensor]:
    """Member g's state_dict, loadable into the single-seed module."""
    return {name: value[g].clone() for name, value in group.state_dict().items()}


def load_member_module_state(group: nn.Module, g: int, state: dict[str, torch.Tensor]) -> None:
    """Writes a single-seed module's state into member g's slice, leaving the other members untouched."""
    own = group.state_dict()
    if own.keys() != state.keys():
        raise ValueError(f"member state keys differ from the group's: {sorted(own.keys() ^ state.keys())}")
    with torch.no_grad():
        for name, value in state.items():
            own[name][g].copy_(value)


def _common_step(states: Sequence[dict]) -> torch.Tensor:
    """The group's Adam step count (one per ensemble member under sequential critic steps): members always step
    together, so their counts must agree."""
    steps = {tuple(state["step"].reshape(-1).tolist()) for state in states}
    if len(steps) != 1:
        raise ValueError(f"members' optimizers are at different steps {sorted(steps)}; a group steps them together")
    return states[0]["step"]


def stack_optimizers(group: Adam, singles: Sequence[Adam]) -> None:
    _load_stacked_optimizer(group, [single.state_dict() for single in singles])


def _load_stacked_optimizer(group: Adam, states: Sequence[dict]) -> None:
    first = states[0]
    group.load_state_dict({
        "lr": first["lr"], "betas": first["betas"], "eps": first["eps"], "step": _common_step(states),
        "exp_avg": [torch.stack(moments) for moments in zip(*(state["exp_avg"] for state in states))],
        "exp_avg_sq": [torch.stack(moments) for moments in zip(*(state["exp_avg_sq"] for state in states))]})


def member_optimizer_state(group: Adam, g: int) -> dict:
    state = group.state_dict()
    return {**state, "step": state["step"].clone(), "exp_avg": [m[g].clone() for m in state["exp_avg"]],
            "exp_avg_sq": [v[g].clone() for v in state["exp_avg_sq"]]}


def load_member_optimizer_state(group: Adam, g: int, state: dict) -> None:
    own = group.state_dict()
    _common_step([own, state])
    for mine, theirs in zip(own["exp_avg"] + own["exp_avg_sq"], state["exp_avg"] + state["exp_avg_sq"]):
        mine[g].copy_(theirs)


def stack_agents(group: SAC, singles: Sequence[SAC]) -> None:
    """Makes member g of `group` the agent singles[g]: networks, targets, temperature, estimator state, optimizers."""
    if group.members is None or group.members.size != len(singles):
        raise ValueError(f"a group of {getattr(group.members, 'size', None)} members cannot hold {len(singles)} agents")
    for name, module in group.modules().items():
        stack_modules(module, [single.modules()[name] for single in singles])
    for name, optim in group.optimizers().items():
        stack_optimizers(optim, [single.optimizers()[name] for single in singles])


def load_stacked_state_dicts(group: SAC, states: Sequence[dict]) -> None:
    """Makes member g the agent whose SAC.state_dict() is states[g]: a group resumed from its members' checkpoints
    (all of one step, so their optimizers agree on the step count)."""
    if group.members is None or group.members.size != len(states):
        raise ValueError(f"a group of {getattr(group.members, 'size', None)} members cannot hold {len(states)} states")
    for name, module in group.modules().items():
        _load_stacked_module(module, [state["modules"][name] for state in states])
    for name, optim in group.optimizers().items():
        _load_stacked_optimizer(optim, [state["optimizers"][name] for state in states])


def member_state_dict(group: SAC, g: int) -> dict:
    """Member g as SAC.state_dict() of a single-seed agent: what a per-member checkpoint slice holds."""
    return {"modules": {name: member_module_state(m, g) for name, m in group.modules().items()},
            "optimizers": {name: member_optimizer_state(o, g) for name, o in group.optimizers().items()}}


def load_member_state_dict(group: SAC, g: int, state: dict) -> None:
    """The inverse of member_state_dict: a single-seed agent's state becomes member g."""
    for name, module in group.modules().items():
        load_member_module_state(module, g, state["modules"][name])
    for name, optim in group.optimizers().items():
        load_member_optimizer_state(optim, g, state["optimizers"][name])


def load_member_modules(single: SAC, group: SAC, g: int) -> None:
    """Makes the single-seed agent `single` act and report as member g (networks, temperature, estimator state;
    not the optimizers): evaluating it is evaluating the member, with a single run's code and numbers."""
    for name, module in single.modules().items():
        module.load_state_dict(member_module_state(group.modules()[name], g))
