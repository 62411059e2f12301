"""The AR-DAE estimator's cheaper update is the same arithmetic: an agent with it and one with the straightforward
formulation (written here: the policy's mode and its probes in two passes, psi's state encoding recomputed for
every call) start from the same weights, batches and noise, and every parameter agrees after several updates."""

from __future__ import annotations

import copy

import pytest
import torch

from algos.critic import DoubleQ
from algos.estimators.ar_dae import ARDAEEstimator, axis_probes, path_derivative_surrogate
from algos.members import Members
from algos.policies.implicit import ImplicitPolicy
from algos.sac import SAC
from algos.temperature import Temperature
from tests.group_helpers import filled_buffer

OBS, ACT, UPDATES, BATCH = 5, 3, 6, 32


class ReferenceARDAE(ARDAEEstimator):
    """The estimator as it computed before: no shared passes."""

    @torch.no_grad()
    def offset_and_spread(self, obs):
        offset = self.policy.mode(obs)
        if self.standardize == "fixed":
            return offset, torch.full_like(offset, 1.0 / self.scale)
        probes = axis_probes(self.policy.noise_dim, obs.device).to(obs.dtype)
        probes = probes.expand(*obs.shape[:-1], *probes.shape)
        deviation = self.policy.transform(obs, probes) - offset.unsqueeze(-2)
        variance = 0.5 * deviation.pow(2).sum(-2) + getattr(self.policy, "noise_std", 0.0) ** 2
        return offset, variance.sqrt().clamp_min(self.min_spread)

    @torch.no_grad()
    def log_prob(self, obs, sample):
        y, _, log_det = self._standardize(obs, sample.x)
        tilt = self.score_mean(obs)
        return self._psi_at_zero_noise(obs, y, tilt) - self.log_normalizer(obs, tilt) + log_det

    def actor_log_prob(self, obs, sample):
        tilt = self.score_mean(obs)
        psi_value, score, log_det = self.score(obs, sample.x, tilt)
        with torch.no_grad():
            value = psi_value - self.log_normalizer(obs, tilt) + log_det
        return path_derivative_surrogate(value, score, sample.x)


def agent(estimator_cls, group: bool, standardize: str, center_score: bool, critic_update: str) -> SAC:
    torch.manual_seed(0)
    members = Members.seeded([0, 1]) if group else None
    policy = ImplicitPolicy(OBS, ACT, noise_dim=4, hidden_dim=16, head_dim=16, output_init_std=None,
                            members=members)
    estimator = estimator_cls(policy, hidden_dim=16, depth=2, state_encoder_depth=1, num_actions=8,
                              num_proposal=8, standardize=standardize, center_score=center_score,
                              target_calibration=True)
    return SAC(policy, estimator, DoubleQ(OBS, ACT, hidden_dim=16, members=members),
               Temperature(autotune=True, target_entropy=-float(ACT), members=members), torch.device("cpu"),
               critic_update=critic_update)


@pytest.mark.parametrize("standardize, center_score, critic_update, group", [
    ("scale_free", False, "joint", False), ("fixed", False, "sequential", False),
    ("scale_free", True, "joint", False), ("scale_free", False, "sequential", True)])
def test_the_cheaper_update_trains_every_parameter_as_before(standardize, center_score, critic_update, group):
    fast = agent(ARDAEEstimator, group, standardize, center_score, critic_update)
    reference = agent(ReferenceARDAE, group, standardize, center_score, critic_update)
    reference.load_state_dict(copy.deepcopy(fast.state_dict()))
    buffer = filled_buffer(Members.seeded([5, 6]) if group else None, seed=3)  # its draws leave the agents' alone
    batches = [buffer.sample(BATCH) for _ in range(UPDATES)]
    last_metrics = []
    for which in (fast, reference):
        torch.manual_seed(11)
        for batch in batches:
            metrics = which.update(batch)
        last_metrics.append(metrics)
    for name, module in fast.modules().items():
        for (key, value), other in zip(module.state_dict().items(), reference.modules()[name].state_dict().values()):
            torch.testing.assert_close(value, other, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}.{key}: {m}")
    for key, value in last_metrics[0].items():
        torch.testing.assert_close(value, last_metrics[1][key], rtol=1e-5, atol=1e-5, msg=key)
