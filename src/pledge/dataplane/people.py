"""The person's own row: lookups that start from one identity in the table of people.

Consent facts, the organisation administrator of a managed account and the activity
endpoint each need one row of the table that holds a row per person (``facts.collection``
in ``dataset.yaml``, or found by its fields). They read and write it here, through the
connectors and under the identity rules of :mod:`pledge.dataplane.identity`, so that
``Mixed.Case@Example.com`` is the same person everywhere.

What the data map declares (``facts:``)::

    facts:
      collection: main.users
      email: email                 # default: the collection's email identity field
      last_active: last_login_at   # the column POST /v1/activity moves forward
      org_admin:                   # organisation accounts (verification: org_admin)
        member_field: organisation_id
        admin: main.organisations.admin_user_id
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pledge.connectors.base import ConnectorError, Row
from pledge.dataplane.identity import folds_case, given_values

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["Activity", "OrgAdmin", "advance_activity", "find_person", "org_admin", "people_collection"]


def find_person(engine: Context, database: str, collection: str, field: str, kind: str | None,
                values: Sequence[Any], columns: Sequence[str] | None = None) -> list[Row]:
    """Rows of one collection whose ``field`` holds one of ``values`` under the rule of
    identity ``kind``, ordered by row key (one statement per batch)."""
    given = given_values(kind, values)
    if not given:
        return []
    connector = engine.connectors.get(database)
    with connector.begin() as conn:
        rows = list(connector.find(conn, collection, field, given, columns, fold_case=folds_case(kind)))
    key = [c for c in connector.row_key(collection) if rows and c in rows[0]]
    if not key:
        return rows
    try:
        return sorted(rows, key=lambda r: tuple(r[c] for c in key))
    except TypeError:
        return sorted(rows, key=lambda r: repr(tuple(r[c] for c in key)))


def _email_field(engine: Context, database: str, collection: str) -> str | None:
    coll = engine.dataset.database(database).collection(collection)
    return next((f.name for f in coll.fields if f.identity == "email"), None)


def people_collection(engine: Context) -> tuple[str, str] | None:
    """(database, collection) of the table of people: ``facts.collection``, else the first
    collection with an email identity and an identity primary key."""
    facts = engine.dataset.facts
    if facts is not None:
        name, _, coll_name = facts.collection.partition(".")
        return name, coll_name
    for db in engine.dataset.databases:
        for coll in db.collections:
            if any(f.identity and f.primary_key for f in coll.fields) and any(
                    f.identity == "email" for f in coll.fields):
                return db.name, coll.name
    return None


# -- organisation administrators -------------------------------------------------------------
@dataclass
class OrgAdmin:
    email: str
    organisation_id: Any


def _first(rows: list[Row]) -> Row | None:
    return rows[0] if rows else None


def org_admin(engine: Context, email: str) -> OrgAdmin | None:
    """The administrator of the organisation that manages ``email``'s account, following the
    data map's ``facts.org_admin`` link; None without a link, a member row, an organisation
    or an administrator other than the member."""
    facts = engine.dataset.facts
    link = facts.org_admin if facts is not None else None
    if facts is None or link is None:
        return None
    database, _, collection = facts.collection.partition(".")
    email_field = facts.email or _email_field(engine, database, collection)
    if email_field is None:
        raise ConnectorError(f"facts collection {facts.collection!r} has no email identity field")
    key = engine.connectors.get(database).row_key(collection)
    org_db, org_coll, admin_field = link.admin.split(".")
    org_key = engine.connectors.get(org_db).row_key(org_coll)
    if len(key) != 1 or len(org_key) != 1:
        raise ConnectorError("facts.org_admin needs one-column keys on the people and organisation tables "
                             f"(found {facts.collection} ({', '.join(key)}), {org_db}.{org_coll} "
                             f"({', '.join(org_key)}))")
    member = _first(find_person(engine, database, collection, email_field, "email", [email],
                                [key[0], link.member_field]))
    if member is None or member.get(link.member_field) is None:
        return None
    organisation = member[link.member_field]
    org = _first(find_person(engine, org_db, org_coll, org_key[0], None, [organisation], [org_key[0], admin_field]))
    admin_id = org.get(admin_field) if org else None
    if admin_id is None or admin_id == member[key[0]]:
        return None
    admin = _first(find_person(engine, database, collection, key[0], None, [admin_id], [email_field]))
    address = admin.get(email_field) if admin else None
    return OrgAdmin(str(address), organisation) if address else None


# -- activity -----------------------------------------------------------------------------------
@dataclass
class Activity:
    """What recording one person's activity did."""

    found: bool
    moved: bool
    column: str  # db.collection.column


def activity_column(engine: Context) -> tuple[str, str, str] | None:
    """(database, table of people, last-activity column): ``facts.last_active``, else the
    ``last_*`` trigger of a retention rule on the table of people, else ``last_login_at``."""
    people = people_collection(engine)
    if people is None:
        return None
    facts = engine.dataset.facts
    if facts is not None and facts.last_active:
        return people[0], people[1], facts.last_active
    column = "last_login_at"
    for rule in engine.policy.retention:
        name = rule.trigger.split(".")[-1].strip()
        if name.startswith("last_") and f"{people[0]}.{people[1]}" in rule.collections:
            column = name
            break
    return people[0], people[1], column


def advance_activity(engine: Context, kind: str, value: Any, at: datetime) -> Activity:
    """Move the person's last-activity column forward to ``at`` (never back). The person is
    named by ``email`` or ``user_id`` in the table of people. Raises ``ConnectorError`` when
    the data map names no table of people or the column is missing."""
    target = activity_column(engine)
    if target is None:
        raise ConnectorError("the data map declares no table of people with an email")
    database, collection, column = target
    connector = engine.connectors.get(database)
    if column not in connector.columns(collection):
        raise ConnectorError(f"{database}.{collection} has no column {column!r} (facts.last_active)")
    coll = engine.dataset.database(database).collection(collection)
    field = next((f.name for f in coll.fields if f.identity == kind), None)
    if field is None and kind == "user_id":
        key = connector.row_key(collection)
        field = key[0] if len(key) == 1 else None
    path = f"{database}.{collection}.{column}"
    if field is None:
        raise ConnectorError(f"{database}.{collection} has no {kind} identity field")
    key = connector.row_key(collection)
    given = given_values(kind, [value])
    with connector.begin() as conn:
        rows = list(connector.find(conn, collection, field, given, key, fold_case=folds_case(kind)))
        if not rows:
            return Activity(False, False, path)
        moved = connector.advance_keys(conn, collection, [tuple(r[c] for c in key) for r in rows], column, at)
    return Activity(True, moved > 0, path)
