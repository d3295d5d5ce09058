"""Load ``policy.yaml`` into the model, with file:line:col errors (see :mod:`pledge.yamlio`)."""

from __future__ import annotations

from pathlib import Path

from pledge.policy.model import Policy
from pledge.yamlio import Loaded, LoadError, load_model_located

__all__ = ["LoadError", "load_policy", "load_policy_located"]


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy; raises :class:`pledge.yamlio.LoadError`."""
    return load_policy_located(path).model


def load_policy_located(path: str | Path) -> Loaded[Policy]:
    """The policy with its source map, so lint findings can name lines."""
    return load_model_located(path, Policy)
