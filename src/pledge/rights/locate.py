"""The executor: run a traversal plan and find every row about one person.

Interface (used by access, portability and erasure)::

    from pledge.rights.locate import locate

    found = locate(engine, {"email": "ann@example.org"})          # every column
    found = locate(engine, {"person_tag": "tag-0042"}, columns="keys")  # keys only
    found.rows["main.users"]      -> list of row dicts, ordered by primary key
    found.keys("main.users")      -> list of primary-key tuples
    found.primary_keys["main.users"] -> ["id"]
    found.plan                     -> the pledge.datamap.plan.Plan that was run
    found.counts()                 -> {"main.users": 1, ...} (collections with rows)
    found.statements               -> SELECT statements issued
    found.via["main.messages"][(12,)] -> ("main.users.id", ...): the step sources that
                                     matched that row (how it is about the person)

* ``identities`` maps an identity kind (email, user_id, phone, external_id, person_tag,
  customer_id) to one value or a list of values. Unknown kinds raise
  :class:`~pledge.datamap.plan.PlanError`.
* ``columns="all"`` returns whole rows; ``columns="keys"`` returns only the primary key,
  the match fields and the fields later steps read (``plan.carry``), which is cheaper.
* ``connections`` lets a caller (erasure) pass its own ``{database: Connection}`` so
  that locating runs inside the caller's transaction; otherwise each database is read
  in its own transaction, opened here and closed before returning.

Every query is ``SELECT … WHERE match IN (batch)``: one statement per table and batch
of values, never one per row. A step is re-run with only the *new* values whenever its
source collection gains rows from a later step, so every path is followed to the end,
cycles included, and each value is queried at most once per step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection

from pledge.connectors.base import Connector, Row
from pledge.datamap.plan import Plan, PlanError, Step, plan
from pledge.engine import Engine

Columns = Literal["all", "keys"]


@dataclass
class Located:
    """The rows found for one person, per ``database.collection``."""

    plan: Plan
    identities: dict[str, list[Any]]
    rows: dict[str, list[Row]] = field(default_factory=dict)
    primary_keys: dict[str, list[str]] = field(default_factory=dict)
    statements: int = 0
    #: per collection and primary key: the step sources (identity kind or db.coll.field)
    #: whose values matched the row, in plan order
    via: dict[str, dict[tuple[Any, ...], tuple[str, ...]]] = field(default_factory=dict)

    def keys(self, collection: str) -> list[tuple[Any, ...]]:
        pk = self.primary_keys.get(collection, [])
        return [tuple(r[c] for c in pk) for r in self.rows.get(collection, [])]

    def counts(self) -> dict[str, int]:
        return {c: len(rs) for c, rs in self.rows.items() if rs}

    @property
    def total(self) -> int:
        return sum(len(rs) for rs in self.rows.values())

    def collections(self) -> list[str]:
        """Collections with at least one row, in plan order."""
        return [c for c in self.plan.collections if self.rows.get(c)]


def normalise_identities(identities: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{kind: value or values}`` to ``{kind: [values]}``, blanks dropped, order kept.

    An email is also looked up in lower case (``Ann@Example.org`` finds ``ann@example.org``).
    """
    out: dict[str, list[Any]] = {}
    for kind, value in identities.items():
        values: Iterable[Any] = value if isinstance(value, list | tuple | set | frozenset) else [value]
        clean = [v.strip() if isinstance(v, str) else v for v in values]
        clean = [v for v in clean if v is not None and v != ""]
        if kind == "email":  # addresses are stored lower-case almost everywhere; match both
            clean = [x for v in clean for x in (v, v.lower() if isinstance(v, str) else v)]
        if clean:
            out[kind] = list(dict.fromkeys(clean))
    if not out:
        raise PlanError("no identity value given (e.g. email=ann@example.org)")
    return out


def _sorted(values: Iterable[Any]) -> list[Any]:
    items = list(values)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


class _Run:
    def __init__(self, engine: Engine, the_plan: Plan, identities: dict[str, list[Any]],
                 columns: Columns, conns: dict[str, Connection], stack: ExitStack) -> None:
        self.engine = engine
        self.plan = the_plan
        self.identities = identities
        self.columns = columns
        self.conns = conns
        self.stack = stack
        self.found: dict[str, dict[tuple[Any, ...], Row]] = {}
        self.values: dict[tuple[str, str], set[Any]] = {}
        self.queried: dict[int, set[Any]] = {}
        self.pks: dict[str, list[str]] = {}
        self.via: dict[str, dict[tuple[Any, ...], list[str]]] = {}
        self.statements = 0

    def connector(self, database: str) -> Connector:
        return self.engine.connectors.get(database)

    def conn(self, database: str) -> Connection:
        if database not in self.conns:
            self.conns[database] = self.stack.enter_context(self.connector(database).begin())
        return self.conns[database]

    def pk(self, step: Step) -> list[str]:
        if step.key not in self.pks:
            declared = self.engine.dataset.database(step.database).collection(step.collection).primary_key
            self.pks[step.key] = declared or self.connector(step.database).primary_key(step.collection)
        return self.pks[step.key]

    def run(self) -> None:
        progressed = True
        while progressed:
            progressed = False
            for index, step in enumerate(self.plan.steps):
                if self.run_step(index, step):
                    progressed = True

    def run_step(self, index: int, step: Step) -> bool:
        if step.kind == "identity":
            available: set[Any] = set(self.identities.get(step.source, []))
        else:
            src_coll, src_field = step.source.rsplit(".", 1)
            available = self.values.get((src_coll, src_field), set())
        done = self.queried.setdefault(index, set())
        new = _sorted(v for v in available if v not in done)
        if not new:
            return False
        done.update(new)
        connector = self.connector(step.database)
        pk = self.pk(step)
        carry = list(dict.fromkeys([*pk, *self.plan.carry.get(step.key, ())]))
        cols = None if self.columns == "all" else carry
        rows = self.found.setdefault(step.key, {})
        via = self.via.setdefault(step.key, {})
        batches = (len(connector.coerce(step.collection, step.match, new)) + connector.batch_size - 1) \
            // connector.batch_size
        self.statements += batches
        for row in connector.select_in(self.conn(step.database), step.collection, step.match, new, cols):
            key = tuple(row[c] for c in pk) if pk else tuple(row.values())
            paths = via.setdefault(key, [])
            if step.source not in paths:
                paths.append(step.source)
            if key in rows:
                continue
            rows[key] = row
            for name in carry:
                value = row.get(name)
                if value is not None:
                    self.values.setdefault((step.key, name), set()).add(value)
        return True


def locate(engine: Engine, identities: Mapping[str, Any], *, columns: Columns = "all",
           connections: Mapping[str, Connection] | None = None, the_plan: Plan | None = None) -> Located:
    """Find every row about the person named by ``identities`` (see the module docstring)."""
    if columns not in ("all", "keys"):
        raise ValueError(f"columns must be 'all' or 'keys', not {columns!r}")
    ids = normalise_identities(identities)
    the_plan = the_plan or plan(engine.dataset, ids)
    with ExitStack() as stack:
        run = _Run(engine, the_plan, ids, columns, dict(connections or {}), stack)
        run.run()
    located = Located(the_plan, ids, statements=run.statements)
    for coll in the_plan.collections:
        rows = run.found.get(coll, {})
        located.rows[coll] = [rows[k] for k in _sorted(rows)] if rows else []
        if coll in run.pks:
            located.primary_keys[coll] = run.pks[coll]
        located.via[coll] = {k: tuple(v) for k, v in run.via.get(coll, {}).items()}
    return located
