"""Files of erased rows: deleted after the SQL work commits, driven by durable intents.

A row's blob key is filled from the row (``media/{user_id}/{id}.png``), so it must be read
while the row is still there, and the blob may go only once the row's deletion has
committed. Each deletion is a row of the store's ``blob_deletions`` table
(:mod:`pledge.store.tables.blobs`), under a ``reference`` naming what asked for it
(``request:<id>``, a retention run, a ledger replay):

1. :func:`plan_rows` / :func:`plan_person` — **before** the SQL work: one ``planned`` intent
   per blob of the rows about to be erased (their keys rendered from the rows), committed
   to Pledge's store.
2. The SQL work runs and commits on the platform's database (the erasure, a sweep).
3. :func:`confirm` — a ``planned`` intent becomes ``pending`` only when its row is absent
   from the platform's database, read back by row key. A row whose deletion was rolled
   back is still there, so its blob is never touched; :func:`forget_unconfirmed` then
   drops such intents (they hold keys in clear).
4. :func:`delete_pending` — the store deletes the ``pending`` blobs in batches
   (``delete_many``: one ``DeleteObjects`` per 1,000 keys on S3); an intent becomes
   ``gone`` only for a key the store confirmed absent, and its key is then cleared (the
   table keeps a keyed hash and the count, not the name). A key the store did not confirm
   stays ``pending`` with the reason and is tried again.

A crash anywhere resumes: before step 3 the request is re-run (its erasure resumes from
its checkpoints, the intents are already there); after it, :func:`resume_pending` (on
``pledge requests run``, at worker start and before every sweep) deletes whatever is still
``pending``. ``planned`` intents older than :data:`STALE_AFTER` (a crash whose SQL work rolled
back) are settled by their rows: :func:`drop_stale_planned` deletes the file of a row that is
gone and drops the intent of a row that survived.

:func:`store_counts` gives, per store, what the erasure certificate lists: files the store
confirmed deleted and files still pending.

:func:`after_commit` is steps 3-4 for one reference. ``PLEDGE_TEST_BLOB_KILL`` (tests only)
kills the process with SIGKILL at ``after-sql`` (before step 3) or ``before-delete``
(between steps 3 and 4).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from pledge.blobs.base import BlobError, BlobStore
from pledge.store.tables.blobs import blob_deletions

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.rights.locate import Located

__all__ = ["BATCH", "STALE_AFTER", "BlobItem", "BlobOutcome", "after_commit", "blob_columns", "confirm",
           "crash_point", "delete_pending", "drop_stale_planned", "forget_unconfirmed", "identities_reference",
           "items_for_rows", "key_hash", "pending_references", "plan_keys", "plan_person", "plan_person_rows",
           "plan_rows", "resume_pending", "store_counts"]

#: Intents read, confirmed and deleted per batch (S3 deletes at most 1,000 keys per call).
BATCH = 1000
#: How long a ``planned`` intent whose row is still there may wait for its run (a crash
#: that rolled back leaves such intents behind; :func:`drop_stale_planned`).
STALE_AFTER = timedelta(days=1)
KILL_VARIABLE = "PLEDGE_TEST_BLOB_KILL"
_ERRORS_KEPT = 5


def crash_point(name: str) -> None:
    """Tests only: SIGKILL this process here when ``PLEDGE_TEST_BLOB_KILL`` names this point."""
    if os.environ.get(KILL_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class BlobItem:
    """One blob (or prefix) of one row."""

    store: str
    key: str
    collection: str
    row_key: tuple[Any, ...]
    is_prefix: bool = False


@dataclass
class BlobOutcome:
    """What a deletion pass did: blobs the store confirmed gone, and those it did not."""

    gone: int = 0
    failed: int = 0
    calls: int = 0
    #: the first reasons of failures (no keys: keys can name a person)
    errors: list[str] = field(default_factory=list)
    #: intents whose rows were still there after the SQL work (nothing deleted for them)
    kept: int = 0
    #: stale ``planned`` intents dropped because their rows survived (resume only)
    dropped: int = 0
    #: per store, read from the intents table once the pass is over: {"deleted": n, "pending": m}
    stores: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, other: BlobOutcome) -> BlobOutcome:
        self.gone += other.gone
        self.failed += other.failed
        self.calls += other.calls
        self.kept += other.kept
        self.dropped += other.dropped
        self.errors.extend(e for e in other.errors if e not in self.errors)
        del self.errors[_ERRORS_KEPT:]
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"gone": self.gone, "failed": self.failed, "calls": self.calls, "kept": self.kept,
                "errors": list(self.errors), "stores": {s: dict(c) for s, c in sorted(self.stores.items())}}


def key_hash(engine: Context, store: str, key: str) -> str:
    """A keyed hash of one blob's name (what stays in the table once it is gone)."""
    return hmac.new(engine.keys.subject_secret.encode(), f"{store}\x00{key}".encode(), hashlib.sha256).hexdigest()


# -- which blobs rows have ------------------------------------------------------------------------
def blob_columns(engine: Context, collection: str) -> list[str]:
    """The fields of ``db.collection`` its key templates read (what a caller that deletes rows
    by key must also select, to plan their blobs): empty when it has no blobs."""
    out: list[str] = []
    for link in engine.blobs.for_collection(collection):
        out.extend(f for f in link.template.fields if f not in out)
    return out


def items_for_rows(engine: Context, collection: str, rows: Iterable[Mapping[str, Any]],
                   row_key: Sequence[str]) -> list[BlobItem]:
    """The blobs of these rows of ``db.collection`` (rows whose key cannot be made have none)."""
    links = engine.blobs.for_collection(collection)
    out: list[BlobItem] = []
    if not links:
        return out
    for row in rows:
        rk = tuple(row[c] for c in row_key)
        for link in links:
            rendered = link.template.render(row)
            if rendered.key is not None:
                out.append(BlobItem(link.store, rendered.key, collection, rk, link.template.is_prefix))
    return out


def items_for_located(engine: Context, located: Located) -> list[BlobItem]:
    """The blobs of every located row of a collection that declares ``blobs:``."""
    out: list[BlobItem] = []
    for link_coll in dict.fromkeys(b.collection for b in engine.blobs.collections()):
        rows = located.rows.get(link_coll) or []
        if rows:
            out.extend(items_for_rows(engine, link_coll, rows, located.primary_keys.get(link_coll) or ["id"]))
    return out


# -- 1. planned intents -----------------------------------------------------------------------------
def plan_rows(engine: Context, reference: str, items: Sequence[BlobItem]) -> int:
    """Record ``planned`` intents for these blobs (one transaction; an intent the reference
    already holds is left as it is). Returns how many were new."""
    if not items:
        return 0
    now = engine.now()
    by_hash = {key_hash(engine, i.store, i.key): i for i in items}
    with engine.store.begin() as conn:
        have: set[str] = set()
        hashes = list(by_hash)
        for start in range(0, len(hashes), BATCH):
            have.update(conn.execute(select(blob_deletions.c.key_hash).where(
                blob_deletions.c.reference == reference,
                blob_deletions.c.key_hash.in_(hashes[start:start + BATCH]))).scalars())
        rows = [{"reference": reference, "store": i.store, "key_hash": h, "blob_key": i.key, "is_prefix": i.is_prefix,
                 "collection": i.collection, "row_key": list(i.row_key), "status": "planned", "attempts": 0,
                 "error": None, "created_at": now, "updated_at": now}
                for h, i in by_hash.items() if h not in have]
        for start in range(0, len(rows), BATCH):
            conn.execute(insert(blob_deletions), rows[start:start + BATCH])
    return len(rows)


def identities_reference(engine: Context, identities: Mapping[str, Any]) -> str:
    """A stable name for an erasure of these identities (a re-run finds its own intents),
    keyed so that it names nobody."""
    text = "\x00".join(f"{k}={sorted(map(str, v)) if isinstance(v, list | tuple | set) else v}"
                        for k, v in sorted(identities.items()))
    return hmac.new(engine.keys.subject_secret.encode(), text.encode(), hashlib.sha256).hexdigest()[:24]


def plan_person(engine: Context, reference: str, identities: Mapping[str, Any]) -> int:
    """Plan the blobs of every row about the person (before their erasure starts); returns
    how many intents were new."""
    return plan_person_rows(engine, reference, identities)[0]


def plan_person_rows(engine: Context, reference: str,
                     identities: Mapping[str, Any]) -> tuple[int, Located | None]:
    """:func:`plan_person`, also returning the person's rows as read for it, for the erasure
    to plan from the same read (#19: one traversal, not two); None when no collection
    declares blobs (nothing was read)."""
    if not engine.blobs.collections():
        return 0, None
    from pledge.rights.locate import locate

    located = locate(engine, identities)
    return plan_rows(engine, reference, items_for_located(engine, located)), located


def plan_keys(engine: Context, reference: str, collection: str, keys: Sequence[Sequence[Any]]) -> int:
    """Plan the blobs of the rows of ``db.collection`` with these row keys, read now (before
    a caller that deletes rows by key, such as a retention sweep, deletes them)."""
    columns = blob_columns(engine, collection)
    if not columns or not keys:
        return 0
    database, name = collection.split(".", 1)
    connector = engine.connectors.get(database)
    pk = connector.row_key(name)
    items: list[BlobItem] = []
    with connector.read() as conn:  # reads only (#19)
        for start in range(0, len(keys), BATCH):
            rows = list(connector.fetch(conn, name, [tuple(k) for k in keys[start:start + BATCH]],
                                        columns=list(dict.fromkeys([*pk, *columns]))))
            items.extend(items_for_rows(engine, collection, rows, pk))
    return plan_rows(engine, reference, items)


# -- 3. confirmed by the rows' absence ----------------------------------------------------------------
def _present(engine: Context, collection: str, keys: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    database, name = collection.split(".", 1)
    connector = engine.connectors.get(database)
    pk = connector.row_key(name)
    with connector.read() as conn:  # reads only (#19)
        return {tuple(r[c] for c in pk) for r in connector.fetch(conn, name, keys, columns=pk)}


def _norm(key: Sequence[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in key)


def _by_row(engine: Context, intents: Sequence[Any]) -> tuple[list[int], list[int]]:
    """Split intents ``(id, collection, row_key)`` by their row, read again from the
    platform's database in batches: ``(ids whose row is still there, ids whose row is gone)``."""
    by_coll: dict[str, list[tuple[int, tuple[Any, ...]]]] = defaultdict(list)
    for rid, coll, rk in intents:
        by_coll[coll].append((rid, tuple(rk)))
    there: list[int] = []
    gone: list[int] = []
    for coll, entries in by_coll.items():
        keys = list(dict.fromkeys(rk for _, rk in entries))
        present: set[tuple[str, ...]] = set()
        for start in range(0, len(keys), BATCH):
            present.update(_norm(k) for k in _present(engine, coll, keys[start:start + BATCH]))
        for rid, rk in entries:
            (there if _norm(rk) in present else gone).append(rid)
    return there, gone


def confirm(engine: Context, reference: str) -> tuple[int, int]:
    """``planned`` -> ``pending`` for intents whose row is gone from the platform's database.
    Returns ``(pending now, planned left: rows still there)``."""
    with engine.store.connect() as conn:
        planned = conn.execute(select(blob_deletions.c.id, blob_deletions.c.collection, blob_deletions.c.row_key)
                               .where(blob_deletions.c.reference == reference,
                                      blob_deletions.c.status == "planned")).all()
    _, promote = _by_row(engine, planned)
    now = engine.now()
    with engine.store.begin() as conn:
        for start in range(0, len(promote), BATCH):
            conn.execute(update(blob_deletions).where(blob_deletions.c.id.in_(promote[start:start + BATCH]))
                         .values(status="pending", updated_at=now))
    return len(promote), len(planned) - len(promote)


def forget_unconfirmed(engine: Context, reference: str) -> int:
    """Drop the ``planned`` intents left once the SQL work finished: their rows stayed."""
    with engine.store.begin() as conn:
        return int(conn.execute(delete(blob_deletions).where(
            blob_deletions.c.reference == reference, blob_deletions.c.status == "planned")).rowcount or 0)


# -- 4. deletion ---------------------------------------------------------------------------------------
def _delete_prefix(store: BlobStore, prefix: str) -> tuple[bool, int, str | None]:
    """Delete every blob under ``prefix``; (all gone, calls, why not)."""
    keys = [b.key for b in store.list(prefix)]
    if not keys:
        return True, 0, None
    result = store.delete_many(keys)
    if result.failed:
        return False, result.calls, next(iter(result.failed.values()))
    return not any(True for _ in store.list(prefix)), result.calls, None


def _delete_batch(engine: Context, store_name: str, rows: list[Any]) -> BlobOutcome:
    out = BlobOutcome()
    gone: list[int] = []
    failed: dict[int, str] = {}
    try:
        store = engine.blobs.get(store_name)
        plain = [r for r in rows if not r.is_prefix]
        if plain:
            result = store.delete_many(r.blob_key for r in plain)
            out.calls += result.calls
            confirmed = set(result.gone)
            for r in plain:
                if r.blob_key in confirmed:
                    gone.append(r.id)
                else:
                    failed[r.id] = result.failed.get(r.blob_key, "the store did not confirm the deletion")
        for r in rows:
            if r.is_prefix:
                ok, calls, why = _delete_prefix(store, r.blob_key)
                out.calls += calls
                if ok:
                    gone.append(r.id)
                else:
                    failed[r.id] = why or "blobs remain under the prefix"
    except (BlobError, OSError) as exc:
        failed.update({r.id: str(exc) for r in rows if r.id not in gone})
    now = engine.now()
    with engine.store.begin() as conn:
        if gone:
            conn.execute(update(blob_deletions).where(blob_deletions.c.id.in_(gone)).values(
                status="gone", blob_key="", row_key=[], error=None, updated_at=now,
                attempts=blob_deletions.c.attempts + 1))
        for rid, why in failed.items():
            conn.execute(update(blob_deletions).where(blob_deletions.c.id == rid).values(
                error=why[:500], updated_at=now, attempts=blob_deletions.c.attempts + 1))
    out.gone, out.failed = len(gone), len(failed)
    out.errors = list(dict.fromkeys(failed.values()))[:_ERRORS_KEPT]
    return out


def delete_pending(engine: Context, reference: str | None = None) -> BlobOutcome:
    """Delete the ``pending`` blobs of ``reference`` (of every reference when None), in
    batches per store; each batch's outcome is committed before the next is read."""
    out = BlobOutcome()
    after = 0
    while True:
        q = (select(blob_deletions.c.id, blob_deletions.c.store, blob_deletions.c.blob_key,
                    blob_deletions.c.is_prefix)
             .where(blob_deletions.c.status == "pending", blob_deletions.c.id > after)
             .order_by(blob_deletions.c.id).limit(BATCH))
        if reference is not None:
            q = q.where(blob_deletions.c.reference == reference)
        with engine.store.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return out
        after = rows[-1].id
        by_store: dict[str, list[Any]] = defaultdict(list)
        for r in rows:
            by_store[r.store].append(r)
        for store_name, group in by_store.items():
            out.add(_delete_batch(engine, store_name, group))


def counts(engine: Context, reference: str) -> dict[str, int]:
    """Intents of ``reference`` by status."""
    from sqlalchemy import func

    with engine.store.connect() as conn:
        return {s: int(n) for s, n in conn.execute(
            select(blob_deletions.c.status, func.count()).where(blob_deletions.c.reference == reference)
            .group_by(blob_deletions.c.status))}


def store_counts(engine: Context, reference: str) -> dict[str, dict[str, int]]:
    """Files of ``reference`` per store, from its intents: ``deleted`` (the store confirmed them
    gone) and ``pending`` (not yet confirmed; retried). A prefix template's intent (a folder per
    row: every file under it) counts under ``folders_deleted``/``folders_pending`` instead, only
    when there are such. What the erasure certificate lists."""
    from sqlalchemy import func

    out: dict[str, dict[str, int]] = {}
    with engine.store.connect() as conn:
        for store, status, is_prefix, n in conn.execute(
                select(blob_deletions.c.store, blob_deletions.c.status, blob_deletions.c.is_prefix, func.count())
                .where(blob_deletions.c.reference == reference, blob_deletions.c.status.in_(("gone", "pending")))
                .group_by(blob_deletions.c.store, blob_deletions.c.status, blob_deletions.c.is_prefix)):
            counts = out.setdefault(str(store), {"deleted": 0, "pending": 0})
            name = ("folders_" if is_prefix else "") + ("deleted" if status == "gone" else "pending")
            counts[name] = counts.get(name, 0) + int(n)
    return out


def after_commit(engine: Context, reference: str, *, finished: bool = True) -> BlobOutcome:
    """Steps 3-4 for one reference, once its SQL work has committed: confirm by the rows'
    absence, delete, and (``finished``: the SQL work is over) drop intents whose rows stayed.
    ``gone`` counts every blob of the reference the store has confirmed gone, earlier runs'
    included; ``failed`` those still pending."""
    crash_point("after-sql")
    _, left = confirm(engine, reference)
    crash_point("before-delete")
    out = delete_pending(engine, reference)
    if finished:
        forget_unconfirmed(engine, reference)
    seen = counts(engine, reference)
    out.gone, out.failed, out.kept = seen.get("gone", 0), seen.get("pending", 0), left
    out.stores = store_counts(engine, reference)
    return out


def resume_pending(engine: Context, *, stale_after: timedelta = STALE_AFTER) -> BlobOutcome:
    """Finish what a crash left, for every reference (at worker start, before a sweep): each
    ``planned`` intent whose row is gone becomes ``pending`` (the row's deletion committed,
    whoever ran it), then every ``pending`` file is deleted. Intents whose rows are still there
    stay ``planned`` while their run may still be going; once older than ``stale_after`` they
    are dropped (:func:`drop_stale_planned`): the deletion that planned them rolled back."""
    if not engine.dataset.stores:
        return BlobOutcome()
    out = BlobOutcome()
    for reference in pending_references(engine):
        out.kept += confirm(engine, reference)[1]
    out.add(delete_pending(engine))
    out.dropped = drop_stale_planned(engine, stale_after)
    out.kept -= out.dropped
    return out


def drop_stale_planned(engine: Context, stale_after: timedelta = STALE_AFTER) -> int:
    """Drop ``planned`` intents older than ``stale_after`` whose row is still in the platform's
    database (a crashed run whose deletion rolled back: the row stays, so must its file).
    Each one's row is read again first; an intent whose row has gone (its deletion committed)
    becomes ``pending`` instead and its file is deleted. Returns how many were dropped."""
    cutoff = engine.now() - stale_after
    with engine.store.connect() as conn:
        stale = conn.execute(select(blob_deletions.c.id, blob_deletions.c.collection, blob_deletions.c.row_key)
                             .where(blob_deletions.c.status == "planned",
                                    blob_deletions.c.updated_at < cutoff)).all()
    drop, promote = _by_row(engine, stale)
    now = engine.now()
    with engine.store.begin() as conn:
        for start in range(0, len(drop), BATCH):
            conn.execute(delete(blob_deletions).where(blob_deletions.c.id.in_(drop[start:start + BATCH]),
                                                      blob_deletions.c.status == "planned"))
        for start in range(0, len(promote), BATCH):
            conn.execute(update(blob_deletions).where(blob_deletions.c.id.in_(promote[start:start + BATCH]),
                                                      blob_deletions.c.status == "planned")
                         .values(status="pending", updated_at=now))
    if promote:
        delete_pending(engine)
    return len(drop)


def pending_references(engine: Context) -> list[str]:
    """References with intents not yet gone (planned or pending)."""
    with engine.store.connect() as conn:
        return list(conn.execute(select(blob_deletions.c.reference).where(
            blob_deletions.c.status.in_(("planned", "pending"))).distinct().order_by(
            blob_deletions.c.reference)).scalars())
