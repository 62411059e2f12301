"""Policy families behind one seam (see base.Policy)."""

from algos.policies.base import Policy, PolicySample
from algos.policies.gaussian import GaussianPolicy

__all__ = ["Policy", "PolicySample", "GaussianPolicy"]
