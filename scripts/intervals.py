"""Interval estimates over runs (Agarwal et al. 2021, Deep RL at the edge of the statistical precipice): the
interquartile mean, percentile bootstrap confidence intervals (stratified by task when several tasks are pooled),
the probability of improvement and performance profiles.

The resampling is scipy.stats.bootstrap (scipy is pinned already and maintained), not the authors' rliable: rliable's
repository was archived in 2025 and it caps `arch` below 8. Every interval here is a percentile interval with a
fixed resampling seed, so a regenerated table is the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 10_000
RESAMPLING_SEED = 0
TRIM = 0.25  # the interquartile mean drops this share of the runs at each end (scipy.stats.trim_mean, as rliable)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval; low and high are nan when one run per stratum allows none."""
    estimate: float
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)


def iqm(values, axis: int = -1):
    """The interquartile mean: the mean of the middle half of the runs. With fewer than 4 runs nothing is cut
    (trim_mean cuts int(0.25 n) runs per end), so at 3 seeds it is the mean."""
    return stats.trim_mean(values, TRIM, axis=axis)


def _pooled_iqm(*strata, axis: int = -1):
    return iqm(np.concatenate(strata, axis=axis), axis=axis)


def _bootstrap(strata: tuple[np.ndarray, ...], statistic, estimate: float, resamples: int | None = None) -> Interval:
    """Percentile interval of `statistic` over resamples drawn within each stratum independently."""
    if min(len(s) for s in strata) < 2:
        return Interval(estimate, float("nan"), float("nan"))
    result = stats.bootstrap(strata, statistic, paired=False, vectorized=True, method="percentile",
                             confidence_level=CONFIDENCE, n_resamples=resamples or RESAMPLES,
                             rng=np.random.default_rng(RESAMPLING_SEED))
    low, high = result.confidence_interval
    return Interval(estimate, float(low), float(high))


def iqm_interval(values, resamples: int | None = None) -> Interval:
    """The IQM of one cell's seeds with its bootstrap interval over seeds (`resamples`: fewer for the many points
    of a curve)."""
    values = np.asarray(values, dtype=float)
    return _bootstrap((values,), _pooled_iqm, float(iqm(values)), resamples)


def aggregate_interval(per_task: list) -> Interval:
    """The IQM of every (task, seed) score pooled, the interval from resampling seeds within each task
    (stratified bootstrap). The scores should share a scale: normalize them per task first."""
    strata = tuple(np.asarray(v, dtype=float) for v in per_task)
    return _bootstrap(strata, _pooled_iqm, float(iqm(np.concatenate(strata))))


def _improvement(*pairs, axis: int = -1):
    """Mean over tasks of P(X > Y) on that task: pairs = (x_task1, y_task1, x_task2, y_task2, ...)."""
    per_task = []
    for x, y in zip(pairs[::2], pairs[1::2]):
        x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
        greater = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
        ties = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
        per_task.append(greater + 0.5 * ties)
    return np.mean(per_task, axis=0)


def probability_of_improvement(x_per_task: list, y_per_task: list) -> Interval:
    """P(X > Y): the chance that a run of X on a task scores above a run of Y on it (ties count half; the
    Mann-Whitney statistic over n*m pairs), averaged over tasks, with a stratified bootstrap interval that
    resamples X's and Y's seeds within each task independently."""
    pairs = tuple(np.asarray(v, dtype=float) for x, y in zip(x_per_task, y_per_task) for v in (x, y))
    return _bootstrap(pairs, _improvement, float(_improvement(*pairs)))


def performance_profile(per_task: list, thresholds, resamples: int | None = None) -> list[Interval]:
    """Per threshold tau: the share of (task, seed) runs whose score exceeds tau, with its stratified interval."""
    strata = tuple(np.asarray(v, dtype=float) for v in per_task)
    pooled = np.concatenate(strata)
    profile = []
    for tau in np.asarray(thresholds, dtype=float):
        def above(*samples, axis=-1, tau=tau):
            return (np.concatenate(samples, axis=axis) > tau).mean(axis=axis)
        profile.append(_bootstrap(strata, above, float((pooled > tau).mean()), resamples))
    return profile
