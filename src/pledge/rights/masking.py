"""Moved: the masking strategies and their statements are :mod:`pledge.dataplane.masking`.

Only the data plane and the connectors build statements against the platform
(``tests/test_boundaries.py``); this module re-exports the public names so that code written
before the move keeps working. Import from :mod:`pledge.dataplane.masking` (or better, mask and
delete through :mod:`pledge.dataplane.writes`).
"""

from __future__ import annotations

from pledge.dataplane.masking import (
    BATCH_SIZE,
    MASKING_STRATEGIES,
    PSEUDONYM_PREFIX,
    REDACTED,
    MaskingError,
    MaskResult,
    delete_rows,
    effect,
    fake_value,
    hmac_pseudonym,
    key_columns,
    key_in,
    mask_rows,
    masked_value,
    plan_columns,
    protected_columns,
    redact_value,
    reflect_table,
    row_key,
    unique_columns,
)

__all__ = ["BATCH_SIZE", "MASKING_STRATEGIES", "PSEUDONYM_PREFIX", "REDACTED", "MaskResult", "MaskingError",
           "delete_rows", "effect", "fake_value", "hmac_pseudonym", "key_columns", "key_in", "mask_rows",
           "masked_value", "plan_columns", "protected_columns", "redact_value", "reflect_table", "row_key",
           "unique_columns"]
