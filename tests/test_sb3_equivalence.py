"""Our SAC-Gaussian update against Stable-Baselines3's, the validation's reference: started from the same weights
and fed the same batches and the same policy noise, the two compute the same losses, gradients and steps of the
policy, the critics and the target critics, update after update. A difference in the soft target, the tanh
correction, alpha, either loss, the order of the updates, Adam or the Polyak average fails here. What this leaves
between the two in the validation is the loop around the update (warm-up, replay sampling, evaluation, matched in
scripts/sb3_reference.py), SB3's 1e-6 inside its tanh correction, and chance."""

from __future__ import annotations

import pytest
import torch
from stable_baselines3 import SAC as SB3SAC
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from torch import nn

import algos.policies.gaussian
from algos.critic import DoubleQ
from algos.estimators import ExactEstimator
from algos.policies import GaussianPolicy
from algos.replay import Batch
from algos.sac import SAC
from algos.temperature import Temperature
from envs.make import make_env

WIDTH, BATCH, STEPS = 32, 64, 4
ALPHA, GAMMA, TAU, LR = 0.05, 0.99, 0.005, 3e-4


def reference() -> SB3SAC:
    """SB3 SAC on Hopper-v5 with the arguments scripts/sb3_reference.py passes (its own test checks that mapping),
    at a small width and with the update driven by hand."""
    model = SB3SAC("MlpPolicy", make_env("Hopper-v5"), learning_rate=LR, batch_size=BATCH, tau=TAU, gamma=GAMMA,
                   ent_coef=ALPHA, learning_starts=0, device="cpu", seed=0,
                   policy_kwargs={"net_arch": {"pi": [WIDTH, WIDTH], "qf": [WIDTH, WIDTH]}, "n_critics": 2})
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def policy_layout(actor: nn.Module, pick) -> list[torch.Tensor]:
    """pick(p) of each SB3 actor parameter p, laid out as our policy's parameters: the mean and log-std heads
    stacked into one output layer."""
    out = []
    for layer in linears(actor.latent_pi):
        out += [pick(layer.weight), pick(layer.bias)]
    return out + [torch.cat([pick(actor.mu.weight), pick(actor.log_std.weight)]),
                  torch.cat([pick(actor.mu.bias), pick(actor.log_std.bias)])]


def critic_layout(critic: nn.Module, pick) -> list[torch.Tensor]:
    """pick(p) of each SB3 critic parameter p, laid out as our ensemble's: member e of each layer is SB3's e-th
    Q-network's layer, its weight transposed."""
    out = []
    for layers in zip(*(linears(q_net) for q_net in critic.q_networks)):
        out += [torch.stack([pick(layer.weight).T for layer in layers]),
                torch.stack([pick(layer.bias).unsqueeze(0) for layer in layers])]
    return out


def same(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


@torch.no_grad()
def ours_from(model: SB3SAC) -> SAC:
    """Our agent with SB3's initial weights."""
    obs_dim, act_dim = model.observation_space.shape[0], model.action_space.shape[0]
    policy = GaussianPolicy(obs_dim, act_dim, hidden_dim=WIDTH, log_std_min=-20.0, log_std_max=2.0,
                            log_std_map="clip")
    critic = DoubleQ(obs_dim, act_dim, hidden_dim=WIDTH)
    for module, theirs in ((policy, policy_layout(model.actor, same)), (critic, critic_layout(model.critic, same))):
        mine = list(module.parameters())
        assert [p.shape for p in mine] == [t.shape for t in theirs]
        for p, t in zip(mine, theirs):
            p.copy_(t)
    return SAC(policy, ExactEstimator(policy), critic, Temperature(ALPHA), device=torch.device("cpu"), gamma=GAMMA,
               tau=TAU, lr=LR)


def batches(obs_dim: int, act_dim: int) -> list[tuple[Batch, torch.Tensor, torch.Tensor]]:
    """Per step: a batch (some transitions terminal) and the policy noise for s and for s'."""
    gen = torch.Generator().manual_seed(1)
    out = []
    for _ in range(STEPS):
        batch = Batch(obs=torch.randn(BATCH, obs_dim, generator=gen),
                      action=torch.rand(BATCH, act_dim, generator=gen) * 2 - 1,
                      reward=torch.randn(BATCH, generator=gen),
                      next_obs=torch.randn(BATCH, obs_dim, generator=gen),
                      terminated=(torch.rand(BATCH, generator=gen) < 0.2).float())
        out.append((batch, torch.randn(BATCH, act_dim, generator=gen), torch.randn(BATCH, act_dim, generator=gen)))
    return out


def as_sb3(batch: Batch) -> ReplayBufferSamples:
    return ReplayBufferSamples(observations=batch.obs, actions=batch.action, next_observations=batch.next_obs,
                               dones=batch.terminated.unsqueeze(1), rewards=batch.reward.unsqueeze(1))


def assert_near(what: str, mine: list[torch.Tensor], theirs: list[torch.Tensor], rel: float) -> None:
    """Each tensor within rel x its largest entry of SB3's."""
    assert len(mine) == len(theirs), what
    for i, (m, t) in enumerate(zip(mine, theirs)):
        m, t = m.detach(), t.detach()
        gap, scale = float((m - t).abs().max()), float(t.abs().max())
        assert scale > 0 and gap <= rel * scale, f"{what}, tensor {i}: off by {gap:.3g} at scale {scale:.3g}"


def moved(now: list[torch.Tensor], before: list[torch.Tensor]) -> list[torch.Tensor]:
    return [a.detach() - b for a, b in zip(now, before)]


def test_our_update_is_sb3s_update(monkeypatch):
    torch.manual_seed(0)
    model = reference()
    agent = ours_from(model)
    start = {"policy": [t.clone() for t in policy_layout(model.actor, same)],
             "critic": [t.clone() for t in critic_layout(model.critic, same)]}
    steps = batches(agent.policy.obs_dim, agent.policy.act_dim)
    # The noise each side draws, in its own order: ours samples a' for the target first, SB3 the actor's a first.
    ours_noise, sb3_noise = [], []
    for _, pi_noise, next_noise in steps:
        ours_noise += [next_noise, pi_noise]
        sb3_noise += [pi_noise, next_noise]
    monkeypatch.setattr(algos.policies.gaussian, "normal_like", lambda members, like: ours_noise.pop(0))
    monkeypatch.setattr(torch.distributions.Normal, "rsample",
                        lambda self, sample_shape=torch.Size(): self.loc + self.scale * sb3_noise.pop(0))
    for batch, _, _ in steps:
        metrics = agent.update(batch)
        monkeypatch.setattr(model.replay_buffer, "sample", lambda batch_size, env=None, b=batch: as_sb3(b))
        model.train(gradient_steps=1, batch_size=BATCH)
        logged = model.logger.name_to_value
        assert float(metrics["train/critic_loss"]) == pytest.approx(logged["train/critic_loss"], rel=1e-5)
        # SB3 computes log(1 - tanh(x)^2 + 1e-6) in float32 where ours is exact: alpha log pi moves by ~1e-6
        assert float(metrics["train/actor_loss"]) == pytest.approx(logged["train/actor_loss"], abs=1e-5)
    assert not ours_noise and not sb3_noise  # each side drew exactly one noise tensor per sample

    def first_moment(optimizer):
        return lambda p: optimizer.state[p]["exp_avg"]
    assert_near("policy gradient (Adam's first moment)", agent.policy_optim.exp_avg,
                policy_layout(model.actor, first_moment(model.actor.optimizer)), rel=1e-3)
    assert_near("critic gradient (Adam's first moment)", agent.critic_optim.exp_avg,
                critic_layout(model.critic, first_moment(model.critic.optimizer)), rel=1e-3)
    # Steps taken, not weights: a step is ~1e-3 of a weight, and the target's ~1e-5 (tau)
    assert_near("policy step", moved(list(agent.policy.parameters()), start["policy"]),
                moved(policy_layout(model.actor, same), start["policy"]), rel=1e-2)
    assert_near("critic step", moved(list(agent.critic.parameters()), start["critic"]),
                moved(critic_layout(model.critic, same), start["critic"]), rel=1e-2)
    assert_near("target critic step", moved(list(agent.target_critic.parameters()), start["critic"]),
                moved(critic_layout(model.critic_target, same), start["critic"]), rel=5e-2)
