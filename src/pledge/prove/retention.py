"""Retention promises on live data: rows past their limit that are neither exempt nor held.

For each rule and collection of the policy (:func:`pledge.retention.rules.compile_rules`
binds them to live tables: which column is the clock, through which link) one counting
query asks how many rows are past the limit now (a data-plane selection,
:mod:`pledge.dataplane.selection`, which builds the statement). The selection reuses the rules' own
condition parser and the engine's definition of a legal hold; the limit itself is
computed here, independently of the sweep (:func:`pledge.prove.findings.cutoff`), and so
is the end of each exemption's legal period. A row is

* **past** when its clock is before ``now - period`` and the rule's condition holds, and
  for an ``anonymise`` rule some of its fields still hold their values;
* **exempt** when an exemption of the rule keeps rows of this table and its legal period
  still runs (from the end of the year, where the law counts so);
* **held** under an active legal hold.

Past rows that are neither are what breaks the promise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from pledge.connectors.base import Key
from pledge.dataplane import selection
from pledge.dataplane.selection import All, AnyOf, Condition, Not, Pred
from pledge.policy.model import Exemption, RetentionRule
from pledge.prove.findings import EXAMPLES, Finding, cutoff, pseudonym
from pledge.retention.holds import Holds, HoldSet
from pledge.retention.rules import RuleError, Target, compile_rules

if TYPE_CHECKING:
    from pledge.context import Context


def db_moment(moment: datetime, dialect: str) -> datetime:
    """Aware UTC for PostgreSQL, naive UTC for SQLite and MariaDB (as they store it)."""
    utc = moment.astimezone(UTC)
    return utc if dialect == "postgresql" else utc.replace(tzinfo=None)


def legal_period_start(ex: Exemption, now: datetime) -> datetime:
    """Rows whose exemption clock is at or after this moment are still within the legal
    period. With ``year_end`` the period runs from 1 January of the following year, so a
    row is kept while ``1 January (year + 1) >= now - period``."""
    limit = cutoff(now, ex.period)
    if not ex.year_end:
        return limit
    limit = limit.astimezone(UTC)
    start_of_year = datetime(limit.year, 1, 1, tzinfo=UTC)
    # kept while 1 Jan of (year + 1) >= limit, i.e. year + 1 >= the first 1 January at or after it
    first_jan_on_or_after = start_of_year if limit == start_of_year else datetime(limit.year + 1, 1, 1, tzinfo=UTC)
    return datetime(first_jan_on_or_after.year - 1, 1, 1, tzinfo=UTC)


def _own_exemptions(target: Target) -> list[Exemption]:
    """The rule's exemptions that keep rows of this very table (as the engine reads them)."""
    return [ex for ex in target.exemptions
            if target.collection in ex.collections or (not ex.collections and ex.trigger)]


def _examples(engine: Context, target: Target, key: list[str], keys: list[Key]) -> list[str]:
    coll = engine.dataset.database(target.database).collection(target.table)
    field = next((f for f in coll.fields if len(key) == 1 and f.name == key[0]), None)
    if field is not None and field.identity:
        secret = engine.keys.subject_secret
        return [pseudonym(secret, str(field.identity), k[0]) for k in keys]
    return [str(k[0]) if len(k) == 1 else "-".join(str(v) for v in k) for k in keys]


def check_target(engine: Context, target: Target, holds: HoldSet, now: datetime) -> Finding:
    rule = target.rule
    connector = engine.connectors.get(target.database)
    limit = cutoff(now, target.period)
    parts: list[Pred] = [target.clock(limit)]  # the clock, here or in the linked table, before the limit
    if rule.condition:
        parts.append(Condition(rule.condition))
    if target.action == "anonymise":
        parts.append(target.unmasked())  # still holds what the rule takes away
    past = All(tuple(parts))
    kept_by: list[Pred] = []
    periods: dict[str, str] = {}
    for clock in target.own:  # the exemption's trigger, here or reached through a reference
        start = legal_period_start(clock.exemption, now)
        # kept only with a trigger date inside the period: an empty one proves no obligation
        kept_by.append(All((clock.dated(), Not(clock.started_before(start)))))
        periods[clock.exemption.key] = start.date().isoformat()
    exempt: Pred = AnyOf(tuple(kept_by))
    held: Pred = (holds.held(target.database, target.table, now) if holds else None) or AnyOf()
    broken = All((past, Not(exempt), Not(held)))
    with connector.begin() as conn:
        n = selection.counts(connector, conn, target.table, {
            "broken": broken, "exempt": All((past, exempt)), "held": All((past, Not(exempt), held))})
        keys = selection.keys(connector, conn, target.table, broken, limit=EXAMPLES) if n["broken"] else []
    n_broken, n_exempt, n_held = n["broken"], n["exempt"], n["held"]
    detail: dict[str, Any] = {
        "rule": rule.key, "collection": target.collection, "action": target.action,
        "clock": target.trigger.text, "period": str(target.period), "cutoff": limit.isoformat(),
        "condition": rule.condition, "exempt": n_exempt, "held": n_held,
    }
    if periods:
        detail["exemptions"] = periods
    if rule.vague:
        detail["vague"] = rule.vague
    return Finding(id=f"retention:{rule.key}:{target.collection}", kind="retention", title=rule.name,
                   source=rule.source, status="broken" if n_broken else "kept", count=n_broken,
                   examples=_examples(engine, target, connector.row_key(target.table), keys), detail=detail)


def _unbound(rule: RetentionRule, reason: str, error: str | None = None) -> Finding:
    return Finding(id=f"retention:{rule.key}", kind="retention", title=rule.name, source=rule.source,
                   status="unknown", reason=reason, error=error,
                   detail={"rule": rule.key, "collections": list(rule.collections)})


def retention_findings(engine: Context, now: datetime) -> list[Finding]:
    """One finding per rule and collection, in policy order."""
    rules = engine.policy.retention
    bindable = [r for r in rules if r.period is not None]
    out: list[Finding] = []
    try:
        targets = compile_rules(engine) if len(bindable) == len(rules) else None
    except RuleError:
        targets = None
    if targets is None:  # bind rule by rule, so one bad rule does not hide the others
        targets = []
        for rule in rules:
            if rule.period is None:
                out.append(_unbound(rule, "no_period"))
                continue
            try:
                targets.extend(_compile_one(engine, rule))
            except RuleError as exc:
                out.append(_unbound(rule, "rule_error", str(exc)))
    holds = Holds(engine).snapshot(now)
    out.extend(check_target(engine, t, holds, now) for t in targets)
    order = {r.key: i for i, r in enumerate(rules)}
    out.sort(key=lambda f: order.get(str(f.detail.get("rule")), len(order)))
    return out


class _OneRule:
    """What :func:`compile_rules` reads of an engine, with a policy of one rule."""

    def __init__(self, engine: Context, rule: RetentionRule) -> None:
        self.policy = engine.policy.model_copy(update={"retention": [rule]})
        self.dataset = engine.dataset
        self.connectors = engine.connectors


def _compile_one(engine: Context, rule: RetentionRule) -> list[Target]:
    """The targets of one rule (the policy's other rules left out)."""
    return compile_rules(cast("Context", _OneRule(engine, rule)))
