"""Policy families behind one seam (see base.Policy)."""

from algos.policies.base import Policy, PolicySample
from algos.policies.flow import FlowPolicy
from algos.policies.gaussian import GaussianPolicy
from algos.policies.nf import NormalizingFlowPolicy

__all__ = ["Policy", "PolicySample", "FlowPolicy", "GaussianPolicy", "NormalizingFlowPolicy"]
