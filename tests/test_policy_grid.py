"""The policy x estimator grid: which pairings are refused, and one SAC update of every pairing that is not."""

import math

import pytest
import torch

from algos.critic import DoubleQ
from algos.estimators import ExactEstimator, VIBoundEstimator
from algos.policies import FlowPolicy, GaussianPolicy, NormalizingFlowPolicy
from algos.replay import ReplayBuffer
from algos.sac import SAC
from algos.temperature import Temperature

OBS_DIM, ACT_DIM, HIDDEN = 5, 3, 32
BUFFER_SIZE, BATCH_SIZE, UPDATES = 300, 64, 3

POLICIES = {
    "gaussian": lambda: GaussianPolicy(OBS_DIM, ACT_DIM, hidden_dim=HIDDEN),
    "nf": lambda: NormalizingFlowPolicy(OBS_DIM, ACT_DIM, num_flows=4, hidden_dim=HIDDEN),
    "flow_k1": lambda: FlowPolicy(OBS_DIM, ACT_DIM, steps=1, noise_std=0.1, hidden_dim=HIDDEN),
    "flow_k4": lambda: FlowPolicy(OBS_DIM, ACT_DIM, steps=4, noise_std=0.1, hidden_dim=HIDDEN),
    "flow_k4_deterministic": lambda: FlowPolicy(OBS_DIM, ACT_DIM, steps=4, noise_std=0.0, hidden_dim=HIDDEN),
}
FITS = {  # (policy, estimator) pairs that train; every other pairing must be refused with a reason
    ("gaussian", ExactEstimator), ("nf", ExactEstimator), ("flow_k4_deterministic", ExactEstimator),
    ("flow_k1", VIBoundEstimator), ("flow_k4", VIBoundEstimator),
}


@pytest.mark.parametrize("policy_name", sorted(POLICIES))
@pytest.mark.parametrize("estimator_cls", [ExactEstimator, VIBoundEstimator], ids=lambda cls: cls.__name__)
def test_refusal_grid(policy_name, estimator_cls):
    reason = estimator_cls.refusal(POLICIES[policy_name]())
    if (policy_name, estimator_cls) in FITS:
        assert reason is None
    else:
        assert isinstance(reason, str) and reason


def test_refusal_messages_say_what_to_do():
    assert "set algo.policy.noise_std=0 or use entropy=vi_bound" in ExactEstimator.refusal(POLICIES["flow_k4"]())
    assert "entropy=exact" in VIBoundEstimator.refusal(POLICIES["flow_k4_deterministic"]())
    assert "'gaussian'" in VIBoundEstimator.refusal(POLICIES["gaussian"]())


@pytest.mark.parametrize("policy_name,estimator_cls", sorted(FITS, key=str), ids=lambda v: getattr(v, "__name__", v))
def test_sac_update_of_every_fitting_pair_gives_finite_metrics(policy_name, estimator_cls):
    torch.manual_seed(0)
    device = torch.device("cpu")
    policy = POLICIES[policy_name]()
    estimator = estimator_cls(policy, hidden_dim=HIDDEN) if estimator_cls is VIBoundEstimator else estimator_cls(policy)
    agent = SAC(policy, estimator, DoubleQ(OBS_DIM, ACT_DIM, hidden_dim=HIDDEN),
                Temperature(autotune=True, target_entropy=-float(ACT_DIM)), device)
    buffer = ReplayBuffer(OBS_DIM, ACT_DIM, BUFFER_SIZE, device)
    for _ in range(BUFFER_SIZE):
        buffer.add(torch.randn(OBS_DIM).numpy(), torch.rand(ACT_DIM).mul(2).sub(1).numpy(), float(torch.randn(())),
                   torch.randn(OBS_DIM).numpy(), False)
    policy_before = [p.detach().clone() for p in policy.parameters()]
    for _ in range(UPDATES):
        metrics = agent.update(buffer.sample(BATCH_SIZE))
    assert all(math.isfinite(float(value)) for value in metrics.values()), metrics
    assert any(not torch.equal(p, before) for p, before in zip(policy.parameters(), policy_before))
    if estimator_cls is VIBoundEstimator:
        assert "train/q_backward_nll" in metrics and "estimator.backward" in agent.optimizers()
    agent.load_state_dict(agent.state_dict())  # the checkpoint holds every optimizer, q's included
    action = agent.act(torch.randn(OBS_DIM).numpy(), eval_mode=True)
    assert action.shape == (ACT_DIM,) and (abs(action) <= 1).all()
