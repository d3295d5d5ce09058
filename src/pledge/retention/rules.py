"""Retention rules as executable selections.

A policy rule (:class:`pledge.policy.model.RetentionRule`) names collections, a trigger
(the clock), a period, an optional SQL condition, an action and exemptions. Here each
rule and collection becomes a :class:`Target` that can say, for a moment ``now``, which
rows of the live table have run out of time, as a SQLAlchemy expression:

* **trigger**: a column of the table (``deleted_at``), a column of the table it links to
  by a foreign key (``main.users.closed_at``), or ``coalesce(a, b, …)`` of such columns.
  A ``last_*`` column (the last session, the last contact) that is still NULL falls back
  to ``created_at``: someone who never came back is inactive since they arrived. Any
  other NULL trigger means the clock has not started (not deleted, not closed).
* **cutoff** = ``period.before(now)``; a row is expired when its trigger is before it.
* **condition**: a small, validated SQL subset (:func:`parse_condition`) turned into a
  bound expression; nothing from the policy text is ever pasted into SQL.
* **exemptions**: rows of a collection an exemption covers stay while their legal period
  runs (``year_end`` counts from the end of the trigger's calendar year).
* **anonymise**: the rule's ``fields`` (``name`` or ``name:strategy``, strategies null,
  redact or hmac; default: the field's own strategy in the data map, else null). A row
  already anonymised is not selected again, so a second sweep changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.sql.elements import ColumnElement

from pledge.connectors.base import Connector
from pledge.dataplane import condition as _condition
from pledge.dataplane import selection
from pledge.dataplane.selection import All, AnyOf, Before, Condition, Dated, Hop, Not, Pred, Unmasked
from pledge.dataplane.writes import planned
from pledge.errors import InvalidInput
from pledge.policy.duration import Duration
from pledge.policy.model import Exemption, RetentionRule
from pledge.rights.erasure_rows import ExemptionMapError, resolve_clock
from pledge.rights.fkgraph import Link, database_links

if TYPE_CHECKING:
    from pledge.context import Context

Expr = ColumnElement[Any]
ANONYMISE_STRATEGIES = ("null", "redact", "hmac")
MAX_CONDITION = _condition.MAX_CONDITION
MAX_DEPTH = _condition.MAX_DEPTH


class RuleError(InvalidInput):
    """A retention rule that cannot be turned into a selection, with the rule named."""


# -- the condition language (parsed and compiled by the data plane) ---------------------------
ALLOWED = _condition.ALLOWED


class ConditionError(RuleError, _condition.ConditionError):
    """A condition outside the allowed SQL subset."""


def parse_condition(text: str, table: Table) -> Expr:
    """``text`` as a bound expression over ``table`` (:func:`pledge.dataplane.condition.parse_condition`);
    anything outside :data:`ALLOWED` raises :class:`ConditionError`."""
    try:
        return _condition.parse_condition(text, table)
    except _condition.ConditionError as exc:
        raise ConditionError(str(exc)) from None


def check_condition(connector: Connector, collection: str, text: str) -> None:
    """Refuse ``text`` (:class:`ConditionError`) unless it is a valid condition on ``collection``."""
    try:
        selection.check(connector, collection, Condition(text))
    except _condition.ConditionError as exc:
        raise ConditionError(str(exc)) from None


# -- time -----------------------------------------------------------------------------------------
def exemption_bound(ex: Exemption, now: datetime) -> datetime:
    """Rows whose exemption trigger is before this moment are past their legal period."""
    cutoff = ex.period.before(now)
    if not ex.year_end:
        return cutoff
    # kept while 1 January of the year after the trigger is at or after the cutoff
    jan = cutoff.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return jan if cutoff > jan else jan.replace(year=jan.year - 1)


# -- targets --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trigger:
    """Where a rule's clock is read."""

    text: str
    table: str
    columns: tuple[str, ...]
    #: the rule table's link to ``table`` when the clock is in another table
    via: Link | None = None

    @property
    def hops(self) -> tuple[Hop, ...]:
        if self.via is None:
            return ()
        return (Hop(self.via.columns, self.via.parent, self.via.parent_columns),)


@dataclass(frozen=True)
class ExemptClock:
    """Where an exemption's trigger is read for one table: the table itself, or the row its
    declared references lead to (order lines dated by their invoice; ``exemption_via``)."""

    exemption: Exemption
    column: str
    hops: tuple[Hop, ...] = ()

    def dated(self) -> Dated:
        """Rows whose trigger is set (here, or on the row the references lead to)."""
        return Dated((self.column,), self.hops)

    def past(self, now: datetime) -> Pred:
        """Rows the exemption no longer keeps at ``now``: their trigger is before its bound, or
        empty (or the reference leads nowhere). No date, no proof of the obligation: the
        exemption does not keep the row, exactly as erasure rules
        (:func:`pledge.rights.erasure_rows.clock_starts` gives None, the row is erased normally)."""
        return AnyOf((Not(self.dated()), Before((self.column,), exemption_bound(self.exemption, now), self.hops)))

    def started_before(self, moment: datetime) -> Before:
        return Before((self.column,), moment, self.hops)


@dataclass
class Target:
    """One rule applied to one collection."""

    rule: RetentionRule
    database: str
    table: str
    trigger: Trigger
    period: Duration
    action: str
    #: anonymise: column -> strategy; foreign-key columns among the fields are detached
    fields: dict[str, str] = field(default_factory=dict)
    detach: list[str] = field(default_factory=list)
    exemptions: list[Exemption] = field(default_factory=list)
    #: a table of people deleted with cascade: erased person by person's rows (rights planner)
    person: bool = False
    #: the exemptions keeping rows of this very table, with where their clocks are read
    own: list[ExemptClock] = field(default_factory=list)
    #: tables a cascade may reach that an exemption keeps, with their clocks
    kept_by: dict[str, ExemptClock] = field(default_factory=dict)
    #: anonymise: column -> the strategy masking really applies (NOT NULL columns get redact)
    applied: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.rule.key}:{self.database}.{self.table}"

    @property
    def collection(self) -> str:
        return f"{self.database}.{self.table}"

    def cutoff(self, now: datetime) -> datetime:
        return self.period.before(now)

    def own_exemptions(self) -> list[Exemption]:
        """Exemptions that keep rows of this very table."""
        return [c.exemption for c in self.own]

    def clock(self, moment: datetime) -> Before:
        """Rows whose trigger (here or in the linked table) is set and before ``moment``."""
        return Before(self.trigger.columns, moment, self.trigger.hops)

    def unmasked(self) -> Unmasked:
        """Rows where some field is not yet in its anonymised state."""
        return Unmasked(tuple(self.applied.items()), tuple(self.detach))

    def selection(self, now: datetime) -> Pred:
        """Rows of the live table that this rule must act on at ``now`` (holds aside)."""
        parts: list[Pred] = [self.clock(self.cutoff(now))]
        if self.rule.condition:
            parts.append(Condition(self.rule.condition))
        parts.extend(c.past(now) for c in self.own)  # kept while any exemption's period runs
        if self.action == "anonymise":
            parts.append(self.unmasked())
        return All(tuple(parts))


def _is_people(engine: Context, database: str, table: str) -> bool:
    """A table with one row per person: its primary key is itself an identity (users.id)."""
    dbm = engine.dataset.database(database)
    return dbm.has_collection(table) and any(f.identity and f.primary_key for f in dbm.collection(table).fields)


def _trigger(rule: RetentionRule, database: str, name: str, links: list[Link], connector: Connector) -> Trigger:
    text = rule.trigger.strip()
    m = re.fullmatch(r"(?i)coalesce\s*\((.*)\)", text)
    items = [p.strip() for p in (m.group(1) if m else text).split(",")]
    where: set[str] = set()
    cols: list[str] = []
    for item in items:
        parts = item.split(".")
        if len(parts) == 1:
            where.add(name)
            cols.append(parts[0])
        elif len(parts) == 3 and parts[0] == database:
            where.add(parts[1])
            cols.append(parts[2])
        else:
            raise RuleError(f"rule {rule.key!r}: trigger {rule.trigger!r} must name a column, "
                            f"{database}.table.column or coalesce(…) of them")
    if len(where) != 1:
        raise RuleError(f"rule {rule.key!r}: trigger {rule.trigger!r} mixes tables")
    home = where.pop()
    live = connector.describe(home)
    if live is None:
        raise RuleError(f"rule {rule.key!r}: trigger {rule.trigger!r} names {database}.{home}, which does not exist")
    for c in cols:
        if c not in live.fields:
            raise RuleError(f"rule {rule.key!r}: trigger column {c!r} is not in {database}.{home} "
                            f"(columns: {', '.join(live.fields)})")
    if len(cols) == 1 and cols[0].startswith("last_") and live.fields[cols[0]].nullable and "created_at" in live.fields:
        cols.append("created_at")  # never came back: inactive since they arrived
    if home == name:
        return Trigger(text, home, tuple(cols))
    via = [lk for lk in links if lk.child == name and lk.parent == home]
    if not via:
        raise RuleError(f"rule {rule.key!r}: {database}.{name} has no foreign key to {home}, "
                        f"so the trigger {rule.trigger!r} cannot be read for its rows")
    return Trigger(text, home, tuple(cols), via[0])


def _fields(engine: Context, rule: RetentionRule, database: str, name: str,
            connector: Connector) -> tuple[dict[str, str], list[str]]:
    dbm = engine.dataset.database(database)
    coll = dbm.collection(name) if dbm.has_collection(name) else None
    live = connector.describe(name)
    assert live is not None
    fk_cols = {c for cols, _t, _tc in live.foreign_keys for c in cols}
    strategies: dict[str, str] = {}
    detach: list[str] = []
    for item in rule.fields:
        fname, _, strategy = item.partition(":")
        fname, strategy = fname.strip(), strategy.strip()
        if fname not in live.fields:
            raise RuleError(f"rule {rule.key!r}: field {fname!r} is not a column of {database}.{name}")
        if fname in fk_cols:
            if not live.fields[fname].nullable:
                raise RuleError(f"rule {rule.key!r}: {name}.{fname} is a NOT NULL foreign key; "
                                "it cannot be cut from an anonymised row")
            detach.append(fname)
            continue
        if not strategy:
            own = coll.field(fname).erasure if coll is not None and coll.has_field(fname) else None
            strategy = own if own in ANONYMISE_STRATEGIES else "null"
        if strategy not in ANONYMISE_STRATEGIES:
            raise RuleError(f"rule {rule.key!r}: field {fname!r}: strategy {strategy!r} cannot anonymise "
                            f"repeatably; use one of {', '.join(ANONYMISE_STRATEGIES)}")
        strategies[fname] = strategy
    if not strategies and not detach:
        raise RuleError(f"rule {rule.key!r}: action anonymise needs fields to anonymise")
    return strategies, detach


def _exempt_clock(engine: Context, rule: RetentionRule, database: str, name: str, ex: Exemption,
                  connector: Connector, *, required: bool = True) -> ExemptClock | None:
    """Where ``ex``'s trigger is read for ``name``, with the rights path's resolution
    (:func:`pledge.rights.erasure_rows.resolve_clock`). An exemption that names the table (or
    that the data map puts on it) whose trigger cannot be reached refuses the rule, with the
    collection's ``file:line``; an exemption that names no tables applies where it can."""
    dbm = engine.dataset.database(database)
    if not dbm.has_collection(name):
        return ExemptClock(ex, ex.trigger.split(".")[-1]) if ex.trigger.split(".")[-1] in connector.columns(name) \
            else None
    try:
        clock = resolve_clock(engine.dataset, connector, database, dbm.collection(name), ex)
    except ExemptionMapError as exc:
        if not required:
            return None
        where = engine.dataset.where(database, name)
        raise RuleError(f"{where + ': ' if where else ''}rule {rule.key!r}: {exc}") from None
    hops = tuple(Hop((h.field,), h.target, (h.target_field,)) for h in clock.hops)
    return ExemptClock(ex, clock.column, hops)


def _exempt_tables(engine: Context, rule: RetentionRule, exemptions: list[Exemption], database: str,
                   connector: Connector) -> dict[str, ExemptClock]:
    """table -> the clock of the exemption keeping its rows (the rule's, then the data map's)."""
    out: dict[str, ExemptClock] = {}
    for ex in exemptions:
        for c in ex.collections:
            db, _, name = c.partition(".")
            if db == database and name not in out:
                found = _exempt_clock(engine, rule, database, name, ex, connector)
                if found is not None:
                    out[name] = found
    for coll in engine.dataset.database(database).collections:
        if coll.exemption and coll.name not in out:
            try:
                ex = engine.policy.exemption(coll.exemption)
            except KeyError:
                continue
            found = _exempt_clock(engine, rule, database, coll.name, ex, connector)
            if found is not None:
                out[coll.name] = found
    return out


def _own(engine: Context, rule: RetentionRule, exemptions: list[Exemption], database: str, name: str,
         connector: Connector) -> list[ExemptClock]:
    out: list[ExemptClock] = []
    for ex in exemptions:
        named = f"{database}.{name}" in ex.collections
        if not named and (ex.collections or not ex.trigger):
            continue
        found = _exempt_clock(engine, rule, database, name, ex, connector, required=named)
        if found is not None:
            out.append(found)
    return out


def compile_rules(engine: Context) -> list[Target]:
    """Every rule of the policy, per collection, in policy order (raises RuleError)."""
    out: list[Target] = []
    links_by_db: dict[str, list[Link]] = {}
    for rule in engine.policy.retention:
        if rule.period is None:
            raise RuleError(f"rule {rule.key!r} has no period; give it one (e.g. P12M) so it can be enforced")
        exemptions: list[Exemption] = []
        for key in rule.exemptions:
            try:
                exemptions.append(engine.policy.exemption(key))
            except KeyError as exc:
                raise RuleError(f"rule {rule.key!r}: exemption {key!r} is not in the policy") from exc
        for dotted in rule.collections:
            database, _, name = dotted.partition(".")
            if not engine.dataset.has(dotted):
                raise RuleError(f"rule {rule.key!r}: collection {dotted!r} is not in the data map")
            connector = engine.connectors.get(database)
            if database not in links_by_db:
                links_by_db[database] = database_links(connector, engine.dataset, database)
            if not connector.row_key(name):
                where = engine.dataset.where(database, name)
                raise RuleError(f"{where + ': ' if where else ''}rule {rule.key!r}: {dotted} has no primary key, so "
                                "its rows cannot be named; add one, or a UNIQUE key of NOT NULL columns marked "
                                "primary_key: true in the data map")
            trigger = _trigger(rule, database, name, links_by_db[database], connector)
            fields, detach = ({}, []) if rule.action == "delete" else _fields(engine, rule, database, name, connector)
            if rule.condition:
                check_condition(connector, name, rule.condition)  # fail early, with the rule named
            person = rule.action == "delete" and rule.cascade and _is_people(engine, database, name)
            own = _own(engine, rule, exemptions, database, name, connector)
            kept_by = _exempt_tables(engine, rule, exemptions, database, connector) \
                if rule.action == "delete" and rule.cascade else {}
            applied = planned(connector, name, fields)[0] if fields else {}
            out.append(Target(rule, database, name, trigger, rule.period, rule.action, fields, detach,
                              exemptions, person, own, kept_by, applied))
    return out
