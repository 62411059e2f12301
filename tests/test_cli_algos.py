"""Every algorithm and estimator pairing trained as the CLI trains it (composed by Hydra, in this process) on
InvertedPendulum-v5 writes its entropy columns; pairings that do not fit are refused with one line naming the
estimators that do."""

from __future__ import annotations

import math

import pytest

from tests.helpers import TINY, read_csv, run_folder, train_in_process

SMOKE = [*TINY, "total_steps=1000", "warmup_steps=500", "eval_every=1000", "logger=disabled",
         "diagnostics.num_states=8"]

CASES = {
    "nf": (["algo=sac_nf"], "sac_nf", {"entropy/estimate", "entropy/exact", "entropy/knn", "entropy/knn_error"}),
    "flow_vi_k1": (["algo=sac_flow_vi", "algo.policy.steps=1"], "sac_flow_vi",
                   {"entropy/estimate", "entropy/lower", "entropy/upper", "entropy/gap_upper", "entropy/reference"}),
    "flow_vi_k4": (["algo=sac_flow_vi", "algo.policy.steps=4"], "sac_flow_vi",
                   {"entropy/estimate", "entropy/lower", "entropy/upper", "entropy/gap_upper", "entropy/reference"}),
    "flow_exact": (["algo=sac_flow_vi", "entropy=exact", "algo.policy.noise_std=0"], "sac_flow_vi",
                   {"entropy/estimate", "entropy/exact", "entropy/knn_error", "entropy/sign_change_fraction"}),
    "flow_ar_dae": (["algo=sac_flow_vi", "entropy=ar_dae", "entropy.num_actions=8", "entropy.num_proposal=8",
                     "entropy.depth=2", "entropy.state_encoder_depth=1", "entropy.hidden_dim=64"], "sac_flow_vi",
                    {"entropy/estimate", "entropy/reference"}),
    "ar_dae": (["algo=sac_ar_dae"], "sac_ar_dae", {"entropy/estimate", "entropy/reference", "entropy/knn"}),
    "ar_dae_centred": (["algo=sac_ar_dae", "entropy.center_score=true"], "sac_ar_dae",
                       {"entropy/estimate", "entropy/reference", "entropy/knn"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_smoke_run_writes_entropy_columns(run_root, case):
    overrides, algo, columns = CASES[case]
    assert train_in_process(*SMOKE, *overrides, f"experiment_name={case}", run_root=run_root) == (0, "")
    rows = read_csv(run_folder(run_root, case, algo=algo) / "eval.csv")
    assert len(rows) == 1 and columns <= set(rows[0])
    assert all(math.isfinite(float(rows[0][c])) for c in columns)
    if "entropy/gap_upper" in columns:
        assert float(rows[0]["entropy/lower"]) <= float(rows[0]["entropy/upper"])


@pytest.mark.parametrize("overrides, message", [
    (["algo=sac_gaussian", "entropy=vi_bound"],
     "entropy=vi_bound does not fit algo=sac_gaussian: VIBoundEstimator needs a policy that adds Gaussian noise after "
     "pushing its base noise forward (a known joint density of noise and action): GaussianPolicy is not one. "
     "Estimators that fit: ar_dae, exact"),
    (["algo=sac_flow_vi", "entropy=exact"],
     "set algo.policy.noise_std=0 for the deterministic flow. Estimators that fit: ar_dae, vi_bound"),
    (["algo=sac_flow_vi", "algo.policy.noise_std=0"],
     "set algo.policy.noise_std > 0. Estimators that fit: ar_dae, exact"),
    (["algo=sac_ar_dae", "entropy=exact"], "ImplicitPolicy is not one. Estimators that fit: ar_dae"),
])
def test_pairings_that_do_not_fit_are_refused(run_root, overrides, message):
    code, line = train_in_process(*SMOKE, *overrides, run_root=run_root)
    assert code == 2 and message in line and "\n" not in line, line
    assert not run_root.exists()
