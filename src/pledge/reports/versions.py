"""Published notice versions: each one stores the policy, its hash and whether it changed materially.

``publish`` compares the engine's policy with the newest published version. The same
policy twice is not a new version. A material change is returned so the caller can start
a notification campaign (:mod:`pledge.reports.campaign`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, insert, select

from pledge.context import Context
from pledge.policy.model import Policy
from pledge.reports.changes import PolicyDiff, diff_policies, policy_hash
from pledge.store.tables.reports import notice_versions


@dataclass
class Published:
    id: int
    version: str
    policy_hash: str
    material: bool
    new: bool
    diff: PolicyDiff | None


def latest(engine: Context) -> dict[str, Any] | None:
    q = select(notice_versions).order_by(desc(notice_versions.c.id)).limit(1)
    with engine.store.connect() as conn:
        row = conn.execute(q).first()
    return dict(row._mapping) if row else None


def history(engine: Context) -> list[dict[str, Any]]:
    q = select(notice_versions.c.id, notice_versions.c.version, notice_versions.c.policy_hash,
               notice_versions.c.published_at, notice_versions.c.material).order_by(notice_versions.c.id)
    with engine.store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def publish(engine: Context, policy: Policy | None = None) -> Published:
    """Record ``policy`` (default: the engine's) as the current notice version."""
    policy = policy or engine.policy
    digest = policy_hash(policy)
    prev = latest(engine)
    if prev is not None and prev["policy_hash"] == digest:
        return Published(prev["id"], prev["version"], digest, bool(prev["material"]), False, None)
    diff = None
    if prev is not None:
        diff = diff_policies(Policy.model_validate(prev["policy"]), policy, engine.dataset)
    material = bool(diff and diff.is_material)
    with engine.store.begin() as conn:
        res = conn.execute(insert(notice_versions).values(
            version=policy.version, policy_hash=digest, published_at=engine.now(), material=material,
            changes=diff.as_dict() if diff else {}, policy=policy.model_dump(mode="json"),
        ))
        assert res.inserted_primary_key is not None
        new_id = int(res.inserted_primary_key[0])
        engine.audit.record("notice.published", target=f"notice_version:{new_id}",
                            details={"version": policy.version, "hash": digest, "material": material,
                                     "material_changes": [c.summary for c in diff.material] if diff else []},
                            conn=conn)
    return Published(new_id, policy.version, digest, material, True, diff)
