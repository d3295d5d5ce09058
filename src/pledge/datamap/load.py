"""Load ``dataset.yaml`` into the model."""

from __future__ import annotations

from pathlib import Path

import yaml

from pledge.datamap.model import Dataset


def load_dataset(path: str | Path) -> Dataset:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return Dataset.model_validate(raw)
