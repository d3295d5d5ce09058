"""The erasure ledger: intent written before every destructive action.

A ledger row holds no personal data: only keyed HMACs of the identity values, the
scope and the time. After a backup restore, ``replay`` (in the retention package)
finds the people whose erasures must be applied again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from pledge.store import Store
from pledge.store.tables.core import erasure_ledger


def subject_key(secret: str, kind: str, value: str) -> str:
    """A keyed, stable, one-way token for one identity value."""
    msg = f"{kind}:{value.strip().lower()}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


class ErasureLedger:
    def __init__(self, store: Store, secret: str, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.secret = secret
        self.clock = clock

    def keys_for(self, identities: Mapping[str, str]) -> dict[str, str]:
        return {k: subject_key(self.secret, k, str(v)) for k, v in identities.items()}

    def record_intent(self, identities: Mapping[str, str], *, source: str, reference: str,
                      scope: dict[str, Any]) -> int:
        with self.store.begin() as conn:
            res = conn.execute(insert(erasure_ledger).values(
                at=self.clock(), subject_keys=self.keys_for(identities), source=source,
                reference=reference, scope=scope, status="intent",
            ))
            key = res.inserted_primary_key
            assert key is not None
            return int(key[0])

    def mark_done(self, entry_id: int) -> None:
        with self.store.begin() as conn:
            conn.execute(update(erasure_ledger).where(erasure_ledger.c.id == entry_id)
                         .values(status="done", done_at=self.clock()))

    def since(self, when: datetime) -> list[dict[str, Any]]:
        q = select(erasure_ledger).where(erasure_ledger.c.at >= when).order_by(erasure_ledger.c.id)
        with self.store.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]



def record_intents(ledger: ErasureLedger, people: Sequence[Mapping[str, str]], *, source: str, reference: str,
                   scope: dict[str, Any]) -> None:
    """One intent row per person (each with its own keyed HMACs), or one scope-only row
    when ``people`` is empty; one statement, one transaction, before anything changes.
    ``reference`` should be unique to the batch: :func:`mark_reference_done` closes it."""
    now = ledger.clock()
    rows = [{"at": now, "subject_keys": ledger.keys_for(p), "source": source, "reference": reference,
             "scope": scope, "status": "intent"} for p in people] or [
        {"at": now, "subject_keys": {}, "source": source, "reference": reference, "scope": scope,
         "status": "intent"}]
    with ledger.store.begin() as conn:
        conn.execute(insert(erasure_ledger), rows)


def mark_reference_done(ledger: ErasureLedger, reference: str) -> None:
    with ledger.store.begin() as conn:
        conn.execute(update(erasure_ledger).where(erasure_ledger.c.reference == reference,
                                                  erasure_ledger.c.status == "intent")
                     .values(status="done", done_at=ledger.clock()))


def subject_keys_since(ledger: ErasureLedger, when: datetime,
                       sources: tuple[str, ...] = ("request", "retention", "replay")) -> dict[str, set[str]]:
    """Every keyed HMAC the ledger names since ``when``, by identity kind."""
    q = select(erasure_ledger.c.subject_keys).where(erasure_ledger.c.at >= when,
                                                    erasure_ledger.c.source.in_(sources))
    out: dict[str, set[str]] = {}
    with ledger.store.connect() as conn:
        for (keys,) in conn.execute(q):
            for kind, digest in (keys or {}).items():
                out.setdefault(kind, set()).add(str(digest))
    return out
