"""A version counter per person, so that a consent change counts at once in every process.

Every write to a person's consent, restrictions or objections calls :func:`bump` on the
same connection, inside the same transaction, so the counter moves exactly when the
change commits. :class:`pledge.consent.decisions.DecisionService` keeps cached decisions
with the counter they were made under and reads the counter again (one primary-key read)
before serving one: a withdrawal through one server process is seen by the very next
decision in any other process sharing the store.

People are named by their subject key (the keyed HMAC of the email under the newest
subject key), as the consent ledger names them. A person never written has no row:
version 0.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from pledge.store.tables.consent import consent_versions

__all__ = ["bump", "read", "read_many", "read_pooled"]

_V = consent_versions.c
#: the one statement of the hot path, per DB-API parameter style
_READ_SQL = {"qmark": "SELECT version FROM consent_versions WHERE subject_key = ?",
             "format": "SELECT version FROM consent_versions WHERE subject_key = %s",
             "pyformat": "SELECT version FROM consent_versions WHERE subject_key = %s"}


def bump(conn: Connection, subject_key: str) -> None:
    """Move the person's counter on, in ``conn``'s transaction (one upsert)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        pg = pg_insert(consent_versions).values(subject_key=subject_key, version=1)
        conn.execute(pg.on_conflict_do_update(index_elements=[_V.subject_key], set_={"version": _V.version + 1}))
    elif dialect in ("mysql", "mariadb"):
        my = mysql_insert(consent_versions).values(subject_key=subject_key, version=1)
        conn.execute(my.on_duplicate_key_update(version=_V.version + 1))
    elif dialect == "sqlite":
        lite = sqlite_insert(consent_versions).values(subject_key=subject_key, version=1)
        conn.execute(lite.on_conflict_do_update(index_elements=[_V.subject_key], set_={"version": _V.version + 1}))
    else:  # any other database: update, else insert (a racing insert means someone else bumped)
        done = conn.execute(update(consent_versions).where(_V.subject_key == subject_key)
                            .values(version=_V.version + 1))
        if not done.rowcount:
            try:
                with conn.begin_nested():
                    conn.execute(consent_versions.insert().values(subject_key=subject_key, version=1))
            except IntegrityError:
                conn.execute(update(consent_versions).where(_V.subject_key == subject_key)
                             .values(version=_V.version + 1))


def read(conn: Connection, subject_key: str) -> int:
    """The person's counter now (0 when nothing was ever written for them)."""
    return int(conn.execute(select(_V.version).where(_V.subject_key == subject_key)).scalar() or 0)


def read_pooled(engine: Engine, subject_key: str) -> int:
    """:func:`read` on a pooled connection, without building a statement: the decision hot
    path (a pool checkout and one prepared primary-key read, about a tenth of the cost of
    a Core ``select`` on a ``Connection``). Every read is its own transaction: the pool ends
    it when the connection goes back, so the next read sees what committed meanwhile."""
    sql = _READ_SQL.get(engine.dialect.paramstyle)
    if sql is None:  # a driver with another parameter style: the ordinary way
        with engine.connect() as conn:
            return read(conn, subject_key)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(sql, (subject_key,))
            row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        raw.close()  # back to the pool, rolled back
    return int(row[0]) if row else 0


def read_many(conn: Connection, subject_keys: Collection[str]) -> dict[str, int]:
    """Counters for several people in one query; people without a row are left out (0)."""
    if not subject_keys:
        return {}
    rows = conn.execute(select(_V.subject_key, _V.version).where(_V.subject_key.in_(list(subject_keys))))
    return {k: int(v) for k, v in rows}
