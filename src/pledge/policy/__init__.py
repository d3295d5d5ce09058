"""The policy as code: model, loader and lint."""

from pledge.policy.duration import Duration
from pledge.policy.model import Policy

__all__ = ["Duration", "Policy"]
