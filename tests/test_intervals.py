"""scripts/intervals.py against known answers: coverage of a known mean in simulation, the IQM of hand-made
numbers, the probability of improvement of identical and of separated sets, performance profiles."""

from __future__ import annotations

import numpy as np
import pytest

from scripts import intervals
from scripts.intervals import (aggregate_interval, iqm, iqm_interval, performance_profile,
                               probability_of_improvement)


def test_iqm_of_hand_made_numbers():
    assert iqm([1, 2, 3, 4, 100, 5, 6, 7]) == 4.5           # the middle four, 3 4 5 6; the outlier 100 is cut
    assert iqm([10, 20, 30, 1000]) == 25.0                  # the middle two
    assert iqm([318, 331, 499]) == pytest.approx(382.6667, abs=1e-3)  # 3 runs: nothing is cut, the mean


def test_the_interval_covers_a_known_mean_at_about_the_nominal_rate(monkeypatch):
    """200 samples of 20 from N(10, 2): the 95% interval of the IQM (an unbiased estimate of a symmetric
    distribution's centre) should miss 10 about 5% of the time; binomial noise at 200 draws is ±3%."""
    monkeypatch.setattr(intervals, "RESAMPLES", 2000)
    rng = np.random.default_rng(7)
    covered = [iqm_interval(rng.normal(10.0, 2.0, size=20)).covers(10.0) for _ in range(200)]
    assert 0.89 <= np.mean(covered) <= 0.99


def test_the_interval_widens_with_the_spread_and_needs_two_seeds():
    narrow, wide = iqm_interval([99, 100, 101]), iqm_interval([50, 100, 150])
    assert narrow.low < 100 < narrow.high and wide.high - wide.low > 10 * (narrow.high - narrow.low)
    single = iqm_interval([42.0])
    assert single.estimate == 42.0 and np.isnan(single.low) and not single.covers(42.0)


def test_probability_of_improvement_of_two_identical_sets_is_one_half():
    same = [[300.0, 450.0, 700.0], [1.0, 2.0, 2.0]]
    result = probability_of_improvement(same, same)
    assert result.estimate == 0.5 and result.low < 0.5 < result.high


def test_probability_of_improvement_counts_pairs_and_ties_half():
    assert probability_of_improvement([[2.0, 4.0]], [[1.0, 3.0]]).estimate == 0.75   # 3 of 4 pairs
    assert probability_of_improvement([[1.0, 1.0]], [[1.0, 1.0]]).estimate == 0.5    # all ties
    above = probability_of_improvement([[10.0, 11.0, 12.0]], [[1.0, 2.0, 3.0]])
    assert (above.estimate, above.low, above.high) == (1.0, 1.0, 1.0)


def test_aggregate_resamples_within_tasks():
    """Two tasks whose scores never overlap: a resample that mixed them across tasks could give an IQM outside
    what resampling within each task allows."""
    result = aggregate_interval([[0.9, 1.0, 1.1], [1.9, 2.0, 2.1]])
    assert result.estimate == pytest.approx(1.5)
    assert 1.3 < result.low < 1.5 < result.high < 1.7


def test_performance_profile_is_the_share_above_each_threshold():
    profile = performance_profile([[0.5, 1.5], [1.0, 3.0]], [0.0, 1.0, 2.0, 5.0])
    assert [p.estimate for p in profile] == [1.0, 0.5, 0.25, 0.0]
    assert all(p.low <= p.estimate <= p.high for p in profile)
