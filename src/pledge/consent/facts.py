"""Facts about a person that live in the platform: birth date, parental consent, account state.

They are read from the one collection that holds a row per person, found by its
email identity. ``dataset.yaml`` may name it with a ``facts:`` block; without one the
collection is found from field names and fideslang categories. One query per person
through the data plane (:func:`pledge.dataplane.people.find_person`: the email matched
case-insensitively, as everywhere), cached by the decision service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pledge.dataplane.people import find_person

if TYPE_CHECKING:
    from pledge.context import Context

BIRTH_CATEGORIES = ("user.demographic.date_of_birth", "user.demographic.age_range")
CLOSED_STATUSES = ("closed", "deleted", "disabled", "deactivated", "suspended", "banned")
PERSON_TABLES = ("users", "accounts", "customers", "members")


@dataclass(frozen=True)
class FactsSource:
    database: str
    collection: str
    email: str
    birth_date: str | None = None
    parental_consent: str | None = None
    status: str | None = None
    closed_at: str | None = None
    closed_statuses: tuple[str, ...] = CLOSED_STATUSES


@dataclass(frozen=True)
class PersonFacts:
    """What the platform knows about one person; ``found`` is False when it has no row."""

    found: bool
    birth_date: date | None = None
    parental_consent: bool = False
    status: str | None = None
    closed: bool = False

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


NO_SOURCE = PersonFacts(found=True)  # no person table: nothing to weigh, nothing to deny


def find_source(engine: Context) -> FactsSource | None:
    """The configured ``facts:`` block, or the best person collection in the dataset."""
    dataset = engine.dataset
    configured = getattr(dataset, "facts", None)
    if configured is not None:
        db_name, _, coll_name = configured.collection.partition(".")
        coll = dataset.database(db_name).collection(coll_name)
        email = configured.email or next((f.name for f in coll.fields if f.identity == "email"), None)
        if email is None:
            raise ValueError(f"facts collection {configured.collection!r} has no email identity field")
        return FactsSource(db_name, coll_name, email, configured.birth_date, configured.parental_consent,
                           configured.status, configured.closed_at,
                           tuple(configured.closed_statuses or CLOSED_STATUSES))
    best: tuple[int, FactsSource] | None = None
    for db in dataset.databases:
        for coll in db.collections:
            email = next((f.name for f in coll.fields if f.identity == "email"), None)
            if email is None:
                continue
            names = {f.name for f in coll.fields}
            birth = next((f.name for f in coll.fields
                          if f.name in ("birth_date", "date_of_birth", "dob")
                          or any(c in BIRTH_CATEGORIES for c in f.categories)), None)
            parental = next((f.name for f in coll.fields if "parental" in f.name), None)
            status = "status" if "status" in names else None
            closed_at = "closed_at" if "closed_at" in names else None
            score = sum(x is not None for x in (birth, parental, status, closed_at)) * 2
            score += 1 if coll.name in PERSON_TABLES else 0
            if score == 0:
                continue
            src = FactsSource(db.name, coll.name, email, birth, parental, status, closed_at)
            if best is None or score > best[0]:
                best = (score, src)
    return best[1] if best else None


def fetch_facts(engine: Context, source: FactsSource | None, email: str) -> PersonFacts:
    """One query for one person's row (the email matched case-insensitively)."""
    if source is None:
        return NO_SOURCE
    wanted = [c for c in (source.birth_date, source.parental_consent, source.status, source.closed_at) if c]
    rows = find_person(engine, source.database, source.collection, source.email, "email", [email],
                       [source.email, *wanted])
    if not rows:
        return PersonFacts(found=False)
    data = rows[0]
    status = data.get(source.status) if source.status else None
    closed = (status is not None and str(status).lower() in source.closed_statuses) or bool(
        source.closed_at and data.get(source.closed_at) is not None)
    return PersonFacts(
        found=True,
        birth_date=as_date(data.get(source.birth_date)) if source.birth_date else None,
        parental_consent=_truthy(data.get(source.parental_consent)) if source.parental_consent else False,
        status=None if status is None else str(status),
        closed=closed,
    )


class PlatformFacts:
    """One person's facts, read from the platform through the data plane; the source
    collection is found on first use (``DecisionService(facts=PlatformFacts(context))``)."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self._source: tuple[FactsSource | None] | None = None

    def source(self) -> FactsSource | None:
        if self._source is None:
            self._source = (find_source(self.context),)
        return self._source[0]

    def __call__(self, email: str) -> PersonFacts:
        return fetch_facts(self.context, self.source(), email)


def as_date(value: Any) -> date | None:
    """A stored date, datetime or ISO text as a date; None when empty or not a date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "t", "given")
    return bool(value)
