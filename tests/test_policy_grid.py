"""The policy x estimator grid, every pair: which are refused (by declared capability) and why, and one SAC update
of every pair that is not."""

import math

import pytest
import torch

from algos.critic import DoubleQ
from algos.estimators import ExactEstimator, VIBoundEstimator
from algos.estimators.ar_dae import ARDAEEstimator
from algos.policies import FlowPolicy, GaussianPolicy, NormalizingFlowPolicy
from algos.policies.implicit import ImplicitPolicy
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
    "implicit": lambda: ImplicitPolicy(OBS_DIM, ACT_DIM, noise_dim=4, hidden_dim=HIDDEN, head_dim=HIDDEN),
}
ESTIMATORS = {
    ExactEstimator: lambda policy: ExactEstimator(policy),
    VIBoundEstimator: lambda policy: VIBoundEstimator(policy, hidden_dim=HIDDEN),
    ARDAEEstimator: lambda policy: ARDAEEstimator(policy, hidden_dim=HIDDEN, depth=2, state_encoder_depth=1,
                                                  num_actions=8, num_proposal=8),
}
FITS = {  # (policy, estimator) pairs that train; every other pair must be refused with a reason
    ("gaussian", ExactEstimator), ("nf", ExactEstimator), ("flow_k4_deterministic", ExactEstimator),
    ("flow_k1", VIBoundEstimator), ("flow_k4", VIBoundEstimator),
    *((name, ARDAEEstimator) for name in POLICIES),  # AR-DAE needs only samples
}
REASONS = {  # the refused pairs, with what the reason must say
    ("gaussian", VIBoundEstimator): "GaussianPolicy is not one",
    ("nf", VIBoundEstimator): "NormalizingFlowPolicy is not one",
    ("flow_k1", ExactEstimator): "the flow with noise_std=0.1 has none",
    ("flow_k4", ExactEstimator): "the flow with noise_std=0.1 has none",
    ("flow_k4_deterministic", VIBoundEstimator): "the flow with noise_std=0 adds no noise",
    ("implicit", ExactEstimator): "ImplicitPolicy is not one",
    ("implicit", VIBoundEstimator): "ImplicitPolicy is not one",
}
PAIRS = [(p, e) for p in sorted(POLICIES) for e in ESTIMATORS]


def test_every_pair_is_either_a_fit_or_a_refusal_with_its_reason():
    assert set(FITS) | set(REASONS) == set(PAIRS) and not set(FITS) & set(REASONS)


@pytest.mark.parametrize("policy_name, estimator_cls", PAIRS, ids=[f"{p}-{e.__name__}" for p, e in PAIRS])
def test_refusal_grid(policy_name, estimator_cls):
    reason = estimator_cls.refusal(POLICIES[policy_name]())
    if (policy_name, estimator_cls) in FITS:
        assert reason is None
    else:
        assert reason.startswith(f"{estimator_cls.__name__} needs a policy")
        assert REASONS[(policy_name, estimator_cls)] in reason


FIT_PAIRS = sorted(FITS, key=str)


@pytest.mark.parametrize("policy_name, estimator_cls", FIT_PAIRS, ids=[f"{p}-{e.__name__}" for p, e in FIT_PAIRS])
def test_sac_update_of_every_fitting_pair_gives_finite_metrics(policy_name, estimator_cls):
    torch.manual_seed(0)
    device = torch.device("cpu")
    policy = POLICIES[policy_name]()
    estimator = ESTIMATORS[estimator_cls](policy)
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
    for name in estimator.optimizers():
        assert f"estimator.{name}" in agent.optimizers()  # the checkpoint holds every optimizer
    agent.load_state_dict(agent.state_dict())
    action = agent.act(torch.randn(OBS_DIM).numpy(), eval_mode=True)
    assert action.shape == (ACT_DIM,) and (abs(action) <= 1).all()
