"""Resolve a person across the data map: identities to rows, across databases.

:func:`resolve` runs a traversal plan (:mod:`pledge.datamap.plan`) through the connectors:
every query is ``find(collection, match, values)`` — ``SELECT … WHERE match IN (batch)``, one
statement per table and batch of values, never one per row. A step is re-run with only the
*new* values whenever its source collection gains rows from a later step, so every path is
followed to the end, cycles included, and each value is queried at most once per step.
Consecutive steps that do not read each other's rows are looked up together
(:meth:`~pledge.connectors.base.Connector.find_each`: one round trip for all of them on
PostgreSQL), and their rows taken in plan order, as running them one by one would (#19).

Matching follows the identity rules of :mod:`pledge.dataplane.identity` (emails
case-insensitively, ids exactly), for the values the person gave and for the values carried
from row to row. Before any query the live schema is checked
(:func:`pledge.dataplane.schema.require_live_schema`), which also fixes each table's row key
(composite keys included; :mod:`pledge.dataplane.rowkey`).

The result, :class:`Located`, is what access, portability, erasure and rectification work
from. ``discovered`` lists the identities found on the way, by kind: the values of identity
fields in rows matched directly on an identity (the person's ``users`` row gives their
``user_id`` and ``phone``), never in rows reached by a reference (an invitation names its
invitee's address, not the person's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pledge.connectors.base import Connector, Find, Handle, Row
from pledge.datamap.plan import Plan, PlanError, Step, plan
from pledge.dataplane.identity import folds_case, given_values, normalise
from pledge.dataplane.schema import require_live_schema

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["Columns", "Located", "normalise_identities", "resolve"]

Columns = Literal["all", "keys"]


@dataclass
class Located:
    """The rows found for one person, per ``database.collection``."""

    plan: Plan
    identities: dict[str, list[Any]]
    rows: dict[str, list[Row]] = field(default_factory=dict)
    #: per collection: the columns of its row key (the primary key, composite or not)
    primary_keys: dict[str, list[str]] = field(default_factory=dict)
    statements: int = 0
    #: per collection and row key: the step sources (identity kind or db.coll.field)
    #: whose values matched the row, in plan order
    via: dict[str, dict[tuple[Any, ...], tuple[str, ...]]] = field(default_factory=dict)
    #: identity kind -> values of identity fields in the rows matched on an identity,
    #: normalised (emails lower-cased), sorted; includes the values the person gave when found
    discovered: dict[str, list[Any]] = field(default_factory=dict)

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
    """``{kind: value or values}`` to ``{kind: [values]}`` under the identity rules
    (:mod:`pledge.dataplane.identity`): trimmed, emails lower-cased, blanks dropped, order kept."""
    out: dict[str, list[Any]] = {}
    for kind, value in identities.items():
        values: Iterable[Any] = value if isinstance(value, list | tuple | set | frozenset) else [value]
        clean = given_values(kind, values)
        if clean:
            out[kind] = clean
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
    def __init__(self, engine: Context, the_plan: Plan, identities: dict[str, list[Any]],
                 columns: Columns, conns: dict[str, Handle], stack: ExitStack) -> None:
        self.engine = engine
        self.dataset = engine.dataset
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
        self.discovered: dict[str, set[Any]] = {}
        self.statements = 0

    def connector(self, database: str) -> Connector:
        return self.engine.connectors.get(database)

    def conn(self, database: str) -> Handle:
        if database not in self.conns:
            self.conns[database] = self.stack.enter_context(self.connector(database).read())
        return self.conns[database]

    def pk(self, step: Step) -> list[str]:
        if step.key not in self.pks:
            self.pks[step.key] = self.connector(step.database).row_key(step.collection)
        return self.pks[step.key]

    def kind(self, dotted: str) -> str | None:
        try:
            return self.dataset.resolve(dotted)[2].identity
        except KeyError:
            return None

    def identity_fields(self, step: Step) -> list[tuple[str, str]]:
        coll = self.dataset.database(step.database).collection(step.collection)
        return [(f.name, str(f.identity)) for f in coll.fields if f.identity is not None]

    def run(self) -> None:
        """Every step, in plan order, until a pass finds no new value. Consecutive steps that
        do not read each other's rows form a wave, whose lookups go to each database
        together (:meth:`Connector.find_each`, #19); the rows are taken in plan order, so
        the result is the one step-by-step running gives."""
        progressed = True
        while progressed:
            progressed = False
            wave: list[_Ask] = []
            for index, step in enumerate(self.plan.steps):
                if wave and step.source_collection in {a.step.key for a in wave}:
                    self.run_wave(wave)
                    wave = []
                ask = self.ask(index, step)
                if ask is not None:
                    wave.append(ask)
                    progressed = True
            self.run_wave(wave)

    def ask(self, index: int, step: Step) -> _Ask | None:
        """The lookup ``step`` makes for the values it has not looked up yet, or None."""
        match_kind = self.kind(f"{step.key}.{step.match}")
        if step.kind == "identity":
            available: set[Any] = set(self.identities.get(step.source, []))
            fold = folds_case(match_kind, step.source)
        else:
            src_coll, src_field = step.source.rsplit(".", 1)
            available = self.values.get((src_coll, src_field), set())
            fold = folds_case(match_kind, self.kind(step.source))
        if fold:
            available = {normalise("email", v) for v in available}
        done = self.queried.setdefault(index, set())
        new = _sorted(v for v in available if v not in done)
        if not new:
            return None
        done.update(new)
        connector = self.connector(step.database)
        pk = self.pk(step)
        carry = list(dict.fromkeys([*pk, *self.plan.carry.get(step.key, ())]))
        on_identity = step.kind in ("identity", "derived")
        idents = self.identity_fields(step) if on_identity else []
        cols = None if self.columns == "all" else list(dict.fromkeys([*carry, *(n for n, _ in idents)]))
        extra = [] if cols is None else [c for c in cols if c not in carry]  # read for `discovered` only
        self.statements += (len(connector.coerce(step.collection, step.match, new)) + connector.batch_size - 1) \
            // connector.batch_size
        return _Ask(step, Find(step.collection, step.match, new, cols, fold), pk, carry, idents, extra)

    def run_wave(self, wave: list[_Ask]) -> None:
        """The lookups of ``wave``, together per database, then their rows in plan order."""
        found: dict[int, list[Row]] = {}
        for database in dict.fromkeys(a.step.database for a in wave):
            mine = [i for i, a in enumerate(wave) if a.step.database == database]
            rows = self.connector(database).find_each(self.conn(database), [wave[i].find for i in mine])
            found.update(zip(mine, rows, strict=True))
        for i, ask in enumerate(wave):
            self.take(ask, found[i])

    def take(self, ask: _Ask, found: list[Row]) -> None:
        step, pk = ask.step, ask.pk
        rows = self.found.setdefault(step.key, {})
        via = self.via.setdefault(step.key, {})
        for row in found:
            key = tuple(row[c] for c in pk)
            paths = via.setdefault(key, [])
            if step.source not in paths:
                paths.append(step.source)
            for name, kind in ask.idents:
                value = normalise(kind, row.get(name))
                if value is not None and value != "":
                    self.discovered.setdefault(kind, set()).add(value)
            for name in ask.extra:
                row.pop(name, None)
            if key in rows:
                continue
            rows[key] = row
            for name in ask.carry:
                value = row.get(name)
                if value is not None:
                    self.values.setdefault((step.key, name), set()).add(value)


@dataclass(frozen=True)
class _Ask:
    """One step's lookup, made ready (:meth:`_Run.ask`), and what its rows give."""

    step: Step
    find: Find
    pk: list[str]
    carry: list[str]
    idents: list[tuple[str, str]]
    extra: list[str]


def resolve(engine: Context, identities: Mapping[str, Any], *, columns: Columns = "all",
            connections: Mapping[str, Handle] | None = None, the_plan: Plan | None = None) -> Located:
    """Find every row about the person named by ``identities`` (see the module docstring).

    ``columns="keys"`` reads only row keys, match fields, the fields later steps read and
    identity fields; ``connections`` (``{database: handle}``) runs the reads inside the
    caller's transactions. Raises :class:`~pledge.dataplane.schema.SchemaMismatch` when the
    data map does not match the live schema, before reading anything."""
    if columns not in ("all", "keys"):
        raise ValueError(f"columns must be 'all' or 'keys', not {columns!r}")
    ids = normalise_identities(identities)
    require_live_schema(engine)  # before planning: a misspelt field is named as such, with its line
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
    located.discovered = {k: _sorted(v) for k, v in sorted(run.discovered.items())}
    return located
