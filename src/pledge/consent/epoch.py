"""The decisions epoch: a short token that changes whenever a purpose decision may have.

Decisions depend on the consent ledger, restrictions (Art. 18), objections (Art. 21) and
the policy (its version). Consent records are only ever inserted; restrictions and
objections are inserted, then lifted or withdrawn (an UPDATE that sets a date, never
cleared), and none of the three is deleted. So the newest id of each, the count of
lifted restrictions and withdrawn objections, and the policy's version together change
exactly when any of them does. One statement of five index-backed aggregates computes it.

A client that caches decisions (:class:`pledge.client.DecisionCache`) asks for the epoch
now and then (``GET /v1/consent/version``) and drops its cache when it changes. Facts the
platform keeps (an account closed, a birth date) change outside Pledge: caches keep
decisions for a bounded time (the server five minutes, the client's ``ttl``) for those.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from pledge.store.tables.consent import consent_records
from pledge.store.tables.rights import objections, restrictions

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["decisions_epoch"]


def decisions_epoch(engine: Context) -> str:
    """An opaque token (16 hex digits) that changes whenever a decision may have."""
    parts = select(
        select(func.max(consent_records.c.id)).scalar_subquery(),
        select(func.max(restrictions.c.id)).scalar_subquery(),
        select(func.count(restrictions.c.lifted_at)).scalar_subquery(),
        select(func.max(objections.c.id)).scalar_subquery(),
        select(func.count(objections.c.withdrawn_at)).scalar_subquery(),
    )
    with engine.store.connect() as conn:
        row = conn.execute(parts).one()
    seen = "|".join(["v1", engine.policy.version or "", *("" if v is None else str(int(v)) for v in row)])
    return hashlib.sha256(seen.encode()).hexdigest()[:16]
