"""A keyed, hash-chained, append-only audit log, anchored by signed checkpoints.

Each entry's hash is an HMAC-SHA256, under the deployment's audit key, of its own content
and the previous entry's hash. An edited, removed or reordered entry breaks the chain at a
row that :meth:`AuditLog.verify` names, and someone with write access to the store but
not the key cannot recompute a chain that verifies. A one-row head table holds the newest
hash, so a tail cut off without touching the head is caught too.

What the store alone cannot show is a tail cut off *together with* the head row (or the
head set back to match). For that the head is published outside the store: a
**checkpoint** (``{deployment, last_id, hash, at, public_key, signature}``) signed with an
Ed25519 key derived from the audit key, appended as one JSON line to a file
(``<config dir>/.pledge/audit-checkpoints.jsonl`` by default) and optionally mailed to the
privacy contact. ``verify(checkpoints=...)`` checks each checkpoint's signature and that
the entry it names still exists with exactly that hash.

Keys rotate (``engine.keys.audit``, newest first): new entries and checkpoints use the
newest key; verification accepts any listed one. Entries hashed with plain SHA-256 (the
chain before it was keyed, or one recomputed by someone without the key) are reported as
not keyed, never accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, Update, bindparam, func, insert, select, update

from pledge.errors import Failed
from pledge.store import Store
from pledge.store.tables.core import audit_head, audit_log

GENESIS = "0" * 64
CHECKPOINT_KIND = "pledge.audit-checkpoint"
CHECKPOINT_FORMAT = 1
#: at most this many entries go in with the head's move as one statement on PostgreSQL (one
#: WITH each); a larger batch is an executemany and an UPDATE
CTE_ROWS = 50
NOT_KEYED = ("not keyed: a plain SHA-256 hash, not an HMAC under this deployment's audit key "
             "(written before the chain was keyed, or recomputed by someone without the key)")
BAD_HASH = "content was edited, or hashed with a key this deployment does not have (hash mismatch)"


# -- keys -------------------------------------------------------------------------------------
def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"pledge", info=info).derive(secret.encode("utf-8"))


def chain_key(secret: str) -> bytes:
    """The HMAC key of the chain, derived from one audit key (domain separated by HKDF)."""
    return _derive(secret, b"audit chain v1")


def checkpoint_key(secret: str) -> Ed25519PrivateKey:
    """The Ed25519 key that signs checkpoints, derived from one audit key."""
    return Ed25519PrivateKey.from_private_bytes(_derive(secret, b"audit checkpoint v1"))


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


# -- entry hashes ---------------------------------------------------------------------------
def _body(entry_id: int, at: datetime, actor: str, action: str, target: str, details: Any,
          prev_hash: str) -> bytes:
    return json.dumps(
        [entry_id, _iso(at), actor, action, target, details, prev_hash],
        sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False,
    ).encode("utf-8")


def entry_hash(key: bytes, entry_id: int, at: datetime, actor: str, action: str, target: str,
               details: Any, prev_hash: str) -> str:
    """HMAC-SHA256 of an entry under a chain key (:func:`chain_key`)."""
    return hmac.new(key, _body(entry_id, at, actor, action, target, details, prev_hash), hashlib.sha256).hexdigest()


def plain_hash(entry_id: int, at: datetime, actor: str, action: str, target: str, details: Any,
               prev_hash: str) -> str:
    """The unkeyed SHA-256 the chain used before it was keyed (only to say so in ``verify``)."""
    return hashlib.sha256(_body(entry_id, at, actor, action, target, details, prev_hash)).hexdigest()


def _iso(at: datetime) -> str:
    # SQLite and MariaDB drop tzinfo; hash a naive UTC rendering so both sides agree.
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds")


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class AuditProblem:
    entry_id: int
    problem: str
    #: the last entry of a run of consecutive entries with the same problem
    through: int | None = None

    def __str__(self) -> str:
        if self.through is not None and self.through != self.entry_id:
            return f"audit entries {self.entry_id}–{self.through}: {self.problem}"
        return f"audit entry {self.entry_id}: {self.problem}"


class AuditHeadMissing(Failed):
    """The log has entries but no head row: someone deleted it; nothing more is appended."""


def _collapse(problems: list[AuditProblem]) -> list[AuditProblem]:
    out: list[AuditProblem] = []
    for p in problems:
        last = out[-1] if out else None
        if last is not None and last.problem == p.problem and (last.through or last.entry_id) + 1 == p.entry_id:
            out[-1] = replace(last, through=p.entry_id)
        else:
            out.append(p)
    return out


class _Pending:
    """The entries of one :meth:`AuditLog.batch`, chained as they come, written at its end."""

    def __init__(self, log: AuditLog, conn: Connection) -> None:
        self.log = log
        self.conn = conn
        self.rows: list[dict[str, Any]] = []
        self.head: tuple[bool, int, str] | None = None

    def add(self, action: str, actor: str, target: str, details: dict[str, Any]) -> int:
        if self.head is None:  # the first entry locks the head: ids and hashes are final from here
            self.head = self.log._head(self.conn)
        prev = self.rows[-1]["hash"] if self.rows else self.head[2]
        entry_id = (self.rows[-1]["id"] if self.rows else self.head[1]) + 1
        self.rows.append(self.log._entry(self.conn, entry_id, prev, action, actor, target, details))
        return int(entry_id)

    def flush(self) -> None:
        if self.rows and self.head is not None:
            self.log._write(self.conn, self.head[0], self.rows)
        self.rows = []


ENTRY_COLUMNS = tuple(c.name for c in audit_log.columns)

#: the head, locked (built once: #19)
_HEAD = select(audit_head.c.last_id, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()

#: the head's columns as scalar subqueries that lock its row (PostgreSQL), for another
#: statement of the transaction to return: see :meth:`AuditLog.head_columns`
_LOCKED_HEAD = (
    select(audit_head.c.last_id).where(audit_head.c.id == 1).with_for_update().scalar_subquery().label("audit_last_id"),
    select(audit_head.c.hash).where(audit_head.c.id == 1).with_for_update().scalar_subquery().label("audit_hash"),
)


#: elsewhere than PostgreSQL: the entries, the head's first row and its move, built once (#19)
_INSERT_ENTRY = insert(audit_log)
_INSERT_HEAD = insert(audit_head)
_MOVE_HEAD = (update(audit_head).where(audit_head.c.id == 1)
              .values(last_id=bindparam("head_id", type_=audit_head.c.last_id.type),
                      hash=bindparam("head_hash", type_=audit_head.c.hash.type)))


@lru_cache(maxsize=16)
def _entries_and_head(n: int) -> Update:
    """``WITH e0 AS (INSERT INTO audit_log …), e1 AS (…) … UPDATE audit_head …`` for ``n``
    entries, with named parameters only, so that SQLAlchemy compiles it once per ``n``. (One
    INSERT of several VALUES rows would be one CTE, but SQLAlchemy never caches a
    multi-VALUES INSERT: it compiled that for every batch.)"""
    entries = [insert(audit_log).values({name: bindparam(f"e{i}_{name}", type_=audit_log.c[name].type)
                                         for name in ENTRY_COLUMNS}).cte(f"e{i}")
               for i in range(n)]
    return (update(audit_head).where(audit_head.c.id == 1)
            .values(last_id=bindparam("head_id", type_=audit_head.c.last_id.type),
                    hash=bindparam("head_hash", type_=audit_head.c.hash.type))
            .add_cte(*entries))


class AuditLog:
    def __init__(self, store: Store, clock: Callable[[], datetime], *, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("the audit log needs at least one audit key (engine.keys.audit)")
        self.store = store
        self.clock = clock
        self._writer = chain_key(keys[0])
        #: every key verification accepts, newest first
        self._chain_keys = tuple(chain_key(k) for k in keys)
        self._signer = checkpoint_key(keys[0])
        self.public_keys = tuple(public_key_b64(checkpoint_key(k)) for k in keys)
        #: open :meth:`batch` blocks, by ``id(conn)`` (each thread has its own connection)
        self._batches: dict[int, _Pending] = {}

    # -- writing ------------------------------------------------------------------------------
    def record(self, action: str, *, actor: str = "system", target: str = "",
               details: dict[str, Any] | None = None, conn: Connection | None = None) -> int:
        """Append one entry; inside ``conn``'s transaction when given (and in its
        :meth:`batch`, when one is open on ``conn``)."""
        if conn is not None:
            pending = self._batches.get(id(conn))
            if pending is not None and pending.conn is conn:
                return pending.add(action, actor, target, details or {})
            return self._append(conn, action, actor, target, details or {})
        with self.store.begin() as own:
            return self._append(own, action, actor, target, details or {})

    @contextmanager
    def batch(self, conn: Connection) -> Iterator[None]:
        """Entries recorded on ``conn`` inside the block are chained as usual (each its own
        id and HMAC over the one before it) but written together when the block ends: one
        read of the locked head, one INSERT of every entry and one head update, however many
        entries (#19). Use it inside the transaction, so that the entries commit with it::

            with store.begin() as conn, audit.batch(conn):
                ...  # audit.record(..., conn=conn) as often as needed

        On an exception nothing is written (the transaction rolls back anyway)."""
        if id(conn) in self._batches:  # nested: the outer block writes
            yield
            return
        pending = _Pending(self, conn)
        self._batches[id(conn)] = pending
        try:
            yield
            pending.flush()
        finally:
            self._batches.pop(id(conn), None)

    def head_columns(self, conn: Connection) -> tuple[Any, ...]:
        """Columns for the ``RETURNING`` of a statement that writes the row this transaction
        locks first (a request's move), so that the same round trip locks and reads the
        audit head next, in that order (#19: one round trip fewer per batch); hand the
        returned row to :meth:`head_from`. Only on PostgreSQL, inside a :meth:`batch` on
        ``conn`` that has not read the head yet; otherwise ``()``, and the batch reads the
        head itself."""
        pending = self._batches.get(id(conn))
        if conn.dialect.name != "postgresql" or pending is None or pending.conn is not conn or pending.head is not None:
            return ()
        return _LOCKED_HEAD

    def head_from(self, conn: Connection, row: Any) -> None:
        """The head as a statement with :meth:`head_columns` returned it (locked): the batch on
        ``conn`` chains from it. A missing head row (NULL) is left to the batch's own read,
        which tells a fresh log from a deleted head."""
        pending = self._batches.get(id(conn))
        if pending is None or pending.conn is not conn or pending.head is not None or row.audit_last_id is None:
            return
        pending.head = (True, int(row.audit_last_id), str(row.audit_hash))

    def _head(self, conn: Connection) -> tuple[bool, int, str]:
        """(head row exists, last id, last hash), the head row locked until commit."""
        head = conn.execute(_HEAD).first()
        if head is None and conn.execute(select(func.max(audit_log.c.id))).scalar() is not None:
            raise AuditHeadMissing("the audit log has entries but its head row is gone (deleted?); "
                                   "run `pledge audit verify --checkpoint FILE`")
        return (head is not None, int(head.last_id) if head else 0, str(head.hash) if head else GENESIS)

    def _entry(self, conn: Connection, entry_id: int, prev: str, action: str, actor: str, target: str,
               details: dict[str, Any]) -> dict[str, Any]:
        """The row of one entry, hashed over ``prev``."""
        at = self.clock()
        if conn.dialect.name in ("mysql", "mariadb"):
            at = at.replace(microsecond=0)  # DATETIME keeps whole seconds there: hash what is kept
        details = json.loads(json.dumps(details, default=str))
        digest = entry_hash(self._writer, entry_id, at, actor, action, target, details, prev)
        return {"id": entry_id, "at": at, "actor": actor, "action": action, "target": target,
                "details": details, "prev_hash": prev, "hash": digest}

    def _write(self, conn: Connection, exists: bool, rows: list[dict[str, Any]]) -> None:
        last = rows[-1]
        if exists and conn.dialect.name == "postgresql" and len(rows) <= CTE_ROWS:
            # the entries and the head's move in one statement, one round trip (#19): PostgreSQL
            # runs a data-modifying WITH to completion whether or not the UPDATE reads it
            params = {f"e{i}_{name}": row[name] for i, row in enumerate(rows) for name in ENTRY_COLUMNS}
            self.store.run(conn, _entries_and_head(len(rows)),
                           {**params, "head_id": last["id"], "head_hash": last["hash"]})
            return
        # one statement for the entries (executemany / insertmanyvalues), each statement built once
        conn.execute(_INSERT_ENTRY, rows if len(rows) > 1 else rows[0])
        if not exists:
            conn.execute(_INSERT_HEAD, {"id": 1, "last_id": last["id"], "hash": last["hash"]})
        else:
            conn.execute(_MOVE_HEAD, {"head_id": last["id"], "head_hash": last["hash"]})

    def _append(self, conn: Connection, action: str, actor: str, target: str,
                details: dict[str, Any]) -> int:
        exists, last_id, prev = self._head(conn)
        row = self._entry(conn, last_id + 1, prev, action, actor, target, details)
        self._write(conn, exists, [row])
        return int(row["id"])

    # -- reading ------------------------------------------------------------------------------
    def entries(self, limit: int | None = None, action: str | None = None) -> list[dict[str, Any]]:
        q = select(audit_log).order_by(audit_log.c.id.desc())
        if action:
            q = q.where(audit_log.c.action == action)
        if limit:
            q = q.limit(limit)
        with self.store.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def _keyed(self, row: Any, order: list[bytes] | None = None) -> bool:
        """Does the row's hash verify under one of the audit keys?

        ``order`` is a caller's own list of the keys, moved so the one that last matched is
        tried first (a walk over entries from before a rotation tries one key, not two)."""
        keys = order if order is not None else list(self._chain_keys)
        for i, key in enumerate(keys):
            digest = entry_hash(key, row.id, row.at, row.actor, row.action, row.target, row.details, row.prev_hash)
            if hmac.compare_digest(digest, row.hash):
                if i:
                    keys.insert(0, keys.pop(i))
                return True
        return False

    def verify(self, checkpoints: Sequence[tuple[str, Any]] = (), deployment: str | None = None
               ) -> list[AuditProblem]:
        """Walk the chain and check it against ``checkpoints``; every break is named by its entry.

        ``checkpoints`` are ``(where, document)`` pairs (:func:`read_checkpoints`).
        Problems come sorted by entry, so the first one names the first bad entry.
        """
        chain: list[AuditProblem] = []
        anchors: list[AuditProblem] = []
        wanted: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for where, doc in checkpoints:
            fault = self.checkpoint_problem(doc, deployment)
            claimed = doc.get("last_id") if isinstance(doc, dict) else None
            if fault:
                anchors.append(AuditProblem(claimed if isinstance(claimed, int) else 0, f"checkpoint {where}: {fault}"))
            elif doc["last_id"] > 0:
                wanted.setdefault(doc["last_id"], []).append((where, doc))
        prev = GENESIS
        expected_id = 1
        order = list(self._chain_keys)
        with self.store.connect() as conn:
            for row in conn.execute(select(audit_log).order_by(audit_log.c.id)):
                if row.id != expected_id:
                    chain.append(AuditProblem(expected_id, f"missing; next entry present is {row.id}"))
                if row.prev_hash != prev:
                    chain.append(AuditProblem(row.id, "does not follow the entry before it (removed or reordered)"))
                if not self._keyed(row, order):
                    plain = plain_hash(row.id, row.at, row.actor, row.action, row.target, row.details, row.prev_hash)
                    chain.append(AuditProblem(row.id, NOT_KEYED if plain == row.hash else BAD_HASH))
                for where, doc in wanted.pop(row.id, []):
                    if doc["hash"] != row.hash:
                        anchors.append(AuditProblem(row.id, f"differs from the checkpoint of {doc['at']} ({where}): "
                                                            "the chain was rewritten after it"))
                prev = row.hash
                expected_id = row.id + 1
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
        newest = expected_id - 1
        if head is None and newest > 0:
            chain.append(AuditProblem(newest, "newest entry left, but the head row is missing (deleted): "
                                              "entries after this one may have been cut off"))
        elif head is not None and (head.last_id != newest or head.hash != prev):
            chain.append(AuditProblem(head.last_id, "newest entry is missing (log was truncated)"))
        for entry_id, docs in wanted.items():
            for where, doc in docs:
                anchors.append(AuditProblem(entry_id, f"missing, but the checkpoint of {doc['at']} ({where}) "
                                                      "holds it: the log was cut below a checkpoint"))
        return sorted(_collapse(chain) + anchors, key=lambda p: p.entry_id)

    # -- checkpoints --------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """(last_id, hash) of the newest entry, checked against the entry row and the key."""
        with self.store.connect() as conn:
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
            if head is None:
                if conn.execute(select(func.max(audit_log.c.id))).scalar() is not None:
                    raise AuditHeadMissing("the audit log has entries but its head row is gone (deleted?); "
                                           "run `pledge audit verify`")
                return 0, GENESIS
            row = conn.execute(select(audit_log).where(audit_log.c.id == head.last_id)).first()
        if row is None or row.hash != head.hash or not self._keyed(row):
            raise AuditHeadMissing(f"the audit head names entry {head.last_id}, which is missing, differs or is "
                                   "not keyed; run `pledge audit verify`")
        return int(head.last_id), str(head.hash)

    def checkpoint(self, deployment: str) -> dict[str, Any]:
        """A signed checkpoint of the current head (JSON-able, one line in a checkpoint file)."""
        last_id, digest = self.head()
        body: dict[str, Any] = {
            "kind": CHECKPOINT_KIND, "format": CHECKPOINT_FORMAT, "deployment": deployment,
            "last_id": last_id, "hash": digest, "at": self.clock().isoformat(),
            "public_key": public_key_b64(self._signer),
        }
        body["signature"] = base64.b64encode(self._signer.sign(_canonical(body))).decode("ascii")
        return body

    def checkpoint_problem(self, doc: Any, deployment: str | None = None) -> str | None:
        """Why a checkpoint document cannot be trusted, or None when it is signed by this deployment."""
        if not isinstance(doc, dict):
            return "not a JSON object"
        if doc.get("kind") != CHECKPOINT_KIND or doc.get("format") != CHECKPOINT_FORMAT:
            return "not a Pledge audit checkpoint"
        body = {k: v for k, v in doc.items() if k != "signature"}
        if not isinstance(doc.get("last_id"), int) or not isinstance(doc.get("hash"), str):
            return "no last_id and hash"
        try:
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(doc.get("public_key")), validate=True))
            public.verify(base64.b64decode(str(doc.get("signature")), validate=True), _canonical(body))
        except (ValueError, InvalidSignature):
            return "the signature does not verify (the checkpoint was altered or forged)"
        if doc["public_key"] not in self.public_keys:
            return "signed by a key that is none of this deployment's audit keys"
        if deployment is not None and doc.get("deployment") != deployment:
            return f"made for deployment {doc.get('deployment')!r}, not {deployment!r}"
        return None


# -- checkpoint files ---------------------------------------------------------------------------
def read_checkpoints(path: Path) -> list[tuple[str, Any]]:
    """``(where, document)`` for each non-blank line of a checkpoint file (None: not JSON)."""
    out: list[tuple[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        out.append((f"{path.name}:{n}", doc))
    return out


def append_checkpoint(path: Path, doc: dict[str, Any]) -> None:
    """Append one checkpoint line and flush it to disk (the file is only ever appended to)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
