"""Plain retention deletes by row-key range: one planned intent, adaptive batches.

A target that only deletes rows of its own table (action ``delete``, nothing cascades
into it, not a table of people) is swept as ranges of its row key (the primary key, one
column or several; composite keys are compared as row values). Statements are built by the
data plane (:mod:`pledge.dataplane.selection`):

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
batches. Other key types, and composite keys, always use that query. Python memory stays constant: no key
lists are fetched. On SQLite the batches' connection checkpoints its WAL every
:data:`WAL_PAGES` pages rather than after every batch (a checkpoint waits for two fsyncs).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, update

from pledge.connectors.base import Connector, Key
from pledge.dataplane import selection
from pledge.dataplane.selection import Pred
from pledge.store.tables.core import erasure_ledger

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.retention.rules import Target
    from pledge.retention.sweep import Sweep, TargetResult

#: grow the batch while one takes less than this (seconds); shrink above SLOW
FAST = 0.3
SLOW = 1.5
#: the default ceiling of rows in one plain-delete batch
MAX_BATCH = 100_000
#: SQLite: WAL pages between checkpoints while a sweep's batches run (64 MB at 4 KB pages)
WAL_PAGES = 16_384


def same_database(engine: Context, connector: Connector) -> bool:
    """Whether Pledge's store lives in this platform database (one transaction can hold both)."""
    return connector.is_database(engine.store.engine.url.render_as_string(hide_password=False))


_show = selection.dump_key


def _int(key: Key | None) -> int | None:
    """The value of a one-column integer key (spans of keys are counted on those only)."""
    return key[0] if key is not None and len(key) == 1 and isinstance(key[0], int) \
        and not isinstance(key[0], bool) else None


class RangeSweep:
    """Sweeps one plain-delete target by key ranges (see the module docs)."""

    def __init__(self, sweep: Sweep, target: Target, connector: Connector, where: Pred,
                 result: TargetResult, expected: int) -> None:
        self.sweep = sweep
        self.target = target
        self.connector = connector
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

    def _key(self, value: Any) -> Key | None:
        return selection.load_key(self.connector, self.target.table, value)

    # -- checkpoints ------------------------------------------------------------------------------
    def _save(self, last: Key | None, open_range: dict[str, Any] | None, conn: Connection | None = None) -> None:
        self.sweep.cp.put(self.target.key, {"last_pk": _show(last) if last is not None else None,
                                            "rows": self.result.rows, "range": open_range, "size": self.size}, conn)

    # -- planning -----------------------------------------------------------------------------------
    def _plan(self, last: Key | None) -> dict[str, Any] | None:
        """The next range of expired keys after ``last``, with its intent written; None when done."""
        table = self.target.table
        with self.connector.begin() as conn:
            first = selection.first_key(self.connector, conn, table, self.where, after=last)
            if first is None:
                return None
            end = selection.first_key(self.connector, conn, table, self.where, after=last, last=True)
            assert end is not None
        engine = self.sweep.engine
        target = self.target
        reference = f"retention:{target.key}:{_show(first)}-{_show(end)}:{uuid.uuid4().hex[:8]}"
        scope: dict[str, Any] = {"rule": target.rule.key, "collection": target.collection, "action": "delete",
                                 "cutoff": target.cutoff(self.sweep.now).isoformat(), "first_pk": _show(first),
                                 "last_pk": _show(end), "batches": "key ranges inside first_pk..last_pk"}
        if self.expected and self.ranges == 0 and last is None:
            scope["rows_expected"] = self.expected
        with engine.store.begin() as sconn:
            res = sconn.execute(insert(erasure_ledger).values(
                at=engine.ledger.clock(), subject_keys={}, source="retention", reference=reference,
                scope=scope, status="intent"))
            key = res.inserted_primary_key
            assert key is not None
            planned = {"first": _show(first), "last": _show(end), "entry": int(key[0]), "reference": reference}
            engine.audit.record("retention.sweep.range", actor=self.sweep.actor, target=reference,
                                details={**scope, "ledger_entry": planned["entry"]}, conn=sconn)
            self._save(last, planned, sconn)
        self.ranges += 1
        return planned

    def _close(self, last: Key | None, planned: dict[str, Any]) -> None:
        engine = self.sweep.engine
        with engine.store.begin() as sconn:
            sconn.execute(update(erasure_ledger).where(erasure_ledger.c.id == planned["entry"])
                          .values(status="done", done_at=engine.ledger.clock()))
            self._save(last, None, sconn)

    # -- batches ------------------------------------------------------------------------------------
    def _bound(self, last: Key | None, first: Key, end: Key, size: int) -> Key:
        """The last key of the next batch: at most ``size`` expired rows after ``last``."""
        start = _int(first if last is None else last)
        top = _int(end)
        if start is not None and top is not None and not self.sparse:
            return (min(start + size - (1 if last is None else 0), top),)
        with self.connector.begin() as conn:
            found = selection.keys(self.connector, conn, self.target.table, self.where, after=last, upto=end,
                                   offset=size - 1, limit=1)
        return end if not found else found[0]

    def _batch(self, last: Key | None, planned: dict[str, Any], size: int) -> tuple[Key, int]:
        first, end = self._key(planned["first"]), self._key(planned["last"])
        assert first is not None and end is not None
        bound = self._bound(last, first, end, size)
        started = time.perf_counter()
        conn = self.conn
        assert conn is not None
        with conn.begin():
            affected = selection.delete_selected(self.connector, conn, self.target.table, self.where, after=last,
                                                 first=first if last is None else None, upto=bound)
            self.result.rows += affected
            self.largest = max(self.largest, affected)
            if self.shared:
                self._save(bound, planned, conn)
        if not self.shared:
            self._save(bound, planned)
        self._adapt(time.perf_counter() - started, affected, last, first, bound)
        return bound, affected

    def _adapt(self, seconds: float, affected: int, last: Key | None, first: Key, bound: Key) -> None:
        if seconds < FAST:
            self.size = min(self.size * 2, self.ceiling)
        elif seconds > SLOW:
            self.size = max(self.size // 2, 1)
        start, stop = _int(first if last is None else last), _int(bound)
        if start is not None and stop is not None:
            self.sparse = affected * 4 < max(stop - start, 1)

    @contextmanager
    def _batch_connection(self) -> Iterator[Connection]:
        """One platform connection for the batches (:meth:`pledge.connectors.base.Connector.bulk`:
        on SQLite its WAL is checkpointed every :data:`WAL_PAGES` pages, not after each batch)."""
        with self.connector.bulk(WAL_PAGES) as conn:
            yield conn

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
        last = self._key(state.get("last_pk"))
        planned: dict[str, Any] | None = state.get("range")
        self.size = min(int(state.get("size") or self.size), self.ceiling)
        while True:
            if planned is None:
                sweep.budget(1)  # a stopped sweep plans nothing new
                planned = self._plan(last)
                if planned is None:
                    break
            while last is None or last != self._key(planned["last"]):
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
