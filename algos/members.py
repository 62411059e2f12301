"""Several seeds of one algorithm trained as one batch: the member axis, each member's own random stream, and the
reductions that keep members apart.

With `members=None` every function here is what the single-seed code did before (torch's global generator, a
mean over the whole tensor), so a single run's numbers do not change.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Members:
    """G independent members: the size of the leading member axis of every tensor and parameter, and one
    torch.Generator per member.

    Member g's noise is drawn from its own generator with the shape a single run would draw, then written into
    slice g of the batched tensor. A member whose generator starts in the state a single run's global generator
    has after building its agent therefore draws exactly that run's noise, call by call; one member's data never
    changes another member's draws.
    """

    def __init__(self, generators: Sequence[torch.Generator]):
        if not generators:
            raise ValueError("a group needs at least one member")
        self.generators = list(generators)

    @classmethod
    def seeded(cls, seeds: Sequence[int], device: torch.device | str = "cpu") -> Members:
        """One generator per seed, each in the state torch.manual_seed(seed) leaves the global one in."""
        return cls([torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds])

    @classmethod
    def from_states(cls, states: Sequence[torch.Tensor], device: torch.device | str = "cpu") -> Members:
        """Generators continuing from given states, e.g. each seed's torch.get_rng_state() right after its
        single-seed agent was built: the members then draw what those single runs would draw next."""
        members = cls([torch.Generator(device=device) for _ in states])
        members.set_state(states)
        return members

    def __deepcopy__(self, memo: dict) -> Members:
        """A copied module (SAC's target critic) keeps drawing from the same member streams: a stream is the
        member's, not the module's, just as a single run's modules all share torch's global generator."""
        return self

    @property
    def size(self) -> int:
        return len(self.generators)

    def get_state(self) -> list[torch.Tensor]:
        """Each member's generator state, as torch.get_rng_state gives a single run's: a member's checkpoint slice."""
        return [g.get_state() for g in self.generators]

    def set_state(self, states: Sequence[torch.Tensor]) -> None:
        if len(states) != self.size:
            raise ValueError(f"{len(states)} generator states for {self.size} members")
        for g, state in zip(self.generators, states):
            g.set_state(state)


def group_size(members: Members | None) -> int | None:
    return None if members is None else members.size


def normal(members: Members | None, shape: Sequence[int], device: torch.device | None = None,
           dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard normal noise of `shape`, whose first axis is the member axis in a group."""
    if members is None:
        return torch.randn(*shape, device=device, dtype=dtype)
    out = torch.empty(*shape, device=device, dtype=dtype)
    for g, generator in enumerate(members.generators):
        out[g].normal_(generator=generator)
    return out


def normal_like(members: Members | None, like: torch.Tensor) -> torch.Tensor:
    return normal(members, like.shape, like.device, like.dtype)


def integers(members: Members | None, high: int, shape: Sequence[int], device: torch.device | None = None
             ) -> torch.Tensor:
    """Uniform integers in [0, high) of `shape`, whose first axis is the member axis in a group."""
    if members is None:
        return torch.randint(0, high, tuple(shape), device=device)
    out = torch.empty(*shape, dtype=torch.long, device=device)
    for g, generator in enumerate(members.generators):
        out[g].random_(0, high, generator=generator)
    return out


def member_mean(x: torch.Tensor, members: Members | None) -> torch.Tensor:
    """Each member's mean over its own entries, [G]; a scalar mean without a group. Summed over members, it gives
    each member exactly its single-seed gradient (a mean over G * B entries would scale it by 1 / G)."""
    if members is None:
        return x.mean()
    return x.reshape(members.size, -1).mean(-1)


def per_member(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-member value [G] shaped [G, 1, ..., 1] to broadcast against `like` [G, ...]; a scalar as it is."""
    if value.dim() == 0:
        return value
    return value.reshape(*value.shape, *([1] * (like.dim() - value.dim())))


def total(loss: torch.Tensor) -> torch.Tensor:
    """The scalar to differentiate: the sum of the members' losses (a single run's loss is already a scalar)."""
    return loss if loss.dim() == 0 else loss.sum()
