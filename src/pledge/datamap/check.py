"""``pledge datamap check``: does the dataset match the live databases, and can it be walked?

Each problem is a :class:`Finding` with a stable ``code``, a severity, the dataset path
it is about and a message that says what would be valid. Static checks need only the
dataset; live checks compare it with each database's schema.

Codes (stable; tools may match on them):

================================  ========  ==============================================
code                              severity  meaning
================================  ========  ==============================================
``database-unreachable``          error     the database cannot be connected to
``unknown-table``                 error     a collection has no table in the live database
``unknown-column``                error     a field has no column in its live table
``type-mismatch``                 error     declared ``data_type`` vs the live column's type
``unknown-data-type``             warning   a ``data_type`` this checker does not know
``unknown-reference``             error     a reference names a field the dataset lacks
``unknown-after``                 error     ``after`` names a collection the dataset lacks
``no-identity``                   error     no field is an identity: no request can start
``unreachable-collection``        error     personal data with no path of references from
                                            an identity (warning if it holds none)
``reference-cycle``               error     collections reference each other in a loop of
                                            required columns (warning if a nullable column
                                            lets erasure break the loop)
``undeclared-foreign-key-source`` warning   an undeclared table has a foreign key into a
                                            declared collection: erasure there may be
                                            blocked by it
``primary-key-mismatch``          error     ``primary_key: true`` fields differ from the
                                            live primary key
``no-row-key``                    error     no primary key and no declared (or live) UNIQUE
                                            key of NOT NULL columns: rows cannot be told
                                            apart (:mod:`pledge.dataplane.rowkey`)
``implicit-row-key``              warning   no primary key; a live unique key names rows:
                                            declare it
``unknown-facts``                 error     the ``facts:`` block names a collection or
                                            column that does not exist
``reference-type-mismatch``       warning   a reference joins columns of unrelated types
``case-insensitive-index``        warning   an email identity is matched case-insensitively
                                            but no index serves the lookup (the finding
                                            gives the statement that adds one)
================================  ========  ==============================================

Live checks (:func:`compare_live`) are the ones every rights, retention, breach and prove
run repeats before it starts (:func:`pledge.dataplane.schema.require_live_schema`); their
errors refuse the run. Each finding carries ``where``: the ``file:line`` of the declaration.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pledge.connectors.base import Connector
from pledge.datamap.discover import EngineLike, LiveSchema, merge_schema, read_schema
from pledge.datamap.model import Dataset
from pledge.datamap.types import compatible, declared_family
from pledge.dataplane import rowkey

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    path: str  # db, db.collection or db.collection.field
    message: str
    #: ``file:line`` of the declaration in the dataset file, when known
    where: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "path": self.path, "message": self.message,
                "where": self.where}

    def __str__(self) -> str:
        at = f"{self.where}: " if self.where else ""
        return f"{at}{self.severity}: {self.path}: {self.message} [{self.code}]"


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


# -- static checks ---------------------------------------------------------------------
def check_static(dataset: Dataset, live: Mapping[str, LiveSchema] | None = None) -> list[Finding]:
    """Checks that need no database: references, ordering, identities, reachability, cycles.

    ``live`` (schemas by database name), when given, supplies column nullability to
    judge cycles.
    """
    out: list[Finding] = []
    for src, ref in dataset.references():
        if not dataset.has(ref.field):
            hint = _nearest_hint(dataset, ref.field)
            out.append(Finding("unknown-reference", "error", src,
                               f"references {ref.field}, which the dataset does not declare{hint}",
                               _where(dataset, src)))
    for db in dataset.databases:
        for coll in db.collections:
            for target in dataset.after_targets(db, coll):
                if not dataset.has(target):
                    out.append(Finding("unknown-after", "error", f"{db.name}.{coll.name}",
                                       f"after: {target} is not a collection of the dataset",
                                       dataset.where(db.name, coll.name)))
    if not any(True for _ in dataset.identities()):
        out.append(Finding("no-identity", "error", dataset.name,
                           "no field is an identity (e.g. identity: email): no request can start anywhere"))
    else:
        out.extend(_reachability(dataset))
    out.extend(_cycles(dataset, live or {}))
    return out


def _where(dataset: Dataset, dotted: str) -> str | None:
    parts = dotted.split(".")
    return dataset.where(*parts[:3]) if len(parts) == 3 else dataset.where(parts[0], *parts[1:2])


def _nearest_hint(dataset: Dataset, dotted: str) -> str:
    parts = dotted.split(".")
    try:
        db = dataset.database(parts[0])
    except KeyError:
        names = ", ".join(d.name for d in dataset.databases)
        return f" (no database {parts[0]!r}; databases: {names})"
    if not db.has_collection(parts[1]):
        return f" (database {db.name!r} has no collection {parts[1]!r})"
    coll = db.collection(parts[1])
    return f" (fields of {parts[1]}: {', '.join(f.name for f in coll.fields)})"


def traversal_edges(dataset: Dataset) -> dict[str, set[str]]:
    """Collection -> collections a request walks to, along declared references only.

    ``direction: from`` on ``A.x -> B.y`` means A.x takes its value from B.y: a request
    that reached B walks on to A. ``to`` is the other way round.
    """
    edges: dict[str, set[str]] = {f"{d.name}.{c.name}": set() for d in dataset.databases for c in d.collections}
    for src, ref in dataset.references(discovered=False):
        a = src.rsplit(".", 1)[0]
        db, coll, _f = ref.target
        b = f"{db}.{coll}"
        if b not in edges:
            continue
        if ref.direction == "from":
            edges[b].add(a)
        else:
            edges[a].add(b)
    return edges


def _reachability(dataset: Dataset) -> list[Finding]:
    edges = traversal_edges(dataset)
    start = {f"{d.name}.{c.name}" for d, c, _f in dataset.identities()}
    seen = set(start)
    stack = list(start)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    discovered_only = _reachable_with_discovered(dataset, start)
    out: list[Finding] = []
    for db in dataset.databases:
        for coll in db.collections:
            key = f"{db.name}.{coll.name}"
            if key in seen:
                continue
            personal = any(f.is_personal for f in coll.fields)
            why = (" It is linked only by discovered foreign keys, which requests do not walk: declare "
                   "the reference in the dataset." if key in discovered_only else
                   " Add a reference from one of its fields to a field of a reachable collection, or an identity.")
            out.append(Finding(
                "unreachable-collection", "error" if personal else "warning", key,
                f"no chain of references leads here from any identity field, so requests never read or "
                f"erase it{' although it declares personal data' if personal else ''}.{why}",
                dataset.where(db.name, coll.name)))
    return out


def _reachable_with_discovered(dataset: Dataset, start: set[str]) -> set[str]:
    edges: dict[str, set[str]] = {}
    for src, ref in dataset.references():
        a, b = src.rsplit(".", 1)[0], ".".join(ref.target[:2])
        edges.setdefault(b if ref.direction == "from" else a, set()).add(a if ref.direction == "from" else b)
    seen, stack = set(start), list(start)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _cycles(dataset: Dataset, live: Mapping[str, LiveSchema]) -> list[Finding]:
    """Strongly connected groups of collections in the reference graph (referring ->
    referenced, all references, discovered included: they bind erasure order too)."""
    graph: dict[str, set[str]] = {}
    nullable_edge: dict[tuple[str, str], bool] = {}
    for src, ref in dataset.references():
        if not dataset.has(ref.field):
            continue
        a, b = src.rsplit(".", 1)[0], ".".join(ref.target[:2])
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
        breakable = _nullable(dataset, live, src)
        nullable_edge[(a, b)] = nullable_edge.get((a, b), False) or breakable
    out: list[Finding] = []
    for group in _strongly_connected(graph):
        members = sorted(group)
        if len(members) == 1 and members[0] not in graph[members[0]]:
            continue
        inner = [(a, b) for a in members for b in graph[a] if b in group]
        breakable = any(nullable_edge.get(e, False) for e in inner)
        loop = " -> ".join([*members, members[0]]) if len(members) > 1 else f"{members[0]} -> itself"
        if breakable:
            out.append(Finding("reference-cycle", "warning", members[0],
                               f"references form a cycle ({loop}); erasure breaks it by clearing a "
                               "nullable reference first", _where(dataset, members[0])))
        else:
            out.append(Finding("reference-cycle", "error", members[0],
                               f"references form a cycle ({loop}) of required columns: no erasure order "
                               "can satisfy the foreign keys. Make one of the columns nullable, or drop "
                               "one reference.", _where(dataset, members[0])))
    return out


def _nullable(dataset: Dataset, live: Mapping[str, LiveSchema], dotted: str) -> bool:
    db, coll, name = dotted.split(".")
    schema = live.get(db)
    if schema is not None and name in schema.tables.get(coll, {}):
        return schema.tables[coll][name].nullable
    declared = dataset.resolve(dotted)[2].nullable
    return bool(declared) if declared is not None else True


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


# -- live checks -----------------------------------------------------------------------
def check_live(dataset: Dataset, database: str, schema: LiveSchema) -> list[Finding]:
    """Foreign keys of tables the dataset leaves out that point into it (needs the whole schema;
    tables, columns, keys and types are :func:`compare_live`'s)."""
    out: list[Finding] = []
    db = dataset.database(database)
    declared = {c.name for c in db.collections}
    for fk in schema.foreign_keys:
        if fk.table not in declared and fk.target_table in declared:
            out.append(Finding(
                "undeclared-foreign-key-source", "warning", f"{db.name}.{fk.table}",
                f"table {fk.table!r} is not in the dataset but its foreign key "
                f"({', '.join(fk.columns)}) references {db.name}.{fk.target_table}: erasing rows there may "
                f"fail or leave rows in {fk.table!r} about the person",
                dataset.where(db.name, fk.target_table)))
    return out


def _close(name: str, options: Iterable[str]) -> str:
    near = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def compare_live(dataset: Dataset, database: str, connector: Connector, *, advice: bool = False,
                 row_keys: dict[str, tuple[str, ...]] | None = None) -> list[Finding]:
    """Compare one database of the dataset with the live store: every declared collection,
    field, ``data_type``, primary key (the row-key rule of :mod:`pledge.dataplane.rowkey`),
    reference and ``facts:`` column. ``row_keys`` (when given) receives each collection's
    row key. ``advice`` adds the index advice for case-insensitive email lookups."""
    out: list[Finding] = []
    db = dataset.database(database)
    live_names: list[str] | None = None
    for coll in db.collections:
        path = f"{db.name}.{coll.name}"
        live = connector.describe(coll.name)
        if live is None:
            live_names = live_names if live_names is not None else connector.tables()
            out.append(Finding("unknown-table", "error", path,
                               f"no table {coll.name!r} in the live database (tables: "
                               f"{', '.join(live_names) or 'none'}){_close(coll.name, live_names)}",
                               dataset.where(db.name, coll.name)))
            continue
        columns = ", ".join(live.fields)
        for f in coll.fields:
            fpath = f"{path}.{f.name}"
            where = dataset.where(db.name, coll.name, f.name)
            col = live.fields.get(f.name)
            if col is None:
                out.append(Finding("unknown-column", "error", fpath,
                                   f"table {coll.name!r} has no column {f.name!r} (live columns: {columns})"
                                   f"{_close(f.name, live.fields)}", where))
                continue
            if f.data_type is None:
                continue
            family = declared_family(f.data_type)
            if family is None:
                out.append(Finding("unknown-data-type", "warning", fpath,
                                   f"data_type {f.data_type!r} is not a known type; use one of string, "
                                   "integer, float, boolean, date, datetime, time, json, bytes, uuid", where))
            elif not compatible(family, col.family):
                out.append(Finding("type-mismatch", "error", fpath,
                                   f"declared data_type {f.data_type!r} ({family}) but the live column is "
                                   f"{col.sql_type} ({col.family})", where))
        decision = rowkey.decide(coll.name, coll.primary_key, live)
        if decision.code is not None:
            pk_field = next((f.name for f in coll.fields if f.primary_key), None)
            out.append(Finding(decision.code, "error" if decision.severity == "error" else "warning",
                               path, decision.message, dataset.where(db.name, coll.name, pk_field)))
        if row_keys is not None and decision.columns:
            row_keys[coll.name] = decision.columns
        if advice:
            out.extend(_case_advice(dataset, db.name, coll.name, connector))
    out.extend(_reference_types(dataset, db.name, connector))
    out.extend(_facts_columns(dataset, db.name, connector))
    return out


def _reference_types(dataset: Dataset, database: str, connector: Connector) -> list[Finding]:
    out: list[Finding] = []
    for src, ref in dataset.references(discovered=False):
        sdb, scoll, sfield = src.split(".")
        tdb, tcoll, tfield = ref.target
        if sdb != database or tdb != database or not dataset.has(ref.field):
            continue
        a, b = connector.describe(scoll), connector.describe(tcoll)
        if a is None or b is None or sfield not in a.fields or tfield not in b.fields:
            continue
        fa, fb = a.fields[sfield].family, b.fields[tfield].family
        if fa != fb and not compatible(fa, fb) and {fa, fb} != {"integer", "string"}:
            out.append(Finding("reference-type-mismatch", "warning", src,
                               f"references {ref.field}, but the live columns are {a.fields[sfield].sql_type} "
                               f"and {b.fields[tfield].sql_type}: values will not match",
                               dataset.where(sdb, scoll, sfield)))
    return out


def _facts_columns(dataset: Dataset, database: str, connector: Connector) -> list[Finding]:
    facts = dataset.facts
    if facts is None:
        return []
    db_name, _, coll_name = facts.collection.partition(".")
    if db_name != database:
        return []
    if not dataset.has(facts.collection) or facts.collection.count(".") != 1:
        return [Finding("unknown-facts", "error", "facts.collection",
                        f"facts names {facts.collection!r}, which is not a collection of the dataset (db.collection)",
                        dataset.where("", facts="collection"))]
    live = connector.describe(coll_name)
    if live is None:
        return []  # unknown-table already
    out: list[Finding] = []
    named = {k: getattr(facts, k) for k in ("email", "birth_date", "parental_consent", "status", "closed_at",
                                             "last_active")}
    if facts.org_admin is not None:
        named["org_admin.member_field"] = facts.org_admin.member_field
    for key, column in named.items():
        if column and column not in live.fields:
            out.append(Finding("unknown-facts", "error", f"facts.{key}",
                               f"facts names column {column!r} of {facts.collection}, which has no such column "
                               f"(live columns: {', '.join(live.fields)}){_close(column, live.fields)}",
                               dataset.where("", facts=key.split(".")[0])))
    if facts.org_admin is not None and not dataset.has(facts.org_admin.admin):
        out.append(Finding("unknown-facts", "error", "facts.org_admin.admin",
                           f"facts.org_admin.admin names {facts.org_admin.admin!r}, which the dataset does not "
                           "declare (db.collection.field)", dataset.where("", facts="org_admin")))
    return out


def _case_advice(dataset: Dataset, database: str, collection: str, connector: Connector) -> list[Finding]:
    """Email identities are matched case-insensitively: is there an index for that lookup?"""
    out: list[Finding] = []
    coll = dataset.database(database).collection(collection)
    dialect = str(getattr(connector, "dialect", ""))
    live = connector.describe(collection)
    for f in coll.fields:
        if f.identity != "email" or live is None or f.name not in live.fields:
            continue
        try:
            how = connector.case_match(collection, f.name)
        except Exception:  # advice only: never fail the check over it
            continue
        if how.indexed:
            continue
        name = f"{collection}_{f.name}_lower"
        if dialect in ("mysql", "mariadb"):
            fix = (f"CREATE INDEX {collection}_{f.name} ON {collection} ({f.name})" if how.native else
                   f"its collation ({how.detail}) is case-sensitive, so lookups use lower({f.name}), which "
                   f"MariaDB cannot index: give the column a *_ci collation (ALTER TABLE {collection} MODIFY "
                   f"{f.name} … COLLATE utf8mb4_unicode_ci) and index it")
        else:
            fix = f"CREATE INDEX {name} ON {collection} (lower({f.name}))"
        out.append(Finding("case-insensitive-index", "warning", f"{database}.{collection}.{f.name}",
                           f"email addresses are matched case-insensitively ({'the column' if how.native else f'lower({f.name})'}"
                           f" IN …) and no index serves that lookup, so every request scans {collection!r}. "
                           f"Add one: {fix}", dataset.where(database, collection, f.name)))
    return out


def check_dataset(dataset: Dataset, connect: Callable[[str], EngineLike],
                  progress: Callable[[str], None] | None = None) -> list[Finding]:
    """Every check, live and static. ``connect(name)`` gives each database's engine or URL.

    The live part is :func:`compare_live`, the same comparison every rights, retention,
    breach and prove run makes before it starts, plus advice on indexes."""
    from pledge.dataplane.schema import live_connector

    findings: list[Finding] = []
    schemas: dict[str, LiveSchema] = {}
    for db in dataset.databases:
        if progress:
            progress(db.name)
        try:
            # the platform inspection (a connector on what ``connect`` names) is the data plane's
            with live_connector(connect(db.name), db.name) as (connector, eng):
                schemas[db.name] = read_schema(eng)
                findings.extend(compare_live(dataset, db.name, connector, advice=True))
        except Exception as exc:  # any driver error: report it, keep checking the rest
            findings.append(Finding("database-unreachable", "error", db.name,
                                    f"cannot read the database schema: {type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''}", dataset.where(db.name)))
            continue
        findings.extend(check_live(dataset, db.name, schemas[db.name]))
    # live foreign keys bind erasure order too: judge cycles with them merged in
    merged = dataset
    for name, schema in schemas.items():
        merged = merge_schema(merged, name, schema)
    findings.extend(check_static(merged, schemas))
    return findings
