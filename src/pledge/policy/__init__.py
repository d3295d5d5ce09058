"""The policy as code: model, loader and lint."""

from pledge.policy.duration import Duration
from pledge.policy.lint import Finding, LintReport, lint_file, lint_policy
from pledge.policy.load import load_policy
from pledge.policy.model import Policy
from pledge.yamlio import LoadError

__all__ = ["Duration", "Finding", "LintReport", "LoadError", "Policy", "lint_file", "lint_policy", "load_policy"]
