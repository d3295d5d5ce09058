"""Load ``dataset.yaml`` into the model: Pledge's own format or Fides', detected.

Errors are :class:`pledge.yamlio.LoadError` and name the file, line and column. The
loaded dataset keeps the file's lines too (``Dataset.where``), so later checks against the
live schema name them.
``$env:VAR`` database URLs are kept as written; the engine resolves them when it
connects, so a dataset can be checked without its secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pledge.datamap.fides import from_fides, is_fides
from pledge.datamap.model import Dataset
from pledge.yamlio import LoadError, load_document, validate

__all__ = ["LoadError", "dataset_to_yaml", "load_dataset"]


def load_dataset(path: str | Path) -> Dataset:
    """Read and validate a dataset file (native or Fides format); raises ``LoadError``."""
    document = load_document(path, None, strict=False)
    if is_fides(document.data):
        return from_fides(document, Path(path).stem)  # keeps the Fides file's lines (Dataset.where)
    return validate(document, Dataset).loaded_from(document.source)  # Dataset.where: file:line


def dataset_to_yaml(dataset: Dataset, *, declare_discovered: bool = False) -> str:
    """The dataset as native YAML, defaults left out.

    With ``declare_discovered`` references found from live foreign keys are written as
    declared ones (a proposal the user adopts walks them).
    """
    data: dict[str, Any] = dataset.model_dump(mode="json", exclude_defaults=True)
    if declare_discovered:
        for db in data.get("databases", []):
            for coll in db.get("collections", []):
                for f in coll.get("fields", []):
                    for ref in f.get("references", []):
                        ref.pop("discovered", None)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
