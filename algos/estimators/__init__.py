"""Entropy estimators behind one seam (see base.EntropyEstimator)."""

from algos.estimators.base import EntropyEstimator
from algos.estimators.exact import ExactEstimator
from algos.estimators.vi_bound import VIBoundEstimator

__all__ = ["EntropyEstimator", "ExactEstimator", "VIBoundEstimator"]
