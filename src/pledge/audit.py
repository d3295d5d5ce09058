"""A hash-chained, append-only audit log.

Each entry's hash covers its own content and the previous entry's hash, so an edited,
removed or reordered entry breaks the chain at a row that ``verify`` names. A one-row
head table holds the newest hash, so cutting entries off the end is caught too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pledge.store import Store
from pledge.store.tables.core import audit_head, audit_log

GENESIS = "0" * 64


def entry_hash(entry_id: int, at: datetime, actor: str, action: str, target: str,
               details: Any, prev_hash: str) -> str:
    body = json.dumps(
        [entry_id, _iso(at), actor, action, target, details, prev_hash],
        sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _iso(at: datetime) -> str:
    # SQLite drops tzinfo; hash a naive UTC rendering so both sides agree.
    return at.replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditProblem:
    entry_id: int
    problem: str

    def __str__(self) -> str:
        return f"audit entry {self.entry_id}: {self.problem}"


class AuditLog:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def record(self, action: str, *, actor: str = "system", target: str = "",
               details: dict[str, Any] | None = None, conn: Connection | None = None) -> int:
        """Append one entry; inside ``conn``'s transaction when given."""
        if conn is not None:
            return self._append(conn, action, actor, target, details or {})
        with self.store.begin() as own:
            return self._append(own, action, actor, target, details or {})

    def _append(self, conn: Connection, action: str, actor: str, target: str,
                details: dict[str, Any]) -> int:
        head = conn.execute(
            select(audit_head.c.last_id, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
        ).first()
        prev = head.hash if head else GENESIS
        last_id = head.last_id if head else 0
        at = self.clock()
        entry_id = last_id + 1
        details = json.loads(json.dumps(details, default=str))
        digest = entry_hash(entry_id, at, actor, action, target, details, prev)
        conn.execute(insert(audit_log).values(
            id=entry_id, at=at, actor=actor, action=action, target=target,
            details=details, prev_hash=prev, hash=digest,
        ))
        if head is None:
            conn.execute(insert(audit_head).values(id=1, last_id=entry_id, hash=digest))
        else:
            conn.execute(update(audit_head).where(audit_head.c.id == 1).values(last_id=entry_id, hash=digest))
        return entry_id

    def entries(self, limit: int | None = None, action: str | None = None) -> list[dict[str, Any]]:
        q = select(audit_log).order_by(audit_log.c.id.desc())
        if action:
            q = q.where(audit_log.c.action == action)
        if limit:
            q = q.limit(limit)
        with self.store.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def verify(self) -> list[AuditProblem]:
        """Walk the chain; every break is named by the entry where it shows."""
        problems: list[AuditProblem] = []
        prev = GENESIS
        expected_id = 1
        with self.store.connect() as conn:
            for row in conn.execute(select(audit_log).order_by(audit_log.c.id)):
                if row.id != expected_id:
                    problems.append(AuditProblem(expected_id, f"missing; next entry present is {row.id}"))
                if row.prev_hash != prev:
                    problems.append(AuditProblem(row.id, "does not follow the entry before it (removed or reordered)"))
                digest = entry_hash(row.id, row.at, row.actor, row.action, row.target, row.details, row.prev_hash)
                if digest != row.hash:
                    problems.append(AuditProblem(row.id, "content was edited (hash mismatch)"))
                prev = row.hash
                expected_id = row.id + 1
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
        if head is not None and (head.last_id != expected_id - 1 or head.hash != prev):
            problems.append(AuditProblem(head.last_id, "newest entry is missing (log was truncated)"))
        return problems
