"""Entropy estimators behind one seam (see base.EntropyEstimator)."""

from algos.estimators.base import EntropyEstimator
from algos.estimators.exact import ExactEstimator

__all__ = ["EntropyEstimator", "ExactEstimator"]
