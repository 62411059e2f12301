"""The AR-DAE paper's reported returns (Lim et al. 2020: Tables 1, 3 and 4), keyed by our task and algorithm names.

Each value is (mean, std) over five seeds. Table 1 is Table 3 without the "w/o jc" column, so one dict serves both.
The paper ran gym -v2 tasks; we run -v5, so each row is keyed by our task name and labelled with the paper's.
`humanoid_rllab` has no task of ours (rllab is unmaintained): it is shown from the paper only.
"""

from __future__ import annotations

PAPER_TASK_LABELS = {"halfcheetah": "HalfCheetah-v2", "ant": "Ant-v2", "hopper": "Hopper-v2",
                     "walker2d": "Walker-v2", "humanoid": "Humanoid-v2", "humanoid_rllab": "Humanoid (rllab)"}
RLLAB_TASKS = ["humanoid_rllab"]
PAPER_ALGOS = ["sac_gaussian", "sac_nf", "sac_ar_dae", "sac_ar_dae-jc-off"]


def _rows(table: dict[str, list[tuple[int, int]]]) -> dict[str, dict[str, tuple[int, int]]]:
    return {task: dict(zip(PAPER_ALGOS, cells)) for task, cells in table.items()}


# Tables 1 and 3: maximum average return.
MAX_AVERAGE_RETURN = _rows({
    "halfcheetah": [(9695, 879), (9325, 775), (10907, 664), (10677, 374)],
    "ant": [(5345, 553), (4861, 1091), (6190, 128), (6097, 140)],
    "hopper": [(3563, 119), (3521, 129), (3556, 127), (3634, 45)],
    "walker2d": [(4612, 249), (4760, 624), (4793, 395), (4843, 521)],
    "humanoid": [(5965, 179), (5467, 44), (6275, 202), (6268, 77)],
    "humanoid_rllab": [(6099, 8071), (3442, 3736), (10739, 10335), (761, 413)],
})

# Table 4: normalized average return (mean of the average returns over evaluation points).
NORMALIZED_AVERAGE_RETURN = _rows({
    "halfcheetah": [(8089, 567), (7529, 596), (8493, 602), (8636, 307)],
    "ant": [(3280, 553), (3440, 656), (4335, 241), (4015, 363)],
    "hopper": [(2442, 426), (2480, 587), (2631, 160), (2734, 194)],
    "walker2d": [(3023, 271), (3317, 455), (3036, 271), (3094, 209)],
    "humanoid": [(3471, 505), (3447, 260), (4215, 170), (3808, 137)],
    "humanoid_rllab": [(664, 321), (814, 630), (2021, 1710), (332, 136)],
})
