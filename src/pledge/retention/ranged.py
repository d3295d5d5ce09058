"""Plain retention deletes by primary-key range: one planned intent, adaptive batches.

A target that only deletes rows of its own table (action ``delete``, nothing cascades
into it, not a table of people) is swept as ranges of its primary key:

1. **plan a range**: the first and the last expired key (two ``ORDER BY pk LIMIT 1``
   look-ups, no count). One store transaction then writes the erasure-ledger intent and
   the audit entry for the whole range — rule, collection, cutoff, ``first_pk`` and
   ``last_pk`` — together with a checkpoint naming the open range. Nothing is deleted
   before that transaction commits.
2. **batches**: each is one ``DELETE … WHERE <expired, not held> AND pk > a AND pk <= b``
   inside the range, followed by a checkpoint ``b`` (in the same transaction when the
   store lives in the platform's database, else one small upsert in the store).
3. **close**: the intent is marked done. Rows that expired beyond the range while it ran
   (new keys) get a range and an intent of their own; one summary audit entry per target.

A sweep killed at any point resumes from the checkpoint inside the open range, under the
same intent; a re-run batch finds its rows gone, so the result is the same.

Batch size adapts: it starts at ``batch_size``, doubles while a batch takes under
:data:`FAST` seconds and halves above :data:`SLOW`, never above ``max_batch`` rows. With
integer keys a batch is a key span of ``size`` keys — at most ``size`` rows, and no
query to find its end. After a sparse span (under a quarter of it expired) the next end
is found with one keyset query (the ``size``-th expired key), so gaps cost no empty
batches. Other key types always use that query. Python memory stays constant: no key
lists are fetched. On SQLite the batches' connection checkpoints its WAL every
:data:`WAL_PAGES` pages rather than after every batch (a checkpoint waits for two fsyncs).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from pledge.store.tables.core import erasure_ledger

if TYPE_CHECKING:
    from pledge.connectors.sql import SqlConnector
    from pledge.engine import Engine
    from pledge.retention.rules import Target
    from pledge.retention.sweep import Sweep, TargetResult

#: grow the batch while one takes less than this (seconds); shrink above SLOW
FAST = 0.3
SLOW = 1.5
#: the default ceiling of rows in one plain-delete batch
MAX_BATCH = 100_000
#: SQLite: WAL pages between checkpoints while a sweep's batches run (64 MB at 4 KB pages)
WAL_PAGES = 16_384


def same_database(engine: Engine, connector: SqlConnector) -> bool:
    """Whether Pledge's store lives in this platform database (one transaction can hold both)."""
    store_url = engine.store.engine.url.render_as_string(hide_password=False)
    return store_url == connector.engine.url.render_as_string(hide_password=False)


class RangeSweep:
    """Sweeps one plain-delete target by key ranges (see the module docs)."""

    def __init__(self, sweep: Sweep, target: Target, connector: SqlConnector, pk: Any, where: Any,
                 result: TargetResult, expected: int) -> None:
        self.sweep = sweep
        self.target = target
        self.connector = connector
        self.table = connector.table(target.table)
        self.pk = pk
        self.where = where
        self.result = result
        self.expected = expected
        self.shared = same_database(sweep.engine, connector)
        self.ceiling = max(sweep.max_batch, sweep.batch_size)
        self.size = min(sweep.batch_size, self.ceiling)
        self.sparse = False
        self.ranges = 0
        self.largest = 0
        self.conn: Connection | None = None

    # -- checkpoints ------------------------------------------------------------------------------
    def _save(self, last: Any, open_range: dict[str, Any] | None, conn: Connection | None = None) -> None:
        self.sweep.cp.put(self.target.key, {"last_pk": last, "rows": self.result.rows, "range": open_range,
                                            "size": self.size}, conn)

    # -- planning -----------------------------------------------------------------------------------
    def _after(self, last: Any) -> Any:
        return self.where if last is None else and_(self.where, self.pk > last)

    def _plan(self, last: Any) -> dict[str, Any] | None:
        """The next range of expired keys after ``last``, with its intent written; None when done."""
        pk = self.pk
        with self.connector.begin() as conn:
            first = conn.execute(select(pk).where(self._after(last)).order_by(pk).limit(1)).scalar()
            if first is None:
                return None
            end = conn.execute(select(pk).where(self._after(last)).order_by(pk.desc()).limit(1)).scalar()
        engine = self.sweep.engine
        target = self.target
        reference = f"retention:{target.key}:{first}-{end}:{uuid.uuid4().hex[:8]}"
        scope: dict[str, Any] = {"rule": target.rule.key, "collection": target.collection, "action": "delete",
                                 "cutoff": target.cutoff(self.sweep.now).isoformat(), "first_pk": first,
                                 "last_pk": end, "batches": "key ranges inside first_pk..last_pk"}
        if self.expected and self.ranges == 0 and last is None:
            scope["rows_expected"] = self.expected
        with engine.store.begin() as sconn:
            res = sconn.execute(insert(erasure_ledger).values(
                at=engine.ledger.clock(), subject_keys={}, source="retention", reference=reference,
                scope=scope, status="intent"))
            key = res.inserted_primary_key
            assert key is not None
            planned = {"first": first, "last": end, "entry": int(key[0]), "reference": reference}
            engine.audit.record("retention.sweep.range", actor=self.sweep.actor, target=reference,
                                details={**scope, "ledger_entry": planned["entry"]}, conn=sconn)
            self._save(last, planned, sconn)
        self.ranges += 1
        return planned

    def _close(self, last: Any, planned: dict[str, Any]) -> None:
        engine = self.sweep.engine
        with engine.store.begin() as sconn:
            sconn.execute(update(erasure_ledger).where(erasure_ledger.c.id == planned["entry"])
                          .values(status="done", done_at=engine.ledger.clock()))
            self._save(last, None, sconn)

    # -- batches ------------------------------------------------------------------------------------
    def _bound(self, last: Any, first: Any, end: Any, size: int) -> Any:
        """The last key of the next batch: at most ``size`` expired rows after ``last``."""
        start = first if last is None else last
        if isinstance(start, int) and isinstance(end, int) and not self.sparse:
            span_end = start + size - (1 if last is None else 0)
            return min(span_end, end)
        pk = self.pk
        with self.connector.begin() as conn:
            bound = conn.execute(select(pk).where(self._after(last), pk <= end).order_by(pk)
                                 .offset(size - 1).limit(1)).scalar()
        return end if bound is None else bound

    def _batch(self, last: Any, planned: dict[str, Any], size: int) -> tuple[Any, int]:
        bound = self._bound(last, planned["first"], planned["last"], size)
        pk = self.pk
        low = pk >= planned["first"] if last is None else pk > last
        started = time.perf_counter()
        conn = self.conn
        assert conn is not None
        with conn.begin():
            affected = max(conn.execute(delete(self.table).where(and_(self.where, low, pk <= bound))).rowcount or 0, 0)
            self.result.rows += affected
            self.largest = max(self.largest, affected)
            if self.shared:
                self._save(bound, planned, conn)
        if not self.shared:
            self._save(bound, planned)
        self._adapt(time.perf_counter() - started, affected, last, planned["first"], bound)
        return bound, affected

    def _adapt(self, seconds: float, affected: int, last: Any, first: Any, bound: Any) -> None:
        if seconds < FAST:
            self.size = min(self.size * 2, self.ceiling)
        elif seconds > SLOW:
            self.size = max(self.size // 2, 1)
        start = first if last is None else last
        if isinstance(start, int) and isinstance(bound, int):
            self.sparse = affected * 4 < max(bound - start, 1)

    @contextmanager
    def _batch_connection(self) -> Iterator[Connection]:
        """One platform connection for the batches. On SQLite its WAL is checkpointed every
        :data:`WAL_PAGES` pages instead of after each batch (each checkpoint waits for two
        fsyncs); the old setting comes back and the WAL is checkpointed at the end."""
        with self.connector.engine.connect() as conn:
            old = None
            if conn.dialect.name == "sqlite":
                old = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
                conn.commit()
            try:
                yield conn
            finally:
                if old is not None:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(old)}")
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                    conn.commit()

    # -- the target ---------------------------------------------------------------------------------
    def run(self, state: dict[str, Any]) -> None:
        with self._batch_connection() as conn:
            self.conn = conn
            try:
                self._run(state)
            finally:
                self.conn = None

    def _run(self, state: dict[str, Any]) -> None:
        sweep, result = self.sweep, self.result
        last = state.get("last_pk")
        planned: dict[str, Any] | None = state.get("range")
        self.size = min(int(state.get("size") or self.size), self.ceiling)
        while True:
            if planned is None:
                sweep.budget(1)  # a stopped sweep plans nothing new
                planned = self._plan(last)
                if planned is None:
                    break
            while last is None or last < planned["last"]:
                size = sweep.budget(self.size)
                last, affected = self._batch(last, planned, size)
                result.batches += 1
                sweep.total += affected
                if sweep.progress is not None:
                    sweep.progress(self.target.key, result.rows, self.expected)
            self._close(last, planned)
            planned = None
        sweep.engine.audit.record("retention.sweep.target", actor=sweep.actor, target=self.target.key,
                                  details={"rule": self.target.rule.key, "collection": self.target.collection,
                                           "action": "delete", "rows": result.rows, "batches": result.batches,
                                           "ranges": self.ranges, "largest_batch": self.largest})
