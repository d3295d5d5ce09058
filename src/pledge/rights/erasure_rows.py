"""Whose is each row, and how long may it be kept: the two questions an erasure asks.

**Ownership.** Locating a person finds every row reachable from them, which includes rows
of other people (a service request the erased employee handled, a customer who was
referred by the erased one). A row belongs to the person only through its *owner fields*:
the collection's ``owner:`` list in the data map, or by default its identity fields and its
references to tables of people (collections whose primary key is an identity). Each
non-null owner field names the person (its value is one of their identities, or a key of
one of their rows) or someone else. A row is

* ``mine`` — some owner field names the person and none names anyone else; also a row of
  a table of people matched on one of the person's identities;
* ``mixed`` — owner fields name the person *and* others (shared with them); with
  ``shared: owner`` such a row counts as the person's own;
* ``theirs`` — owner fields name only others;
* ``orphan`` — no owner field is set: the row belongs to what it was reached through, so
  it is ``mine`` when reached from one of the person's own rows (an order line through
  their order) or by one of their identities, and nobody's otherwise.

Identities grow while ownership is worked out: a row of a table of people that matches
one identity gives all its identity values (their user id, their phone, an older email);
identity fields elsewhere (a contact email in someone's order) never do,
and those are what the erasure ledger records (:attr:`Ownership.found`). Values compare
under the identity rules of :mod:`pledge.dataplane.identity` (an email ignores case, so
``Ann@Example.org`` is ``ann@example.org``; ids are exact).

Rows that are not the person's lose only their *links* to the person: an identity field
holding one of the person's values, or a reference to one of their rows.

**Exemption clocks.** A collection kept under an exemption is dated by the exemption's
``trigger`` column: in the collection itself, or reached through a declared reference
(``exemption_via:``, or the one reference that leads to a collection holding it): order
lines are dated by their invoice, so the whole record set expires together. A trigger
that cannot be reached refuses the data map; a row whose trigger is empty is not kept.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pledge.connectors.base import Connector, Handle, batched
from pledge.datamap.model import Collection, DataField, Dataset
from pledge.dataplane import selection
from pledge.dataplane.identity import given_values, normalise
from pledge.dataplane.masking import MASKING_STRATEGIES
from pledge.dataplane.selection import OneOf
from pledge.errors import InvalidInput
from pledge.policy.model import Exemption
from pledge.rights.fkgraph import Link

if TYPE_CHECKING:
    from pledge.datamap.plan import Plan

MINE, MIXED, THEIRS, ORPHAN = "mine", "mixed", "theirs", "orphan"

RowId = tuple[str, Any]  # ("db.collection", key)


class ExemptionMapError(InvalidInput):
    """An exemption whose trigger a collection cannot reach."""


def norm(value: Any, kind: str | None = "email") -> str:
    """An identity value as compared, under its kind's rule (:mod:`pledge.dataplane.identity`:
    emails case-insensitive, ids exact), as text."""
    return str(normalise(kind, value))


def norms(kind: str, values: Any) -> set[str]:
    """The given values of ``kind`` as compared, with the variants the rule also tries."""
    return {str(v) for v in given_values(kind, values)}


def is_people(dataset: Dataset, coll_key: str) -> bool:
    """A table of people, one row per person: a primary-key field of it is an identity
    (``users.id`` is the ``user_id``). Other collections with identity fields (a contact
    email, a face tag) hold *links* to people, not people."""
    try:
        _db, coll = dataset.resolve_collection(coll_key)
    except KeyError:
        return False
    return any(f.identity and f.primary_key for f in coll.fields)


@dataclass(frozen=True)
class LinkField:
    """A field (or a composite foreign key) of a collection that names a person or a row."""

    columns: tuple[str, ...]
    #: identity kind, for an identity field
    kind: str | None = None
    #: "db.collection" and its columns, for a reference
    target: str | None = None
    target_columns: tuple[str, ...] = ()
    #: the reference names a whole row key of its target (a foreign key into a primary key)
    keyed: bool = False

    @property
    def name(self) -> str:
        return self.columns[0] if len(self.columns) == 1 else "(" + ", ".join(self.columns) + ")"


def link_fields(dataset: Dataset, database: str, coll: Collection, links: list[Link],
                live_columns: set[str]) -> list[LinkField]:
    """Identity fields, declared references and live foreign keys of ``coll``, each once."""
    out: dict[tuple[str, ...], LinkField] = {}
    keyed = {lk.columns: lk for lk in links if lk.child == coll.name}
    for f in coll.fields:
        if f.name not in live_columns:
            continue
        if f.identity:
            out[(f.name,)] = LinkField((f.name,), kind=str(f.identity))
        for ref in f.references:
            db, parent, target = ref.target
            if db == database and (f.name,) not in out:
                lk = keyed.get((f.name,))
                out[(f.name,)] = LinkField((f.name,), target=f"{db}.{parent}", target_columns=(target,),
                                           keyed=lk is not None and lk.parent == parent)
    for cols, lk in keyed.items():
        if cols not in out:
            out[cols] = LinkField(cols, target=f"{database}.{lk.parent}", target_columns=lk.parent_columns,
                                  keyed=True)
    return list(out.values())


@dataclass
class Ownership:
    """Works out whose each located row is (see the module docstring)."""

    dataset: Dataset
    plan: Plan
    #: "db.collection" -> key -> whole row
    rows: dict[str, dict[Any, dict[str, Any]]]
    #: "db.collection" -> its link fields
    links: dict[str, list[LinkField]]
    #: normalised identities, by kind
    identities: dict[str, set[str]] = field(default_factory=dict)
    status: dict[RowId, str] = field(default_factory=dict)
    #: rows of tables of people matched on the person's identities
    people: set[RowId] = field(default_factory=set)

    #: rows that are the person's only because they were reached through the person
    inherited: set[RowId] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._owner_cache: dict[str, tuple[Any, list[LinkField]]] = {}
        self._link_names: dict[str, set[str]] = {}

    def owner_fields(self, coll_key: str) -> list[LinkField]:
        """The fields that say whose a row of ``coll_key`` is (see the module docstring)."""
        cached = self._owner_cache.get(coll_key)
        if cached is not None and cached[0] is self.links.get(coll_key):
            return cached[1]
        out = self._owner_fields(coll_key)
        self._owner_cache[coll_key] = (self.links.get(coll_key), out)
        return out

    def _owner_fields(self, coll_key: str) -> list[LinkField]:
        lfs = self.links.get(coll_key, [])
        try:
            coll = self.dataset.resolve_collection(coll_key)[1]
        except KeyError:
            coll = None
        if coll is not None and coll.owner:
            return [lf for lf in lfs if set(lf.columns) & set(coll.owner)]
        return [lf for lf in lfs if lf.kind or (lf.target is not None and is_people(self.dataset, lf.target))]

    # -- identities ------------------------------------------------------------------------
    @property
    def found(self) -> dict[str, list[str]]:
        """Every normalised identity of the person, given or found, by kind (sorted)."""
        return {k: sorted(v) for k, v in sorted(self.identities.items()) if v}

    def _match_people(self) -> bool:
        grew = False
        for coll_key, by_key in self.rows.items():
            if not is_people(self.dataset, coll_key):
                continue
            _db, coll = self.dataset.resolve_collection(coll_key)
            idf = [f for f in coll.fields if f.identity and (not coll.owner or f.name in coll.owner)]
            for key, row in by_key.items():
                if (coll_key, key) in self.people:
                    continue
                if not any(row.get(f.name) is not None
                           and norm(row[f.name], f.identity) in self.identities.get(str(f.identity), ())
                           for f in idf):
                    continue
                self.people.add((coll_key, key))
                grew = True
                for f in idf:
                    if row.get(f.name) is not None:
                        self.identities.setdefault(str(f.identity), set()).add(norm(row[f.name], f.identity))
        return grew

    # -- statuses ---------------------------------------------------------------------------
    def _mine_values(self, coll_key: str, cols: tuple[str, ...]) -> set[Any]:
        by_key = self.rows.get(coll_key, {})
        return {tuple(row.get(c) for c in cols) for key, row in by_key.items()
                if self.status.get((coll_key, key)) == MINE}

    def names_person(self, coll_key: str, lf: LinkField, row: dict[str, Any],
                     cache: dict[tuple[str, tuple[str, ...]], set[Any]]) -> bool | None:
        """True when ``lf`` of ``row`` names the person, False when someone else, None when empty."""
        value = tuple(row.get(c) for c in lf.columns)
        if any(v is None for v in value):
            return None
        if lf.kind is not None:
            return norm(value[0], lf.kind) in self.identities.get(lf.kind, ())
        assert lf.target is not None
        ck = (lf.target, lf.target_columns)
        if ck not in cache:
            cache[ck] = self._mine_values(lf.target, lf.target_columns)
        return value in cache[ck]

    def _container_says(self, coll_key: str, row: dict[str, Any],
                        cache: dict[tuple[str, tuple[str, ...]], set[Any]]) -> bool | None:
        """For a row with no owner of its own: True when a foreign key of it leads to one of the
        person's rows (an order line of their order), False when its foreign keys lead only to
        rows that are not theirs (a line of someone else's order), None without any."""
        says: bool | None = None
        for lf in self.links.get(coll_key, []):
            if not lf.keyed or lf.target is None or is_people(self.dataset, lf.target):
                continue
            one = self.names_person(coll_key, lf, row, cache)
            if one is True:
                return True
            if one is False:
                says = False
        return says

    def _reached_through_mine(self, coll_key: str, row: dict[str, Any],
                              cache: dict[tuple[str, tuple[str, ...]], set[Any]]) -> bool:
        """Reached from one of the person's rows through a field that is not a link to a
        person (a link that names the person is a link, not ownership: it is cut)."""
        links = self._link_names.get(coll_key)
        if links is None:
            links = {lf.columns[0] for lf in self.links.get(coll_key, []) if len(lf.columns) == 1
                     and (lf.kind or (lf.target is not None and is_people(self.dataset, lf.target)))}
            self._link_names[coll_key] = links
        for step in self.plan.steps:
            if step.key != coll_key or row.get(step.match) is None or step.match in links:
                continue
            if step.kind == "identity":
                if norm(row[step.match], step.source) in self.identities.get(step.source, ()):
                    return True
                continue
            src_coll, src_field = step.source.rsplit(".", 1)
            if step.kind == "derived":
                try:
                    kind = self.dataset.resolve(step.source)[2].identity
                except KeyError:
                    kind = None
                if kind and norm(row[step.match], kind) in self.identities.get(str(kind), ()):
                    return True
                continue
            ck = (src_coll, (src_field,))
            if ck not in cache:
                cache[ck] = self._mine_values(src_coll, (src_field,))
            if (row[step.match],) in cache[ck]:
                return True
        return False

    def _shared(self, coll_key: str) -> str | None:
        try:
            return self.dataset.resolve_collection(coll_key)[1].shared
        except KeyError:
            return None

    def classify(self, coll_key: str, row: dict[str, Any],
                 cache: dict[tuple[str, tuple[str, ...]], set[Any]] | None = None) -> str:
        """mine, mixed, theirs or orphan, from the owner fields alone."""
        cache = {} if cache is None else cache
        mine = other = 0
        for lf in self.owner_fields(coll_key):
            says = self.names_person(coll_key, lf, row, cache)
            if says is True:
                mine += 1
            elif says is False:
                other += 1
        return MIXED if mine and other else MINE if mine else THEIRS if other else ORPHAN

    def compute(self, given: dict[str, list[Any]]) -> None:
        for kind, values in given.items():
            self.identities.setdefault(kind, set()).update(norms(kind, values))
        while self._match_people():
            pass
        for rid in self.people:
            self.status[rid] = MINE
        changed = True
        while changed:
            changed = False
            cache: dict[tuple[str, tuple[str, ...]], set[Any]] = {}
            for coll_key in self.plan.collections:
                for key, row in self.rows.get(coll_key, {}).items():
                    rid = (coll_key, key)
                    if rid in self.people:
                        continue
                    status = self.classify(coll_key, row, cache)
                    if status == MIXED and self._shared(coll_key) == "owner":
                        status = MINE  # declared: the person's own even where it names others
                    inherited = False
                    if status == ORPHAN:
                        container = self._container_says(coll_key, row, cache)
                        inherited = container is True or (
                            container is None and self._reached_through_mine(coll_key, row, cache))
                    if inherited:
                        status = MINE
                        self.inherited.add(rid)
                    else:
                        self.inherited.discard(rid)
                    if self.status.get(rid) != status:
                        self.status[rid] = status
                        changed = True  # another pass, with fresh sets of the person's rows

    def person_links(self, coll_key: str, row: dict[str, Any]) -> list[LinkField]:
        """Link fields of ``row`` that name the person (what a row of others loses)."""
        cache: dict[tuple[str, tuple[str, ...]], set[Any]] = {}
        return [lf for lf in self.links.get(coll_key, []) if self.names_person(coll_key, lf, row, cache)]


# -- what is masked -------------------------------------------------------------------------------
def _personal(coll: Collection, pk: list[str]) -> list[DataField]:
    return [f for f in coll.fields if f.name not in pk and (f.is_personal or f.erasure)]


def mask_strategies(coll: Collection, pk: list[str]) -> dict[str, str]:
    """Field -> strategy when rows of ``coll`` are masked (a field's own strategy wins)."""
    default = coll.erasure if coll.erasure in MASKING_STRATEGIES else "null"
    out: dict[str, str] = {}
    for f in _personal(coll, pk):
        strategy = f.erasure or default
        if strategy == "delete":
            strategy = "null"
        if strategy != "retain":
            out[f.name] = strategy
    return out


def _covered(f: DataField, exemption: Exemption) -> bool:
    if not exemption.categories:
        return True
    return bool(f.categories) and all(
        any(c == e or c.startswith(e + ".") for e in exemption.categories) for c in f.categories
    )


def exempt_strategies(coll: Collection, pk: list[str], exemption: Exemption) -> dict[str, str]:
    """What is still masked in rows kept for an exemption: fields with their own strategy,
    and personal fields the exemption's categories do not cover."""
    out: dict[str, str] = {}
    for f in _personal(coll, pk):
        if f.erasure == "retain":
            continue
        if f.erasure is not None:
            out[f.name] = "null" if f.erasure == "delete" else f.erasure
        elif not _covered(f, exemption):
            out[f.name] = "null"
    return out


# -- exemption clocks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hop:
    """Follow ``field`` of ``collection`` to ``target.target_field``."""

    collection: str
    field: str
    target: str
    target_field: str


@dataclass(frozen=True)
class Clock:
    """Where an exemption's trigger is read for one collection: hops, then a column."""

    exemption: Exemption
    hops: tuple[Hop, ...]
    home: str
    column: str

    def describe(self) -> str:
        where = f"{self.home}.{self.column}" if self.hops else self.column
        since = f"the end of the year of {where}" if self.exemption.year_end else where
        return f"{self.exemption.period} from {since}"


def _trigger_home(ex: Exemption, database: str) -> tuple[str | None, str]:
    parts = ex.trigger.split(".")
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 3 and parts[0] != database:
        return "", parts[2]  # another database: never reachable
    return parts[-2], parts[-1]


def resolve_clock(dataset: Dataset, connector: Connector, database: str, coll: Collection,
                  ex: Exemption) -> Clock:
    """The clock of ``coll`` under ``ex``; raises :class:`ExemptionMapError` when the trigger
    cannot be reached (the data map must say how)."""
    home, column = _trigger_home(ex, database)
    dbm = dataset.database(database)

    def has_trigger(name: str) -> bool:
        return (home is None or home == name) and column in connector.columns(name)

    if has_trigger(coll.name):
        return Clock(ex, (), coll.name, column)
    paths: list[tuple[Hop, ...]] = []

    def walk(name: str, hops: tuple[Hop, ...], seen: frozenset[str]) -> None:
        current = dbm.collection(name) if dbm.has_collection(name) else None
        if current is None:
            return
        via = [current.exemption_via] if current.exemption_via else [f.name for f in current.fields if f.references]
        for fname in via:
            for ref in current.field(fname).references:
                db, target, tfield = ref.target
                if db != database or target in seen or not dbm.has_collection(target):
                    continue
                if target not in _tables(connector) or tfield not in connector.columns(target):
                    continue
                hop = Hop(name, fname, target, tfield)
                if has_trigger(target):
                    paths.append((*hops, hop))
                elif len(hops) < 3:
                    walk(target, (*hops, hop), seen | {target})

    walk(coll.name, (), frozenset({coll.name}))
    where = f"{home}.{column}" if home else column
    if not paths:
        raise ExemptionMapError(
            f"{database}.{coll.name}: exemption {ex.key!r} runs from {where}, which {coll.name} does not have, "
            "and no declared reference leads to a collection that has it; declare the reference (e.g. "
            f"invoice_id references invoices.id) and exemption_via: <that field> on {coll.name}, or keep "
            "these rows under an exemption whose trigger they hold")
    if len(paths) > 1 and not coll.exemption_via:
        opts = ", ".join(p[0].field for p in paths)
        raise ExemptionMapError(
            f"{database}.{coll.name}: exemption {ex.key!r} runs from {where}, reachable through several "
            f"references ({opts}); name one with exemption_via")
    best = paths[0]
    return Clock(ex, best, best[-1].target, column)


def _tables(connector: Connector) -> set[str]:
    return set(connector.tables())  # listed once per connector, by the connector


def _naive_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return _naive_utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def clock_starts(conn: Handle, connector: Connector, clock: Clock, rows: dict[Any, dict[str, Any]],
                 ) -> dict[Any, datetime | None]:
    """When each row's legal period starts (naive UTC; the next 1 January when the law counts
    from the year's end); None: no trigger value, so no reason to keep the row.

    The trigger is read from the row itself, or through the clock's hops: one ``SELECT …
    WHERE key IN (…)`` per hop and batch.
    """
    values: dict[Any, Any] = {}
    if not clock.hops:
        values = {k: r.get(clock.column) for k, r in rows.items()}
    else:
        current: dict[Any, Any] = {k: r.get(clock.hops[0].field) for k, r in rows.items()}
        for i, hop in enumerate(clock.hops):
            last = i == len(clock.hops) - 1
            nxt_col = clock.column if last else clock.hops[i + 1].field
            wanted = sorted({v for v in current.values() if v is not None}, key=repr)
            found: dict[Any, Any] = {}
            for chunk in batched(wanted, 800):
                for row in selection.scan(connector, conn, hop.target, [hop.target_field, nxt_col],
                                          OneOf(hop.target_field, tuple(chunk)), stream=False):
                    found[row[hop.target_field]] = row[nxt_col]
            current = {k: (found.get(v) if v is not None else None) for k, v in current.items()}
        values = current
    ex = clock.exemption
    out: dict[Any, datetime | None] = {}
    for key, when in values.items():
        moment = _naive_utc(when)
        if moment is not None and ex.year_end:
            moment = datetime(moment.year + 1, 1, 1)  # counted from the year's end
        out[key] = moment
    return out


def group_rows(rows: dict[RowId, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for coll_key, key in rows:
        out[coll_key].append(key)
    return out
