"""Replaying the erasure ledger after a backup restore.

A restored backup brings back people who were erased after it was taken, and undoes the
corrections made since. The ledger (kept in Pledge's store, not in the restored platform
database) names people only by keyed HMACs of each of their identity values, including
the ones found while erasing them (their user id, their phone), so a person is found
even when their email changed after the backup. ``replay`` hashes every identity value
in the restored platform the same way, then

1. re-applies every rectification recorded since ``since``, oldest first (the new values
   are sealed in the ledger; see :func:`pledge.retention.ledger.record_rectification`);
2. erases every person whose hash the ledger holds since ``since``, as one erasure
   request (``source: replay``, with the rights planner, so exemptions and shared content
   are treated as in the original erasure; the ledger records what it finds, too);
3. runs a retention sweep, which removes again whatever the rules had removed.

The policy's backup window (``backups.retention``) bounds how old a restored backup can
be: a ``since`` before it is refused unless forced.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pledge.dataplane import selection
from pledge.errors import InvalidInput
from pledge.retention import sweep
from pledge.retention.ledger import rectifications_since, subject_key, subject_keys_since

if TYPE_CHECKING:
    from pledge.context import Context


class ReplayError(InvalidInput):
    """A replay that must not run as asked (outside the backup window)."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_window(engine: Context, since: datetime, force: bool = False) -> list[str]:
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


def _identity_values(engine: Context, wanted: dict[str, set[str]]) -> dict[str, dict[str, set[Any]]]:
    """kind -> keyed HMAC -> the platform's values with that HMAC (one scan per identity field)."""
    found: dict[str, dict[str, set[Any]]] = defaultdict(lambda: defaultdict(set))
    if not wanted:
        return {}
    secrets = engine.ledger.secrets  # every subject key: entries written before a rotation count too
    for db, coll, f in engine.dataset.identities():
        kind = str(f.identity)
        if kind not in wanted:
            continue
        connector = engine.connectors.get(db.name)
        if f.name not in connector.columns(coll.name):
            continue
        with connector.begin() as conn:
            for row in selection.scan(connector, conn, coll.name, [f.name]):
                value = row[f.name]
                if value is None:
                    continue
                for s in secrets:
                    digest = subject_key(s, kind, str(value))
                    if digest in wanted[kind]:
                        found[kind][digest].add(value)
    return {k: dict(v) for k, v in found.items()}


def find_erased(engine: Context, since: datetime) -> dict[str, set[Any]]:
    """Identity kind -> values in the platform whose keyed HMAC the ledger holds since ``since``."""
    wanted = subject_keys_since(engine.ledger, _aware(since))
    out: dict[str, set[Any]] = {}
    for kind, by_digest in _identity_values(engine, wanted).items():
        out[kind] = {v for values in by_digest.values() for v in values}
    return {k: v for k, v in out.items() if v}


def replay_rectifications(engine: Context, since: datetime, *, actor: str = "replay") -> dict[str, Any]:
    """Re-apply every rectification the ledger holds since ``since``, oldest first."""
    from pledge.rights.rectify import RectifyError, rectify
    from pledge.rights.vault import DecryptionError, Vault

    entries = rectifications_since(engine.ledger, _aware(since))
    if not entries:
        return {"rectified": 0, "skipped": []}
    wanted: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        for kind, digests in e["subject_keys"].items():
            wanted[kind].update(digests)
    values = _identity_values(engine, dict(wanted))
    vault = Vault(engine.keys)
    done = 0
    skipped: list[str] = []
    for e in entries:
        identities: dict[str, list[Any]] = {}
        for kind, digests in e["subject_keys"].items():
            vals = {v for d in digests for v in values.get(kind, {}).get(d, set())}
            if vals:
                identities[kind] = sorted(vals, key=str)
        if not identities:
            skipped.append(f"ledger entry {e['id']}: the person is not in the restored data")
            continue
        try:
            changes = vault.open(str(e["scope"]["sealed"]).encode("ascii"))
            rectify(engine, identities, changes, actor=actor, record=False)
            done += 1
        except (RectifyError, DecryptionError, KeyError) as exc:
            skipped.append(f"ledger entry {e['id']}: {exc}")
    return {"rectified": done, "skipped": skipped}


def replay(engine: Context, since: datetime, *, force: bool = False, actor: str = "replay") -> dict[str, Any]:
    """Re-apply every rectification and erasure the ledger holds since ``since``; returns the report."""
    from pledge.rights.erasure import erase

    warnings = check_window(engine, since, force)
    reference = f"replay:{uuid.uuid4().hex[:12]}"
    found = find_erased(engine, since)
    engine.audit.record("ledger.replay.start", actor=actor, target=reference,
                        details={"since": _aware(since).isoformat(), "kinds": {k: len(v) for k, v in found.items()},
                                 "warnings": warnings})
    rectified = replay_rectifications(engine, since, actor=actor)
    erased: dict[str, int] = {}
    files: dict[str, int] = {"files_deleted": 0, "files_pending": 0}
    if found:
        from pledge.rights import blob_erasure

        identities = {k: sorted(v, key=str) for k, v in found.items()}
        # restored files of the people: planned by their rows before the rows go, deleted
        # once the erasure has committed (only keys whose rows are really gone)
        located = blob_erasure.plan_person_rows(engine, reference, identities)[1]  # the erasure plans from this read
        report = erase(engine, identities, request_id=f"replay-{reference.split(':', 1)[1]}", actor=actor,
                       reference=reference, source="replay", located=located)
        erased = {t: c["deleted"] + c["masked"] for t, c in report["tables"].items() if c["deleted"] + c["masked"]}
        gone = blob_erasure.after_commit(engine, reference)
        files = {"files_deleted": gone.gone, "files_pending": gone.failed}
    swept = sweep.run(engine, engine.now(), actor=actor)
    report_out = {"since": _aware(since).isoformat(), "warnings": warnings,
                  "people": sum(len(v) for v in found.values()), "erased": erased,
                  "rectified": rectified["rectified"], "notes": rectified["skipped"], **files,
                  "sweep": {"total_rows": swept["total_rows"], "status": swept["status"]}}
    engine.audit.record("ledger.replay.done", actor=actor, target=reference,
                        details={"people": report_out["people"], "erased": erased,
                                 "rectified": rectified["rectified"], "swept": swept["total_rows"], **files})
    return report_out
