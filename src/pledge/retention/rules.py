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

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, String, Table, and_, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from pledge.errors import InvalidInput
from pledge.policy.duration import Duration
from pledge.policy.model import Exemption, RetentionRule
from pledge.rights.fkgraph import Link, database_links
from pledge.rights.masking import _plan_columns, redact_value

if TYPE_CHECKING:
    from pledge.connectors.sql import SqlConnector
    from pledge.engine import Engine

Expr = ColumnElement[Any]
ANONYMISE_STRATEGIES = ("null", "redact", "hmac")
MAX_CONDITION = 2000
MAX_DEPTH = 40


class RuleError(InvalidInput):
    """A retention rule that cannot be turned into a selection, with the rule named."""


class ConditionError(RuleError):
    """A condition outside the allowed SQL subset."""


# -- the condition language ---------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<str>'(?:[^']|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)(?![A-Za-z_0-9])
  | (?P<op><=|>=|<>|!=|=|<|>)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)
_KEYWORDS = {"AND", "OR", "IS", "NOT", "NULL", "TRUE", "FALSE"}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "<>": operator.ne, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
ALLOWED = ("column names of the table, = <> != < <= > >=, 'text', numbers, TRUE, FALSE, "
           "IS NULL, IS NOT NULL, AND, OR and parentheses")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise ConditionError(f"condition {text!r}: {text[pos]!r} at position {pos} is not allowed; "
                                 f"allowed: {ALLOWED}")
        out.append((m.lastgroup, m.group(), pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, table: Table) -> None:
        self.text = text
        self.table = table
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def error(self, message: str) -> ConditionError:
        return ConditionError(f"condition {self.text!r}: {message}; allowed: {ALLOWED}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise self.error("it ends too early")
        self.i += 1
        return tok

    def word(self, value: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].upper() == value:
            self.i += 1
            return True
        return False

    def parse(self) -> Expr:
        expr = self.or_()
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok[1]!r} at position {tok[2]}")
        return expr

    def or_(self) -> Expr:
        parts = [self.and_()]
        while self.word("OR"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def and_(self) -> Expr:
        parts = [self.atom()]
        while self.word("AND"):
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def atom(self) -> Expr:
        tok = self.peek()
        if tok is not None and tok[0] == "lp":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error("parentheses nest too deep")
            self.take()
            inner = self.or_()
            if self.take()[0] != "rp":
                raise self.error("a parenthesis is not closed")
            self.depth -= 1
            return inner
        return self.comparison()

    def column(self, tok: tuple[str, str, int]) -> Column[Any]:
        kind, value, pos = tok
        if kind != "word" or value.upper() in _KEYWORDS:
            raise self.error(f"expected a column name at position {pos}, found {value!r}")
        nxt = self.peek()
        if nxt is not None and nxt[0] == "lp":
            raise self.error(f"function calls such as {value}(…) are not allowed")
        if value not in self.table.c:
            raise self.error(f"{value!r} is not a column of {self.table.name} "
                             f"(columns: {', '.join(self.table.c.keys())})")
        return self.table.c[value]

    def comparison(self) -> Expr:
        col = self.column(self.take())
        if self.word("IS"):
            negate = self.word("NOT")
            if not self.word("NULL"):
                raise self.error("IS must be followed by NULL or NOT NULL")
            return col.is_not(None) if negate else col.is_(None)
        kind, op, pos = self.take()
        if kind != "op":
            raise self.error(f"expected a comparison operator after {col.name}, found {op!r} at position {pos}")
        return _OPS[op](col, self.value(col))  # type: ignore[no-any-return]

    def value(self, col: Column[Any]) -> Any:
        kind, value, pos = self.take()
        if kind == "str":
            return literal(value[1:-1].replace("''", "'"), type_=String())
        if kind == "num":
            return literal(float(value) if "." in value else int(value))
        if kind == "word" and value.upper() in ("TRUE", "FALSE"):
            return true() if value.upper() == "TRUE" else false()
        if kind == "word" and value.upper() == "NULL":
            raise self.error(f"compare with NULL using IS NULL or IS NOT NULL (position {pos})")
        if kind == "word":
            return self.column((kind, value, pos))
        raise self.error(f"expected a value at position {pos}, found {value!r}")


def parse_condition(text: str, table: Table) -> Expr:
    """``text`` (e.g. ``status = 'closed' AND organisation_id IS NULL``) as a bound
    expression over ``table``; anything outside :data:`ALLOWED` raises ConditionError."""
    if len(text) > MAX_CONDITION:
        raise ConditionError(f"condition is {len(text)} characters long; at most {MAX_CONDITION}")
    if not text.strip():
        raise ConditionError("condition is empty")
    return _Parser(text, table).parse()


# -- time -----------------------------------------------------------------------------------------
def db_time(moment: datetime, dialect: str) -> datetime:
    """``moment`` as the platform database wants it: aware UTC on PostgreSQL, naive UTC
    elsewhere (SQLite and MariaDB store naive UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC)
    return aware if dialect == "postgresql" else aware.replace(tzinfo=None)


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
        return [ex for ex in self.exemptions
                if self.collection in ex.collections or (not ex.collections and ex.trigger)]

    def clock(self, connector: SqlConnector) -> Expr:
        """The trigger value of each row (in the linked table when the clock lives there)."""
        table = connector.table(self.trigger.table)
        cols = [table.c[c] for c in self.trigger.columns]
        return cols[0] if len(cols) == 1 else func.coalesce(*cols)

    def where(self, connector: SqlConnector, now: datetime) -> Expr:
        """Rows of the live table that this rule must act on at ``now``."""
        dialect = connector.dialect
        table = connector.table(self.table)
        cutoff = db_time(self.cutoff(now), dialect)
        clock = self.clock(connector)
        if self.trigger.via is None:
            parts: list[Expr] = [clock < cutoff]
        else:
            parent = connector.table(self.trigger.table)
            ppk = list(parent.primary_key.columns)[0]
            parts = [table.c[self.trigger.via.column].in_(select(ppk).where(clock < cutoff))]
        if self.rule.condition:
            parts.append(parse_condition(self.rule.condition, table))
        for ex in self.own_exemptions():
            if ex.trigger in table.c:
                bound = db_time(exemption_bound(ex, now), dialect)
                parts.append(and_(table.c[ex.trigger].is_not(None), table.c[ex.trigger] < bound))
        if self.action == "anonymise":
            parts.append(self.not_anonymised(table))
        return and_(*parts)

    def applied(self, table: Table) -> dict[str, str]:
        """Column -> strategy masking will really apply (NOT NULL columns get redact)."""
        applied, _skipped = _plan_columns(table, self.fields, ())
        return applied

    def not_anonymised(self, table: Table) -> Expr:
        """Rows where some field is not yet in its anonymised state."""
        parts: list[Expr] = []
        for name, strategy in self.applied(table).items():
            col = table.c[name]
            if strategy == "null":
                parts.append(col.is_not(None))
            elif strategy == "hmac":
                parts.append(and_(col.is_not(None), not_(col.startswith("pz_", autoescape=True))))
            elif isinstance(col.type, String):
                parts.append(and_(col.is_not(None), not_(col.startswith("[redacted", autoescape=True))))
            else:
                parts.append(and_(col.is_not(None), col != redact_value(col, None, False)))
        for name in self.detach:
            parts.append(table.c[name].is_not(None))
        return or_(*parts) if parts else false()


def _is_people(engine: Engine, database: str, table: str) -> bool:
    """A table with one row per person: its primary key is itself an identity (users.id)."""
    dbm = engine.dataset.database(database)
    return dbm.has_collection(table) and any(f.identity and f.primary_key for f in dbm.collection(table).fields)


def _trigger(rule: RetentionRule, database: str, table: Table, links: list[Link],
             connector: SqlConnector) -> Trigger:
    text = rule.trigger.strip()
    m = re.fullmatch(r"(?i)coalesce\s*\((.*)\)", text)
    items = [p.strip() for p in (m.group(1) if m else text).split(",")]
    where: set[str] = set()
    cols: list[str] = []
    for item in items:
        parts = item.split(".")
        if len(parts) == 1:
            where.add(table.name)
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
    live = connector.table(home)
    for c in cols:
        if c not in live.c:
            raise RuleError(f"rule {rule.key!r}: trigger column {c!r} is not in {database}.{home} "
                            f"(columns: {', '.join(live.c.keys())})")
    if len(cols) == 1 and cols[0].startswith("last_") and live.c[cols[0]].nullable and "created_at" in live.c:
        cols.append("created_at")  # never came back: inactive since they arrived
    if home == table.name:
        return Trigger(text, home, tuple(cols))
    via = [lk for lk in links if lk.child == table.name and lk.parent == home]
    if not via:
        raise RuleError(f"rule {rule.key!r}: {database}.{table.name} has no foreign key to {home}, "
                        f"so the trigger {rule.trigger!r} cannot be read for its rows")
    return Trigger(text, home, tuple(cols), via[0])


def _fields(engine: Engine, rule: RetentionRule, database: str, table: Table) -> tuple[dict[str, str], list[str]]:
    dbm = engine.dataset.database(database)
    coll = dbm.collection(table.name) if dbm.has_collection(table.name) else None
    fk_cols = {fk.parent.name for fk in table.foreign_keys}
    strategies: dict[str, str] = {}
    detach: list[str] = []
    for item in rule.fields:
        name, _, strategy = item.partition(":")
        name, strategy = name.strip(), strategy.strip()
        if name not in table.c:
            raise RuleError(f"rule {rule.key!r}: field {name!r} is not a column of {database}.{table.name}")
        if name in fk_cols:
            if not table.c[name].nullable:
                raise RuleError(f"rule {rule.key!r}: {table.name}.{name} is a NOT NULL foreign key; "
                                "it cannot be cut from an anonymised row")
            detach.append(name)
            continue
        if not strategy:
            own = coll.field(name).erasure if coll is not None and coll.has_field(name) else None
            strategy = own if own in ANONYMISE_STRATEGIES else "null"
        if strategy not in ANONYMISE_STRATEGIES:
            raise RuleError(f"rule {rule.key!r}: field {name!r}: strategy {strategy!r} cannot anonymise "
                            f"repeatably; use one of {', '.join(ANONYMISE_STRATEGIES)}")
        strategies[name] = strategy
    if not strategies and not detach:
        raise RuleError(f"rule {rule.key!r}: action anonymise needs fields to anonymise")
    return strategies, detach


def compile_rules(engine: Engine) -> list[Target]:
    """Every rule of the policy, per collection, in policy order (raises RuleError)."""
    from pledge.connectors.sql import SqlConnector

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
            if not isinstance(connector, SqlConnector):
                raise RuleError(f"rule {rule.key!r}: database {database!r} needs a SQL connector")
            if database not in links_by_db:
                links_by_db[database] = database_links(connector, engine.dataset, database)
            table = connector.table(name)
            if len(table.primary_key.columns) != 1:
                raise RuleError(f"rule {rule.key!r}: {dotted} needs a one-column primary key for batching")
            trigger = _trigger(rule, database, table, links_by_db[database], connector)
            fields, detach = ({}, []) if rule.action == "delete" else _fields(engine, rule, database, table)
            if rule.condition:
                parse_condition(rule.condition, table)  # fail early, with the rule named
            person = rule.action == "delete" and rule.cascade and _is_people(engine, database, name)
            out.append(Target(rule, database, name, trigger, rule.period, rule.action, fields, detach,
                              exemptions, person))
    return out
