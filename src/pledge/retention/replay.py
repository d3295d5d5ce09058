"""Replaying the erasure ledger after a backup restore.

A restored backup brings back people who were erased after it was taken. The ledger
(kept in Pledge's store, not in the restored platform database) names them only by
keyed HMACs. ``replay`` hashes every identity value in the restored platform the same
way, erases each person whose hash the ledger holds since ``since`` (with the rights
planner, so exemptions and shared content are treated as in the original erasure), and
then runs a retention sweep, which removes again whatever the rules had removed.

The policy's backup window (``backups.retention``) bounds how old a restored backup can
be: a ``since`` before it is refused unless forced.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from pledge.retention import sweep
from pledge.retention.ledger import subject_key, subject_keys_since

if TYPE_CHECKING:
    from pledge.engine import Engine


class ReplayError(ValueError):
    """A replay that must not run as asked (outside the backup window)."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_window(engine: Engine, since: datetime, force: bool = False) -> list[str]:
    """Warnings about ``since`` against the policy's backup window; raises when outside it."""
    now = _aware(engine.now())
    since = _aware(since)
    backups = engine.policy.backups
    if since > now:
        raise ReplayError(f"--since {since.isoformat()} is in the future")
    if backups is None:
        return ["the policy states no backup period, so the restore's age cannot be checked"]
    oldest = backups.retention.before(now)
    if since >= oldest:
        return []
    message = (f"--since {since.isoformat()} is before the backup window: backups are kept "
               f"{backups.retention}, so no backup older than {oldest.isoformat()} should exist")
    if not force:
        raise ReplayError(message + "; pass --force to replay anyway")
    return [message + " (replayed anyway: --force)"]


def find_erased(engine: Engine, since: datetime) -> dict[str, set[Any]]:
    """Identity kind -> values in the platform whose keyed HMAC the ledger holds since ``since``."""
    wanted = subject_keys_since(engine.ledger, _aware(since))
    found: dict[str, set[Any]] = defaultdict(set)
    if not wanted:
        return {}
    secret = engine.settings.secret_key
    for db, coll, f in engine.dataset.identities():
        kind = str(f.identity)
        if kind not in wanted:
            continue
        connector = sweep._connector(engine, db.name)
        table = connector.table(coll.name)
        if f.name not in table.c:
            continue
        col = table.c[f.name]
        with connector.begin() as conn:
            for (value,) in conn.execution_options(yield_per=5000).execute(select(col).where(col.is_not(None))):
                if subject_key(secret, kind, str(value)) in wanted[kind]:
                    found[kind].add(value)
    return dict(found)


def replay(engine: Engine, since: datetime, *, force: bool = False, actor: str = "replay") -> dict[str, Any]:
    """Re-apply every erasure the ledger holds since ``since``; returns the report."""
    warnings = check_window(engine, since, force)
    found = find_erased(engine, since)
    reference = f"replay:{uuid.uuid4().hex[:12]}"
    engine.audit.record("ledger.replay.start", actor=actor, target=reference,
                        details={"since": _aware(since).isoformat(), "kinds": {k: len(v) for k, v in found.items()},
                                 "warnings": warnings})
    erased: dict[str, int] = {}
    if found:
        identities = {k: sorted(v, key=str) for k, v in found.items()}
        people = [{k: str(v)} for k, vs in identities.items() for v in vs]
        erased = sweep.erase_identities(engine, identities, people, source="replay", reference=reference,
                                        scope={"since": _aware(since).isoformat(), "replay": True})
    swept = sweep.run(engine, engine.now(), actor=actor)
    report = {"since": _aware(since).isoformat(), "warnings": warnings,
              "people": sum(len(v) for v in found.values()), "erased": erased,
              "sweep": {"total_rows": swept["total_rows"], "status": swept["status"]}}
    engine.audit.record("ledger.replay.done", actor=actor, target=reference,
                        details={"people": report["people"], "erased": erased,
                                 "swept": swept["total_rows"]})
    return report
