"""A proof run: every check at one moment, stored with an audit entry, and the history.

Interface::

    proof = prove(engine, now)                 # checks only; writes nothing
    proof = run(engine, now, actor="dpo")      # checks, stores the run, audits "prove.run"
    history(engine, limit=50) / latest(engine) / get_run(engine, run_id)

A check that cannot reach a platform database raises :class:`ProveError` (the run did
not happen, which is not the same as a promise being broken).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from pledge.blobs import BlobError
from pledge.connectors.base import ConnectorError
from pledge.dataplane.schema import require_live_schema
from pledge.prove.findings import Finding, Proof, ProveError
from pledge.prove.own import breach_findings, request_findings
from pledge.prove.people import age_findings
from pledge.prove.promises import uncheckable
from pledge.prove.retention import retention_findings
from pledge.rights.blob_orphans import blob_findings
from pledge.store.tables.prove import prove_runs

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["ProveError", "get_run", "history", "latest", "prove", "run", "save"]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def prove(engine: Context, now: datetime | None = None) -> Proof:
    """Check every machine-checkable promise at ``now`` (default: the engine's clock)."""
    moment = _aware(now or engine.now())
    findings: list[Finding] = []
    try:
        require_live_schema(engine)  # a data map that does not match the live schema proves nothing
        findings += retention_findings(engine, moment)
        findings += age_findings(engine, moment)
        findings += request_findings(engine, moment)
        findings += breach_findings(engine, moment)
        findings += blob_findings(engine, moment)  # files of erased people, files without rows
    except (ConnectorError, BlobError) as exc:
        raise ProveError(str(exc)) from exc
    except SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProveError(f"a database could not be read: {first}") from exc
    findings += uncheckable(engine.policy)
    return Proof(at=moment, config=engine.config.name, policy_version=engine.policy.version,
                 findings=findings)


def save(engine: Context, proof: Proof, actor: str = "system") -> Proof:
    """Store the run and write its audit entry in the same transaction; sets ``proof.id``."""
    proof.actor = actor
    summary = proof.summary
    broken = {f.id: f.count for f in proof.by_status("broken")}
    with engine.store.begin() as conn:
        res = conn.execute(insert(prove_runs).values(
            at=proof.at, config=proof.config, actor=actor, outcome=proof.outcome,
            summary={**summary, "policy_version": proof.policy_version},
            findings=[f.as_dict() for f in proof.findings]))
        assert res.inserted_primary_key is not None
        proof.id = int(res.inserted_primary_key[0])
        engine.audit.record("prove.run", actor=actor, target=f"prove:{proof.id}",
                            details={"at": proof.at.isoformat(), "outcome": proof.outcome,
                                     "summary": summary, "broken": broken,
                                     "policy_version": proof.policy_version}, conn=conn)
    return proof


def run(engine: Context, now: datetime | None = None, *, actor: str = "system") -> Proof:
    """:func:`prove`, then :func:`save`."""
    return save(engine, prove(engine, now), actor)


def _from_row(row: Any) -> Proof:
    return Proof(at=_aware(row.at), config=row.config, policy_version=str((row.summary or {}).get("policy_version", "")),
                 findings=[Finding.from_dict(f) for f in (row.findings or [])], id=row.id, actor=row.actor)


def history(engine: Context, limit: int = 50) -> list[dict[str, Any]]:
    """The newest runs first: id, time, who, outcome and the counts (without findings)."""
    q = (select(prove_runs.c.id, prove_runs.c.at, prove_runs.c.config, prove_runs.c.actor,
                prove_runs.c.outcome, prove_runs.c.summary)
         .order_by(prove_runs.c.id.desc()).limit(limit))
    with engine.store.connect() as conn:
        return [{"id": r.id, "at": _aware(r.at), "config": r.config, "actor": r.actor, "outcome": r.outcome,
                 "summary": dict(r.summary or {})} for r in conn.execute(q)]


def get_run(engine: Context, run_id: int) -> Proof | None:
    with engine.store.connect() as conn:
        row = conn.execute(select(prove_runs).where(prove_runs.c.id == run_id)).first()
    return _from_row(row) if row is not None else None


def latest(engine: Context) -> Proof | None:
    with engine.store.connect() as conn:
        row = conn.execute(select(prove_runs).order_by(prove_runs.c.id.desc()).limit(1)).first()
    return _from_row(row) if row is not None else None
