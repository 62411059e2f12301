"""Our Adam must be torch's Adam, step for step, including across a checkpoint round trip."""

import copy

import torch

from algos.critic import DoubleQ
from algos.optim import Adam


def _train(model: torch.nn.Module, optim, steps: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        obs, action = torch.randn(32, 5, generator=gen), torch.randn(32, 2, generator=gen)
        optim.zero_grad()
        model(obs, action).pow(2).mean().backward()
        optim.step()


def test_matches_torch_adam_bit_for_bit():
    torch.manual_seed(0)
    ours = DoubleQ(5, 2, hidden_dim=16)
    reference, initial = copy.deepcopy(ours), copy.deepcopy(ours)
    _train(ours, Adam(ours.parameters(), lr=1e-2), steps=5, seed=1)
    _train(reference, torch.optim.Adam(reference.parameters(), lr=1e-2, fused=True), steps=5, seed=1)
    for p, q in zip(ours.parameters(), reference.parameters()):
        assert torch.equal(p, q)
    assert not any(torch.equal(p, q) for p, q in zip(ours.parameters(), initial.parameters()))


def test_continues_from_a_loaded_state():
    torch.manual_seed(0)
    model = DoubleQ(5, 2, hidden_dim=16)
    optim = Adam(model.parameters(), lr=1e-2)
    _train(model, optim, steps=3, seed=1)
    saved_model, saved_optim = copy.deepcopy(model.state_dict()), copy.deepcopy(optim.state_dict())
    _train(model, optim, steps=3, seed=2)

    resumed = DoubleQ(5, 2, hidden_dim=16)
    resumed.load_state_dict(saved_model)
    resumed_optim = Adam(resumed.parameters(), lr=1e-2)
    resumed_optim.load_state_dict(saved_optim)
    _train(resumed, resumed_optim, steps=3, seed=2)
    for p, q in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    assert float(resumed_optim.state_dict()["step"]) == 6


def test_parameters_without_gradient_stay_put():
    torch.manual_seed(0)
    used, unused = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    before = copy.deepcopy(unused.state_dict())
    optim = Adam(list(used.parameters()) + list(unused.parameters()), lr=1e-2)
    used(torch.randn(4, 3)).sum().backward()
    optim.step()
    assert all(torch.equal(v, unused.state_dict()[k]) for k, v in before.items())
    assert torch.count_nonzero(optim.state_dict()["exp_avg"][0]) > 0


def test_without_the_private_kernel_the_public_functional_adam_gives_the_same_steps(monkeypatch):
    torch.manual_seed(0)
    ours = DoubleQ(5, 2, hidden_dim=16)
    reference = copy.deepcopy(ours)
    monkeypatch.delattr(torch, "_fused_adam_")
    _train(ours, Adam(ours.parameters(), lr=1e-2), steps=5, seed=1)
    monkeypatch.undo()
    _train(reference, torch.optim.Adam(reference.parameters(), lr=1e-2, fused=True), steps=5, seed=1)
    for p, q in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
