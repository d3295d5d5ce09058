"""Load ``policy.yaml`` into the model."""

from __future__ import annotations

from pathlib import Path

import yaml

from pledge.policy.model import Policy


def load_policy(path: str | Path) -> Policy:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return Policy.model_validate(raw)
