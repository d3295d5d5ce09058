"""Age promises on live data: nobody under the minimum age, and a parent's consent for the
age band that needs one.

Ages come from the data map's fields of category ``user.demographic.date_of_birth``;
a person is under ``n`` on ``now``'s date when born after the date ``n`` years earlier.
The parent's consent is the facts block's column (``dataset.yaml`` ``facts:
parental_consent``) or a ``given`` record in the consent ledger under the policy's
``age.consent_purpose`` (or any purpose whose key names a parent), matched by the keyed
HMAC of the person's email. Closed accounts no longer use the service, so only open ones
need the consent; a child's data must go whatever the account's state.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from pledge.connectors.base import Key
from pledge.consent.facts import FactsSource, find_source
from pledge.dataplane import selection
from pledge.dataplane.selection import All, AnyOf, Cmp, IsNull, Not, OneOf, Pred
from pledge.policy.model import Age
from pledge.prove.findings import EXAMPLES, Finding, pseudonym, years_before
from pledge.store.tables.consent import consent_current

if TYPE_CHECKING:
    from pledge.context import Context

BIRTH = "user.demographic.date_of_birth"
TRUE_WORDS = ("1", "true", "yes", "y", "t", "given")


def birth_fields(engine: Context) -> list[tuple[str, str, str]]:
    """(database, collection, field) of every date of birth in the data map."""
    return [(d.name, c.name, f.name) for d, c, f in engine.dataset.fields() if BIRTH in f.categories]


def _keys_of(engine: Context, database: str, collection: str, key: list[str], keys: list[Key]) -> list[str]:
    coll = engine.dataset.database(database).collection(collection)
    field = next((f for f in coll.fields if len(key) == 1 and f.name == key[0]), None)
    if field is not None and field.identity:
        return [pseudonym(engine.keys.subject_secret, str(field.identity), k[0]) for k in keys]
    return [str(k[0]) if len(k) == 1 else "-".join(str(v) for v in k) for k in keys]


def _open(columns: list[str], source: FactsSource | None, collection: str) -> list[Pred]:
    """Conditions for accounts that are not closed (when the facts block says how to tell)."""
    if source is None or source.collection != collection:
        return []
    parts: list[Pred] = []
    if source.status and source.status in columns:
        parts.append(AnyOf((IsNull(source.status),
                            Not(OneOf(source.status, tuple(source.closed_statuses), fold_case=True)))))
    if source.closed_at and source.closed_at in columns:
        parts.append(IsNull(source.closed_at))
    return parts


def under_minimum(engine: Context, age: Age, now: datetime) -> list[Finding]:
    title = {"minimum": age.minimum}
    places = birth_fields(engine)
    if not places:
        return [Finding.titled("age", title, id="age:minimum", kind="age", source=age.source, status="unknown",
                        reason="no_birth_date", detail={"minimum": age.minimum})]
    today = now.date()
    born_after = years_before(today, age.minimum)
    out: list[Finding] = []
    for database, collection, name in places:
        connector = engine.connectors.get(database)
        child = All((Not(IsNull(name)), Cmp(name, ">", born_after)))
        with connector.begin() as conn:
            count = selection.count(connector, conn, collection, child)
            keys = selection.keys(connector, conn, collection, child, limit=EXAMPLES) if count else []
        out.append(Finding.titled(
            "age", title, id=f"age:{database}.{collection}", kind="age", source=age.source,
            status="broken" if count else "kept", count=count,
            examples=_keys_of(engine, database, collection, connector.row_key(collection), keys),
            detail={"minimum": age.minimum, "collection": f"{database}.{collection}", "field": name,
                    "born_after": born_after.isoformat(), "on_child_found": age.on_child_found}))
    return out


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def _ledger_consented(engine: Context, age: Age, emails: dict[Any, str]) -> set[Any]:
    """Primary keys whose email has a parent's consent ``given`` in the consent ledger."""
    purposes = {p.key for p in engine.policy.purposes if "parental" in p.key}
    if age.consent_purpose:
        purposes.add(age.consent_purpose)
    if not purposes or not emails:
        return set()
    owner: dict[str, Any] = {}
    for pk, email in emails.items():
        for key in engine.ledger.every_key("email", email.strip().lower()):
            owner[key] = pk
    found: set[Any] = set()
    keys = sorted(owner)
    with engine.store.connect() as conn:
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            q = select(consent_current.c.subject_key).where(
                consent_current.c.subject_key.in_(chunk), consent_current.c.purpose.in_(sorted(purposes)),
                consent_current.c.state == "given")
            found.update(owner[r[0]] for r in conn.execute(q))
    return found


def parental_consent(engine: Context, age: Age, now: datetime) -> list[Finding]:
    if age.parental_consent_from is None:
        return []
    start, end = age.parental_consent_from, age.parental_consent_until or 18
    title = {"start": start, "end": end - 1}
    places = birth_fields(engine)
    if not places:
        return [Finding.titled("parental_consent", title, id="parental_consent", kind="parental_consent",
                               source=age.source, status="unknown", reason="no_birth_date", detail={"from": start, "until": end})]
    source = find_source(engine)
    today = now.date()
    out: list[Finding] = []
    for database, collection, name in places:
        connector = engine.connectors.get(database)
        live = connector.columns(collection)
        key = connector.row_key(collection)
        band = All((Not(IsNull(name)), Cmp(name, "<=", years_before(today, start)),
                    Cmp(name, ">", years_before(today, end)), *_open(live, source, collection)))
        flag = source.parental_consent if source and source.collection == collection else None
        email = source.email if source and source.collection == collection else None
        with connector.begin() as conn:
            rows = selection.rows(connector, conn, collection, band, [c for c in (flag, email) if c and c in live])
        flagged = flag is not None and flag in live
        missing = [r for r in rows if not (flag is not None and flagged and _truthy(r[flag]))]
        keyed = [(tuple(r[c] for c in key), r) for r in missing]
        if email is not None and email in live:
            emails = {k: str(r[email]) for k, r in keyed if r[email]}
            consented = _ledger_consented(engine, age, emails)
            keyed = [(k, r) for k, r in keyed if k not in consented]
            missing = [r for _k, r in keyed]
        keys = [k for k, _r in keyed[:EXAMPLES]]
        out.append(Finding.titled(
            "parental_consent", title, id=f"parental_consent:{database}.{collection}", kind="parental_consent",
            source=age.source, status="broken" if missing else "kept", count=len(missing),
            examples=_keys_of(engine, database, collection, key, keys),
            detail={"from": start, "until": end, "collection": f"{database}.{collection}", "field": name,
                    "in_band": len(rows), "consent_column": flag, "consent_purpose": age.consent_purpose}))
    return out


def age_findings(engine: Context, now: datetime) -> list[Finding]:
    age = engine.policy.age
    if age is None:
        return []
    return [*under_minimum(engine, age, now), *parental_consent(engine, age, now)]
