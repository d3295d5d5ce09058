"""Discover a live database: propose a dataset, and find personal data it does not declare.

``discover`` introspects with SQLAlchemy's inspector (SQLite, PostgreSQL, MariaDB),
samples each table once (one ``SELECT ... LIMIT n`` per table, text columns only), and
flags personal-looking columns by name and by values. ``merge_discovered`` adds to a
dataset the live foreign keys it does not declare, marked ``discovered=True``: the
planner does not traverse them, erasure orders along them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, MetaData, Table, inspect, select
from sqlalchemy.engine import Connection, Engine, Inspector

from pledge.datamap import detect
from pledge.datamap.model import Collection, Database, DataField, Dataset, Reference
from pledge.datamap.types import live_family
from pledge.extras import create_engine

#: Tables that belong to tools, not to the platform.
IGNORED_TABLES = {"alembic_version", "sqlite_sequence", "spatial_ref_sys"}
#: Rows sampled per table for value detection.
DEFAULT_SAMPLE = 200
#: Families whose values are worth sampling.
_SAMPLED_FAMILIES = {"string", "json"}


@dataclass(frozen=True)
class LiveColumn:
    name: str
    family: str
    sql_type: str
    nullable: bool
    primary_key: bool


@dataclass(frozen=True)
class LiveForeignKey:
    table: str
    columns: tuple[str, ...]
    target_table: str
    target_columns: tuple[str, ...]


@dataclass
class LiveSchema:
    """What the inspector says about one database."""

    tables: dict[str, dict[str, LiveColumn]] = field(default_factory=dict)
    foreign_keys: list[LiveForeignKey] = field(default_factory=list)

    def fks_from(self, table: str) -> list[LiveForeignKey]:
        return [fk for fk in self.foreign_keys if fk.table == table]


@dataclass(frozen=True)
class PersonalColumn:
    """A column that looks personal, and why."""

    database: str
    collection: str
    field: str
    category: str
    reason: str  # name | values
    detail: str
    declared: bool = False  # the compared dataset declares it as personal

    @property
    def path(self) -> str:
        return f"{self.database}.{self.collection}.{self.field}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "category": self.category, "reason": self.reason,
                "detail": self.detail, "declared": self.declared}


@dataclass
class DiscoveryReport:
    proposed: Dataset
    personal: list[PersonalColumn]
    compared: bool = False  # a dataset was given to compare with

    @property
    def undeclared(self) -> list[PersonalColumn]:
        """Personal-looking columns the compared dataset does not declare as personal."""
        return [p for p in self.personal if not p.declared] if self.compared else []

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposed": self.proposed.model_dump(mode="json", exclude_defaults=True),
            "personal": [p.as_dict() for p in self.personal],
            "undeclared": [p.as_dict() for p in self.undeclared],
            "compared": self.compared,
        }


EngineLike = Engine | Connection | Inspector | str


def _inspector(source: EngineLike) -> tuple[Inspector, Engine | Connection | None, Engine | None]:
    """(inspector, something to run queries on, an engine we created and must dispose)."""
    if isinstance(source, Inspector):
        return source, source.bind, None
    if isinstance(source, str):
        eng = create_engine(source)
        return inspect(eng), eng, eng
    return inspect(source), source, None


def read_schema(source: EngineLike) -> LiveSchema:
    """Tables, columns (with type family, nullability, primary key) and foreign keys."""
    insp, _bind, owned = _inspector(source)
    try:
        return _read_schema(insp)
    finally:
        if owned is not None:
            owned.dispose()


def _read_schema(insp: Inspector) -> LiveSchema:
    schema = LiveSchema()
    for table in sorted(insp.get_table_names()):
        if table in IGNORED_TABLES:
            continue
        pk = set(insp.get_pk_constraint(table).get("constrained_columns") or [])
        cols: dict[str, LiveColumn] = {}
        for col in insp.get_columns(table):
            cols[col["name"]] = LiveColumn(
                name=col["name"], family=live_family(col["type"]), sql_type=str(col["type"]),
                nullable=bool(col.get("nullable", True)), primary_key=col["name"] in pk,
            )
        schema.tables[table] = cols
        for fk in insp.get_foreign_keys(table):
            if not fk.get("referred_table") or not fk.get("constrained_columns"):
                continue
            schema.foreign_keys.append(LiveForeignKey(
                table=table, columns=tuple(fk["constrained_columns"]), target_table=fk["referred_table"],
                target_columns=tuple(fk["referred_columns"]),
            ))
    return schema


def _fk_references(schema: LiveSchema, database: str, table: str) -> dict[str, list[Reference]]:
    refs: dict[str, list[Reference]] = {}
    for fk in schema.fks_from(table):
        for col, target in zip(fk.columns, fk.target_columns, strict=False):
            refs.setdefault(col, []).append(Reference(
                field=f"{database}.{fk.target_table}.{target}", direction="from", discovered=True))
    return refs


def sample_table(bind: Engine | Connection, table: str, columns: list[str],
                 limit: int = DEFAULT_SAMPLE) -> dict[str, list[Any]]:
    """Up to ``limit`` rows of ``columns``, in one statement."""
    if not columns:
        return {}
    tbl = Table(table, MetaData(), *(Column(c) for c in columns))
    stmt = select(*tbl.columns).limit(limit)
    out: dict[str, list[Any]] = {c: [] for c in columns}
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = bind.execute(stmt).all()
    for row in rows:
        for c, v in zip(columns, row, strict=True):
            out[c].append(v)
    return out


def discover(source: EngineLike, *, database: str = "main", name: str | None = None,
             compare: Dataset | None = None, sample: int = DEFAULT_SAMPLE,
             progress: Callable[[str], None] | None = None) -> DiscoveryReport:
    """Introspect one database: a proposed dataset and its personal-looking columns.

    With ``compare``, each personal column is marked ``declared`` when that dataset
    declares the column as personal (a ``user.*`` category or an identity) in
    ``database``; the rest are the report's *undeclared personal data*.
    """
    insp, bind, owned = _inspector(source)
    try:
        schema = _read_schema(insp)
        collections: list[Collection] = []
        personal: list[PersonalColumn] = []
        for table, cols in schema.tables.items():
            if progress:
                progress(table)
            to_sample = [c.name for c in cols.values() if c.family in _SAMPLED_FAMILIES]
            values = sample_table(bind, table, to_sample, sample) if bind is not None and sample > 0 else {}
            refs = _fk_references(schema, database, table)
            fields: list[DataField] = []
            for col in cols.values():
                found = detect.by_name(table, col.name)
                if found is None and col.name in values and not refs.get(col.name):
                    found = detect.by_values(values[col.name])
                fields.append(DataField(
                    name=col.name, categories=[found.category] if found else [],
                    primary_key=col.primary_key, data_type=col.family, nullable=col.nullable,
                    references=refs.get(col.name, []),
                ))
                if found:
                    personal.append(PersonalColumn(
                        database=database, collection=table, field=col.name, category=found.category,
                        reason=found.reason, detail=found.detail,
                        declared=_declares(compare, database, table, col.name)))
            collections.append(Collection(name=table, fields=fields))
        proposed = Dataset(name=name or database, databases=[Database(name=database, collections=collections)])
        _propose_identities(proposed, schema)
        return DiscoveryReport(proposed=proposed, personal=personal, compared=compare is not None)
    finally:
        if owned is not None:
            owned.dispose()


def _declares(dataset: Dataset | None, database: str, table: str, column: str) -> bool:
    if dataset is None:
        return False
    try:
        _db, _coll, f = dataset.resolve(f"{database}.{table}.{column}")
    except KeyError:
        return False
    return f.is_personal


def _propose_identities(dataset: Dataset, schema: LiveSchema) -> None:
    """Mark ``email`` on the most-referenced table that has an email column as the identity:
    a starting point for the person editing the proposal, not a decision."""
    incoming: dict[str, int] = {}
    for fk in schema.foreign_keys:
        if fk.target_table != fk.table:
            incoming[fk.target_table] = incoming.get(fk.target_table, 0) + 1
    db = dataset.databases[0]
    candidates = [c for c in db.collections
                  if any(f.categories == ["user.contact.email"] for f in c.fields)]
    if not candidates:
        return
    best = max(candidates, key=lambda c: (incoming.get(c.name, 0), -len(c.name)))
    for f in best.fields:
        if f.categories == ["user.contact.email"]:
            f.identity = "email"
            break


def merge_discovered(dataset: Dataset, source: EngineLike, database: str | None = None) -> Dataset:
    """A copy of ``dataset`` with the live foreign keys of ``database`` that it lacks, added
    as ``discovered=True`` references on the declared referring fields.

    ``database`` defaults to the dataset's only database. A foreign key whose column the
    dataset does not declare cannot be attached and is left out (``pledge datamap check``
    reports it).
    """
    if database is None:
        if len(dataset.databases) != 1:
            raise ValueError("the dataset has several databases: say which one this connection is")
        database = dataset.databases[0].name
    return merge_schema(dataset, database, read_schema(source))


def merge_schema(dataset: Dataset, database: str, schema: LiveSchema) -> Dataset:
    """:func:`merge_discovered` with a schema already read."""
    merged = dataset.model_copy(deep=True)
    db = merged.database(database)
    for coll in db.collections:
        for col, refs in _fk_references(schema, database, coll.name).items():
            if not coll.has_field(col):
                continue
            f = coll.field(col)
            known = {r.field for r in f.references}
            for ref in refs:
                if ref.field not in known:
                    f.references.append(ref)
                    known.add(ref.field)
    return merged
