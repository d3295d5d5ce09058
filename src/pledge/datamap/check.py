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
================================  ========  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pledge.datamap.discover import EngineLike, LiveSchema, merge_schema, read_schema
from pledge.datamap.model import Dataset
from pledge.datamap.types import compatible, declared_family

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    path: str  # db, db.collection or db.collection.field
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message} [{self.code}]"


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
                               f"references {ref.field}, which the dataset does not declare{hint}"))
    for db in dataset.databases:
        for coll in db.collections:
            for target in dataset.after_targets(db, coll):
                if not dataset.has(target):
                    out.append(Finding("unknown-after", "error", f"{db.name}.{coll.name}",
                                       f"after: {target} is not a collection of the dataset"))
    if not any(True for _ in dataset.identities()):
        out.append(Finding("no-identity", "error", dataset.name,
                           "no field is an identity (e.g. identity: email): no request can start anywhere"))
    else:
        out.extend(_reachability(dataset))
    out.extend(_cycles(dataset, live or {}))
    return out


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
                f"erase it{' although it declares personal data' if personal else ''}.{why}"))
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
                               "nullable reference first"))
        else:
            out.append(Finding("reference-cycle", "error", members[0],
                               f"references form a cycle ({loop}) of required columns: no erasure order "
                               "can satisfy the foreign keys. Make one of the columns nullable, or drop "
                               "one reference."))
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
    """Compare one database of the dataset with its live schema."""
    out: list[Finding] = []
    db = dataset.database(database)
    live_tables = ", ".join(sorted(schema.tables)) or "none"
    for coll in db.collections:
        path = f"{db.name}.{coll.name}"
        cols = schema.tables.get(coll.name)
        if cols is None:
            out.append(Finding("unknown-table", "error", path,
                               f"no table {coll.name!r} in the live database (tables: {live_tables})"))
            continue
        for f in coll.fields:
            fpath = f"{path}.{f.name}"
            live = cols.get(f.name)
            if live is None:
                out.append(Finding("unknown-column", "error", fpath,
                                   f"table {coll.name!r} has no column {f.name!r} (columns: "
                                   f"{', '.join(cols)})"))
                continue
            if f.data_type is None:
                continue
            family = declared_family(f.data_type)
            if family is None:
                out.append(Finding("unknown-data-type", "warning", fpath,
                                   f"data_type {f.data_type!r} is not a known type; use one of string, "
                                   "integer, float, boolean, date, datetime, time, json, bytes, uuid"))
            elif not compatible(family, live.family):
                out.append(Finding("type-mismatch", "error", fpath,
                                   f"declared data_type {f.data_type!r} ({family}) but the live column is "
                                   f"{live.sql_type} ({live.family})"))
    declared = {c.name for c in db.collections}
    for fk in schema.foreign_keys:
        if fk.table not in declared and fk.target_table in declared:
            out.append(Finding(
                "undeclared-foreign-key-source", "warning", f"{db.name}.{fk.table}",
                f"table {fk.table!r} is not in the dataset but its foreign key "
                f"({', '.join(fk.columns)}) references {db.name}.{fk.target_table}: erasing rows there may "
                f"fail or leave rows in {fk.table!r} about the person"))
    return out


def check_dataset(dataset: Dataset, connect: Callable[[str], EngineLike],
                  progress: Callable[[str], None] | None = None) -> list[Finding]:
    """Every check, live and static. ``connect(name)`` gives each database's engine or URL."""
    findings: list[Finding] = []
    schemas: dict[str, LiveSchema] = {}
    for db in dataset.databases:
        if progress:
            progress(db.name)
        try:
            schemas[db.name] = read_schema(connect(db.name))
        except Exception as exc:  # any driver error: report it, keep checking the rest
            findings.append(Finding("database-unreachable", "error", db.name,
                                    f"cannot read the database schema: {type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''}"))
            continue
        findings.extend(check_live(dataset, db.name, schemas[db.name]))
    # live foreign keys bind erasure order too: judge cycles with them merged in
    merged = dataset
    for name, schema in schemas.items():
        merged = merge_schema(merged, name, schema)
    findings.extend(check_static(merged, schemas))
    return findings
