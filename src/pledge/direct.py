"""Prebuilt statements run on PostgreSQL's driver directly, without SQLAlchemy's per-execution
work (#19).

SQLAlchemy compiles a prebuilt statement once and keeps it, but every execution still builds
an execution context, result metadata and row objects around the driver's call: about 120 µs
of CPU per statement on the bench machine, as much as psycopg's own work, and more for wide
rows. :class:`Direct` keeps the compiled SQL of a statement that needs none of that and runs
it on the connection's own psycopg cursor, in the connection's transaction, returning plain
rows.

A statement qualifies when it is compiled for PostgreSQL through psycopg, renders the same
SQL at every execution (no expanding ``IN`` and no literal-execute parameter) and has no
Python-side default to compute. Everything else goes through SQLAlchemy, unchanged. What a
direct run keeps of SQLAlchemy's contract:

* the same SQL text and the same parameters (the types' bind processors applied), and the
  same values out (the result processors SQLAlchemy would pick for the columns' database
  types, applied);
* the ``before_cursor_execute`` / ``after_cursor_execute`` events, for whoever listens (the
  tests that count statements, a profiler), with ``context`` None;
* a driver error raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``…), the
  connection invalidated on a disconnect, through the connection's own handler;
* the connection's transaction begun as SQLAlchemy begins it (``commit()`` then commits what
  ran here), and a transaction an error left to roll back refused (``PendingRollbackError``).

Three ways in: :meth:`Direct.rows` gives dicts (the connector's lookups);
:meth:`Direct.rows_each` the dicts of several statements sent together in one psycopg
pipeline (lookups that do not need each other); :meth:`Direct.execute` a result with what the
store's callers use of SQLAlchemy's (``first``, ``one``, ``scalar``, ``all``, ``rowcount``;
rows by attribute, by position and ``_mapping``). A statement is compiled, as SQLAlchemy
compiles it, for the names of the parameters it is run with (an ``INSERT`` without
``values()`` sets exactly the columns given), so a plan is kept per statement and names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

__all__ = ["Direct", "Result"]

#: plans kept at most (prebuilt statements are a few dozen; past this, start again)
MAX_PLANS = 512


@dataclass
class _Plan:
    """A statement's compiled form, checked once: its SQL, its bind processors, the keys of
    its result columns, and (from its first run, which knows the columns' database types)
    the functions that convert their values, as SQLAlchemy would apply them."""

    compiled: SQLCompiler
    sql: str
    binds: Mapping[str, Callable[[Any], Any]]
    escaped: Mapping[str, str]
    columns: tuple[Any, ...]
    keys: tuple[str, ...]
    outs: tuple[Callable[[Any], Any] | None, ...] | None = None

    def convert(self, dialect: Dialect, description: Any) -> tuple[Callable[[Any], Any] | None, ...]:
        if self.outs is None:
            self.outs = tuple(c.type._cached_result_processor(dialect, d.type_code)
                              for c, d in zip(self.columns, description, strict=True))
        return self.outs


def _plan(stmt: ClauseElement, dialect: Dialect, names: tuple[str, ...] = ()) -> _Plan | None:
    """The plan of ``stmt`` on ``dialect`` for parameters named ``names``, or None when it
    must go through SQLAlchemy."""
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return None
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    if not isinstance(compiled, SQLCompiler) or compiled.positional:
        return None
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None  # the SQL is rendered again at every execution
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.schema_translate_map:
        return None  # defaults computed in Python, or names translated per execution
    binds: dict[str, Callable[[Any], Any]] = {}
    for name, process in compiled._bind_processors.items():
        if not callable(process):
            return None  # a tuple's processors, one per element
        binds[name] = process
    columns = tuple(compiled._result_columns)
    return _Plan(compiled, compiled.string, binds, dict(compiled.escaped_bind_names or {}), columns,
                 tuple(c.keyname for c in columns))


class _Row(tuple[Any, ...]):
    """A result row: by position, by attribute and as ``_mapping``, like SQLAlchemy's."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[type(self)._index[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(type(self)._index, self, strict=True))


class Result:
    """A direct run's rows (all read at once) and the driver's row count."""

    def __init__(self, rows: list[_Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[_Row]:
        return iter(self._rows)

    def first(self) -> _Row | None:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def all(self) -> list[_Row]:
        return list(self._rows)

    def one(self) -> _Row:
        """The one row; SQLAlchemy's errors when there is none or more than one."""
        if len(self._rows) != 1:
            raise (NoResultFound("No row was found when one was required") if not self._rows else
                   MultipleResultsFound("Multiple rows were found when exactly one was required"))
        return self._rows[0]


class Direct:
    """The plans of one engine's prebuilt statements, made on first use.

    Hold the statements themselves for as long as this object (module constants, or a
    connector's built-once statements): a plan is found by the statement's identity."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._plans: dict[tuple[int, tuple[str, ...]], tuple[ClauseElement, _Plan | None]] = {}
        self._rows: dict[tuple[str, ...], type[_Row]] = {}

    def plan(self, stmt: ClauseElement, names: tuple[str, ...] = ()) -> _Plan | None:
        known = self._plans.get((id(stmt), names))
        if known is None or known[0] is not stmt:
            if len(self._plans) >= MAX_PLANS:  # statements built per call, against the advice above
                self._plans.clear()
            known = (stmt, _plan(stmt, self.dialect, names))
            self._plans[(id(stmt), names)] = known
        return known[1]

    def execute(self, conn: Connection, stmt: Any, params: Mapping[str, Any] | None = None) -> Any:
        """``conn.execute(stmt, params)``, direct where that is exact: a :class:`Result`, or
        SQLAlchemy's own result where it is not (the same methods either way)."""
        plan = self.plan(stmt, tuple(params or ()))
        if plan is None:
            return conn.execute(stmt, params)
        lines, rowcount = self._converted(conn, plan, params)
        if not lines:
            return Result([], rowcount)
        row = self._rows.get(plan.keys)
        if row is None:
            row = self._rows[plan.keys] = type("Row", (_Row,), {"__slots__": (), "_index": {
                k: i for i, k in enumerate(plan.keys)}})
        return Result([row(line) for line in lines], rowcount)

    def rows(self, conn: Connection, stmt: Any, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """The result rows of ``stmt`` as dicts keyed like ``row._mapping``, all read at once."""
        plan = self.plan(stmt)
        if plan is None:
            for row in conn.execute(stmt, params):
                yield dict(row._mapping)
            return
        keys = plan.keys
        for line in self._converted(conn, plan, params)[0]:
            yield dict(zip(keys, line, strict=True))

    def rows_each(self, conn: Connection, asks: Sequence[tuple[Any, Mapping[str, Any] | None]]) \
            -> list[list[dict[str, Any]]]:
        """:meth:`rows` of each ``(statement, parameters)``, in their order: statements that
        return rows, none depending on another's effect. When every one runs direct they are
        sent together, in psycopg's pipeline mode: one round trip for all of them instead of
        one each (#19)."""
        plans = [self.plan(stmt, ()) for stmt, _ in asks]
        if len(asks) < 2 or any(plan is None for plan in plans):
            return [list(self.rows(conn, stmt, params)) for stmt, params in asks]
        ready = [plan for plan in plans if plan is not None]
        out: list[list[dict[str, Any]]] = []
        for plan, (lines, description, _) in zip(ready, self._run_together(conn, ready, [p for _, p in asks]),
                                                  strict=True):
            keys = plan.keys
            out.append([dict(zip(keys, line, strict=True)) for line in self._out(plan, lines, description)])
        return out

    def _out(self, plan: _Plan, lines: list[tuple[Any, ...]], description: Any) -> list[tuple[Any, ...]]:
        """The rows with the result processors applied."""
        if not lines:
            return lines
        outs = plan.convert(self.dialect, description)
        if any(outs):
            return [tuple(out(v) if out is not None else v for out, v in zip(outs, line, strict=True))
                    for line in lines]
        return lines

    def _converted(self, conn: Connection, plan: _Plan,
                   params: Mapping[str, Any] | None) -> tuple[list[tuple[Any, ...]], int]:
        """The rows with the result processors applied, and the row count."""
        lines, description, rowcount = self._run(conn, plan, params)
        return self._out(plan, lines, description), rowcount

    @staticmethod
    def _begun(conn: Connection) -> None:
        """The connection's transaction as SQLAlchemy's own execution leaves it: begun (so that
        a commit() on a connection whose first statement ran here commits it), or refused when
        an earlier error left it to be rolled back."""
        if (conn._transaction and not conn._transaction.is_active) or (
                conn._nested_transaction and not conn._nested_transaction.is_active):
            conn._invalid_transaction()
        if conn._transaction is None:
            conn._autobegin()

    @staticmethod
    def _values(plan: _Plan, params: Mapping[str, Any] | None) -> dict[str, Any]:
        given = plan.compiled.construct_params(dict(params or {}), escape_names=False)
        binds, escaped = plan.binds, plan.escaped
        return {escaped.get(k, k): binds[k](v) if k in binds else v for k, v in given.items()}

    def _run(self, conn: Connection, plan: _Plan,
             params: Mapping[str, Any] | None) -> tuple[list[tuple[Any, ...]], Any, int]:
        """The rows, the cursor's description and its row count."""
        self._begun(conn)
        values = self._values(plan, params)
        sql: str = plan.sql
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            listened = conn._has_events or conn.engine._has_events
            if listened:
                for before in conn.dispatch.before_cursor_execute:
                    sql, values = before(conn, cursor, sql, values, None, False)
            try:
                cursor.execute(sql, values)
                description = cursor.description
                rows: list[tuple[Any, ...]] = cursor.fetchall() if description is not None else []
            except Exception as exc:  # noqa: BLE001 - wrapped (and the connection invalidated) as SQLAlchemy does
                conn._handle_dbapi_exception(exc, sql, values, cursor, None)
            if listened:
                for after in conn.dispatch.after_cursor_execute:
                    after(conn, cursor, sql, values, None, False)
            return rows, description, cursor.rowcount
        finally:
            cursor.close()

    def _run_together(self, conn: Connection, plans: Sequence[_Plan], params: Sequence[Mapping[str, Any] | None]) \
            -> list[tuple[list[tuple[Any, ...]], Any, int]]:
        """:meth:`_run` of each plan, all sent before any result is read (a pipeline); each
        must return rows. The first error is raised as :meth:`_run` raises it, and nothing
        after it has run (the server skips the rest of a pipeline after an error)."""
        self._begun(conn)
        driver = conn.connection.driver_connection
        autocommit = bool(driver.autocommit)  # type: ignore[union-attr]
        listened = conn._has_events or conn.engine._has_events
        sent: list[tuple[Any, str, dict[str, Any]]] = []
        out: list[tuple[list[tuple[Any, ...]], Any, int]] = []
        reading = False
        try:
            with driver.pipeline():  # type: ignore[union-attr]
                for plan, given in zip(plans, params, strict=True):
                    sql, values = plan.sql, self._values(plan, given)
                    cursor = driver.cursor()  # type: ignore[union-attr]
                    if listened:
                        for before in conn.dispatch.before_cursor_execute:
                            sql, values = before(conn, cursor, sql, values, None, False)
                    sent.append((cursor, sql, values))
                    cursor.execute(sql, values)
                reading = True
                rows = [cursor.fetchall() for cursor, _, _ in sent]  # the first fetch brings every result
            for (cursor, sql, values), lines in zip(sent, rows, strict=True):
                out.append((lines, cursor.description, cursor.rowcount))
                if listened:
                    for after in conn.dispatch.after_cursor_execute:
                        after(conn, cursor, sql, values, None, False)
        except Exception as exc:  # noqa: BLE001 - wrapped (and the connection invalidated) as SQLAlchemy does
            # the statement that failed. Results come back in order, and psycopg raises a
            # statement's error before giving it its result: so a server's error (which psycopg
            # may raise while later statements are still being sent) belongs to the first
            # statement without a result; an error raised while sending is the last one's.
            from_server = getattr(exc, "pgresult", None) is not None
            failed = next((s for s in sent if s[0].pgresult is None), None) if from_server or reading else None
            cursor, sql, values = failed or (sent[-1] if sent else (None, "", {}))
            try:
                conn._handle_dbapi_exception(exc, sql, values, cursor, None)
            finally:
                # psycopg (3.3) records a statement it prepares in a pipeline as prepared even
                # when an earlier error made the server skip it; a rollback clears that record,
                # but outside a transaction nothing does, and every later run of the statement
                # on this connection would fail. So such a connection is not used again.
                if autocommit and not conn.invalidated:
                    conn.invalidate()
        finally:
            for cursor, _, _ in sent:
                cursor.close()
        return out
