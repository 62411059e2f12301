"""The 1-D score-error study reproduces the paper's ordering (Figure 3) on a short budget."""

import torch

from scripts.score_error import Budget, run_study, smoothed_score


def test_optimal_dae_is_the_true_score_at_zero_noise_and_smooths_with_sigma():
    x = torch.linspace(-4.0, 4.0, 101).unsqueeze(-1)
    # Away from the modes' overlap the mixture is one Gaussian: score = (mu - x) / std^2.
    assert torch.allclose(smoothed_score(torch.tensor([[2.3]])), torch.tensor([[-0.3 / 0.25]]), atol=1e-3)
    # Large sigma: f* tends to the score of N(E[X], sigma^2 + var) (Proposition 4.1's limit).
    sigma = 100.0
    expected = -x / (0.25 + sigma**2 + 4.0)  # mixture variance 0.25 + 4 plus sigma^2
    assert torch.allclose(smoothed_score(x, sigma), expected, rtol=1e-3, atol=1e-7)


def test_ar_dae_beats_residual_beats_regular_dae_at_small_sigma():
    torch.set_num_threads(1)
    budget = Budget(iterations=400, hidden_dim=32, lr=3e-3, halve_every=150, eval_samples=1000)
    errors = run_study((0.003,), budget, seed=0)
    ar_dae, res_dae, reg_dae = errors["AR-DAE (sigma=0)"][0], errors["resDAE"][0], errors["regDAE"][0]
    assert ar_dae < res_dae < reg_dae, errors
