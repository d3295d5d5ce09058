"""The erasure ledger: intent written before every destructive action, and rectifications.

A ledger row holds no personal data in clear: ``subject_keys`` maps each identity kind
to the keyed HMACs (:func:`subject_key`, under the subject key) of *each* of its values,
one per value, normalised as the platform's values are hashed when the ledger is
replayed (trimmed, lower-case). An erasure records every identity found while planning
it (the user id, the phone, older emails), so a person whose email changed after a
backup is still recognised in the restored data. A rectification (``source:
"rectify"``) records the person the same way and the new values sealed with the
deployment's encryption keys (:class:`pledge.rights.vault.Vault`), so that a restore
does not silently undo it. After a backup restore, ``replay`` (in the retention package)
finds the people whose erasures and rectifications must be applied again.

Rows written before values were keyed one by one hold a single string per kind; they
are still read.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    BindParameter,
    ColumnElement,
    Connection,
    any_,
    bindparam,
    insert,
    select,
    update,
)

from pledge.store import Store
from pledge.store.tables.core import erasure_ledger

if TYPE_CHECKING:
    from pledge.audit import AuditLog

#: an intent's INSERT and an entry's move to done, built once (#19: building a statement
#: cost more than running it)
_INSERT = insert(erasure_ledger)


@lru_cache(maxsize=2)
def _insert_returning(also: tuple[Any, ...]) -> Any:
    """The intent's INSERT returning its id and ``also`` (the audit head's columns)."""
    return _INSERT.returning(erasure_ledger.c.id, *also)


#: an entry's move to done (``:entry_id``, ``:v_done_at``); a request's completion also runs
#: it as part of one statement (:mod:`pledge.rights.erasure`)
MARK_DONE = (update(erasure_ledger).where(erasure_ledger.c.id == bindparam("entry_id"))
              .values(status="done", done_at=bindparam("v_done_at", type_=erasure_ledger.c.done_at.type)))


def subject_key(secret: str, kind: str, value: str) -> str:
    """A keyed, stable, one-way token for one identity value."""
    msg = f"{kind}:{value.strip().lower()}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def key_clause(column: Any, keys: str | Sequence[str] | BindParameter[Any]) -> ColumnElement[bool]:
    """``column`` matches the person's key: one key (``=``), or any of several, one per
    subject key after a rotation (``IN``); or the keys a parameter will give (a statement
    built once, #19): an expanding one, or on PostgreSQL an ``ARRAY`` one (``= ANY``)."""
    if isinstance(keys, BindParameter):
        if isinstance(keys.type, ARRAY):  # PostgreSQL: ``= ANY(:keys)``, the same SQL for any number
            return column == any_(keys)  # type: ignore[no-any-return]
        return column.in_(keys)  # type: ignore[no-any-return]
    if isinstance(keys, str):
        return column == keys  # type: ignore[no-any-return]
    if len(keys) == 1:
        return column == keys[0]  # type: ignore[no-any-return]
    return column.in_(list(keys))  # type: ignore[no-any-return]


class ErasureLedger:
    """``secret`` is the newest subject key; ``previous`` the older ones still accepted when
    a person is looked up (see :meth:`every_key`), after a subject key rotation."""

    def __init__(self, store: Store, secret: str, clock: Callable[[], datetime], *,
                 previous: Sequence[str] = ()) -> None:
        self.store = store
        self.secret = secret
        self.secrets = (secret, *previous)
        self.clock = clock

    def keys_for(self, identities: Mapping[str, str]) -> dict[str, str]:
        """Keyed HMACs under the newest subject key (what new rows store)."""
        return {k: subject_key(self.secret, k, str(v)) for k, v in identities.items()}

    def value_keys(self, identities: Mapping[str, Any]) -> dict[str, list[str]]:
        """Each identity value's own keyed HMAC, by kind (a value or a list of values)."""
        out: dict[str, list[str]] = {}
        for kind, value in identities.items():
            values = value if isinstance(value, list | tuple | set | frozenset) else [value]
            keys = sorted({subject_key(self.secret, kind, str(v)) for v in values if v is not None and str(v).strip()})
            if keys:
                out[kind] = keys
        return out

    def every_key(self, kind: str, value: str) -> list[str]:
        """The identity's keyed HMAC under every subject key, newest first (for lookups)."""
        return [subject_key(s, kind, str(value)) for s in self.secrets]

    def record_intent(self, identities: Mapping[str, Any], *, source: str, reference: str,
                      scope: dict[str, Any], conn: Connection | None = None,
                      audit: AuditLog | None = None) -> int:
        """``identities``: kind -> a value or a list of values (each keyed on its own).
        With ``conn``, written in the caller's transaction; with ``audit`` too (its
        :meth:`~pledge.audit.AuditLog.batch` open on ``conn``), the INSERT also locks and
        reads the audit head for that batch, on PostgreSQL (#19: one round trip fewer)."""
        values = {"at": self.clock(), "subject_keys": self.value_keys(identities), "source": source,
                  "reference": reference, "scope": scope, "status": "intent"}
        if conn is not None:
            return self._insert(conn, values, audit)
        with self.store.begin() as own:
            return self._insert(own, values, None)

    def _insert(self, conn: Connection, values: dict[str, Any], audit: AuditLog | None) -> int:
        head = audit.head_columns(conn) if audit is not None else ()
        if head:
            assert audit is not None
            row = self.store.run(conn, _insert_returning(head), values).one()
            audit.head_from(conn, row)
            return int(row.id)
        key = conn.execute(_INSERT, values).inserted_primary_key
        assert key is not None
        return int(key[0])

    def mark_done(self, entry_id: int, *, conn: Connection | None = None) -> None:
        """With ``conn``, in the caller's transaction."""
        params = {"entry_id": entry_id, "v_done_at": self.clock()}
        if conn is not None:
            conn.execute(MARK_DONE, params)
            return
        with self.store.begin() as own:
            own.execute(MARK_DONE, params)

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
    rows = [{"at": now, "subject_keys": ledger.value_keys(p), "source": source, "reference": reference,
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


def _digests(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def subject_keys_since(ledger: ErasureLedger, when: datetime,
                       sources: tuple[str, ...] = ("request", "retention", "replay")) -> dict[str, set[str]]:
    """Every keyed HMAC the ledger names since ``when``, by identity kind."""
    q = select(erasure_ledger.c.subject_keys).where(erasure_ledger.c.at >= when,
                                                    erasure_ledger.c.source.in_(sources))
    out: dict[str, set[str]] = {}
    with ledger.store.connect() as conn:
        for (keys,) in conn.execute(q):
            for kind, digest in (keys or {}).items():
                out.setdefault(kind, set()).update(_digests(digest))
    return out


# -- rectifications --------------------------------------------------------------------------------
def record_rectification(ledger: ErasureLedger, identities: Mapping[str, Any], *, sealed: str,
                         fields: Sequence[str], reference: str) -> int:
    """A done rectification: the person's keyed identities, the fields, the new values sealed."""
    now = ledger.clock()
    with ledger.store.begin() as conn:
        res = conn.execute(insert(erasure_ledger).values(
            at=now, subject_keys=ledger.value_keys(identities), source="rectify", reference=reference,
            scope={"fields": list(fields), "sealed": sealed}, status="done", done_at=now))
        key = res.inserted_primary_key
        assert key is not None
        return int(key[0])


def rectifications_since(ledger: ErasureLedger, when: datetime) -> list[dict[str, Any]]:
    """Rectifications recorded since ``when``, oldest first, with ``subject_keys`` as lists."""
    q = (select(erasure_ledger).where(erasure_ledger.c.at >= when, erasure_ledger.c.source == "rectify")
         .order_by(erasure_ledger.c.id))
    with ledger.store.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for row in rows:
        row["subject_keys"] = {k: _digests(v) for k, v in (row["subject_keys"] or {}).items()}
    return rows
