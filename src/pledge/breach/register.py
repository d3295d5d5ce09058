"""The breach register: every personal-data breach documented (GDPR Art. 33(5)).

Interface::

    reg = engine.breaches                 # built by the composition root (pledge.engine)
    b = reg.open(title=..., aware_at=..., collections=["main.messages"], fields=[...],
                 window_from=..., window_to=..., description=..., actor="cli")
    b = reg.assess(b.id, likelihood="high", severity="high", encrypted=False,
                   measures="...", consequences="...", actor="cli")
    reg.get(id) / reg.all()               -> Breach (a frozen view of one row)
    reg.clock(b)                          -> Clock (deadline, hours left, overdue)
    reg.record_phase(id, kind, content)   -> one Art. 33(4) phase of the authority report
    reg.people_keys(id)                   -> {subject_key: keys} of the affected people

Opening a breach checks the exposed collections and fields against the data map, works
out the affected people and records (:mod:`pledge.breach.affected`) and stores their
keyed HMACs only. Assessing turns likelihood and severity into a risk level and decides
whether the authority (Art. 33(1)) and the people (Art. 34(1)) must be told, with the
reason; encrypted or otherwise unintelligible data records the Art. 34(3)(a) exemption
instead of telling people. Every change is written to the audit log in the same
transaction as the change itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, func, insert, select, update

from pledge.breach.affected import Affected, AffectedError
from pledge.errors import InvalidInput
from pledge.store.tables.breach import breach_people, breach_phases, breaches

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pledge.audit import AuditLog
    from pledge.datamap.model import Dataset
    from pledge.policy.model import Policy
    from pledge.store import Store


class FindAffected(Protocol):
    """Who has rows of these collections in the window (:func:`pledge.breach.affected.find_affected`)."""

    def __call__(self, collections: Iterable[str], window_from: datetime, window_to: datetime, *,
                 time_field: str = ...) -> Affected: ...


LEVELS = ("low", "medium", "high")
PHASES = ("initial", "supplementary", "final")
EXEMPTION_ENCRYPTED = "art34_3_a"


class BreachError(InvalidInput):
    """Input the register cannot accept, with what would be valid."""


def risk_level(likelihood: str, severity: str) -> str:
    """Likelihood × severity (each low/medium/high) → low, medium or high risk.

    The product of the two ranks (1–3 each): 1–2 is low, 3–4 medium, 6–9 high. So a
    likely and serious breach is high risk; an unlikely one with severe effects, medium.
    """
    for name, value in (("likelihood", likelihood), ("severity", severity)):
        if value not in LEVELS:
            raise BreachError(f"{name} must be one of {', '.join(LEVELS)}, not {value!r}")
    score = (LEVELS.index(likelihood) + 1) * (LEVELS.index(severity) + 1)
    return "low" if score <= 2 else "medium" if score <= 4 else "high"


def _aware(moment: datetime) -> datetime:
    """Datetimes read back from SQLite are naive UTC; make them aware."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Clock:
    """The Art. 33(1) clock: the authority is told within ``hours`` of awareness."""

    aware_at: datetime
    deadline: datetime
    now: datetime
    notified_at: datetime | None
    required: bool | None

    @property
    def hours_left(self) -> float:
        return round((self.deadline - self.now).total_seconds() / 3600, 1)

    @property
    def overdue(self) -> bool:
        if self.notified_at is not None:
            return self.notified_at > self.deadline
        if self.required is False:
            return False
        return self.now > self.deadline

    @property
    def state(self) -> str:
        """not_required | notified | late (notified after the deadline) | overdue | running."""
        if self.notified_at is not None:
            return "late" if self.notified_at > self.deadline else "notified"
        if self.required is False:
            return "not_required"
        return "overdue" if self.now > self.deadline else "running"

    def as_dict(self) -> dict[str, Any]:
        return {"aware_at": self.aware_at.isoformat(), "deadline": self.deadline.isoformat(),
                "hours_left": self.hours_left, "overdue": self.overdue, "state": self.state,
                "notified_at": self.notified_at.isoformat() if self.notified_at else None}


@dataclass(frozen=True)
class Breach:
    id: int
    title: str
    description: str
    aware_at: datetime
    window_from: datetime
    window_to: datetime
    time_field: str
    collections: list[str]
    fields: list[str]
    categories: list[str]
    people_count: int
    records_count: int
    unreachable_count: int
    likelihood: str | None
    severity: str | None
    risk: str | None
    encrypted: bool
    measures: str
    consequences: str
    notify_authority: bool | None
    authority_reason: str | None
    notify_people: bool | None
    people_reason: str | None
    exemption: str | None
    status: str
    authority_notified_at: datetime | None
    people_notified_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: str

    @classmethod
    def from_row(cls, row: Any) -> Breach:
        data = dict(row._mapping)
        for key in ("aware_at", "window_from", "window_to", "authority_notified_at", "people_notified_at",
                    "created_at", "updated_at"):
            if data.get(key) is not None:
                data[key] = _aware(data[key])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


class BreachRegister:
    def __init__(self, store: Store, audit: AuditLog, policy: Policy, dataset: Dataset, *,
                 clock: Callable[[], datetime], affected: FindAffected) -> None:
        self.store = store
        self.audit = audit
        self.policy = policy
        self.dataset = dataset
        self.now = clock
        self.find_affected = affected  # the data plane's search for the people in a window

    # -- reading ----------------------------------------------------------------------------
    def get(self, breach_id: int) -> Breach:
        with self.store.connect() as conn:
            row = conn.execute(select(breaches).where(breaches.c.id == breach_id)).first()
        if row is None:
            raise BreachError(f"no breach {breach_id} in the register (pledge breach list shows them)")
        return Breach.from_row(row)

    def all(self) -> list[Breach]:
        with self.store.connect() as conn:
            rows = conn.execute(select(breaches).order_by(breaches.c.aware_at.desc(), breaches.c.id.desc()))
            return [Breach.from_row(r) for r in rows]

    def clock(self, breach: Breach) -> Clock:
        hours = self.policy.breach.authority_hours
        return Clock(breach.aware_at, breach.aware_at + timedelta(hours=hours), _aware(self.now()),
                     breach.authority_notified_at, breach.notify_authority)

    def people_keys(self, breach_id: int) -> dict[str, dict[str, str]]:
        q = select(breach_people.c.subject_key, breach_people.c.identity_keys).where(
            breach_people.c.breach_id == breach_id)
        with self.store.connect() as conn:
            return {r.subject_key: dict(r.identity_keys) for r in conn.execute(q)}

    def notified_count(self, breach_id: int) -> int:
        q = select(func.count()).select_from(breach_people).where(
            breach_people.c.breach_id == breach_id, breach_people.c.notified_at.is_not(None))
        with self.store.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def phases(self, breach_id: int) -> list[dict[str, Any]]:
        q = select(breach_phases).where(breach_phases.c.breach_id == breach_id).order_by(breach_phases.c.id)
        with self.store.connect() as conn:
            return [{**dict(r._mapping), "at": _aware(r.at)} for r in conn.execute(q)]

    def audit_trail(self, breach_id: int) -> list[dict[str, Any]]:
        target = f"breach:{breach_id}"
        return [e for e in reversed(self.audit.entries()) if e["target"] == target]

    # -- the exposed data -------------------------------------------------------------------
    def exposed_categories(self, collections: list[str], fields: list[str]) -> list[str]:
        """Check collections and fields against the data map; their categories."""
        ds = self.dataset
        cats: list[str] = []
        for coll in collections:
            if coll.count(".") != 1 or not ds.has(coll):
                known = [f"{d.name}.{c.name}" for d in ds.databases for c in d.collections]
                raise BreachError(f"--collection {coll!r} is not in the data map; use one of: {', '.join(known)}")
        for dotted in fields:
            owner = dotted.rsplit(".", 1)[0]
            if dotted.count(".") != 2 or not ds.has(dotted):
                raise BreachError(f"--field {dotted!r} is not a field of the data map (db.collection.field)")
            if owner not in collections:
                raise BreachError(f"--field {dotted!r} is not in an exposed collection ({', '.join(collections)})")
        chosen = list(fields)
        for coll in collections:
            _, collection = ds.resolve_collection(coll)
            names = [f.rsplit(".", 1)[1] for f in chosen if f.rsplit(".", 1)[0] == coll]
            for fld in collection.fields:
                if names and fld.name not in names:
                    continue
                cats.extend(fld.categories)
        return list(dict.fromkeys(cats))

    # -- writing ----------------------------------------------------------------------------
    def open(self, *, title: str, aware_at: datetime, collections: list[str], window_from: datetime,
             window_to: datetime, fields: list[str] | None = None, description: str = "",
             time_field: str = "created_at", actor: str = "system") -> Breach:
        title = title.strip()
        if not title:
            raise BreachError("a breach needs a --title saying what happened")
        aware_at, window_from, window_to = _aware(aware_at), _aware(window_from), _aware(window_to)
        now = _aware(self.now())
        if aware_at > now:
            raise BreachError(f"--aware-at {aware_at.isoformat()} is in the future (now is {now.isoformat()})")
        fields = [self._full_field(f, collections) for f in (fields or [])]
        categories = self.exposed_categories(collections, fields)
        try:
            found = self.find_affected(collections, window_from, window_to, time_field=time_field)
        except AffectedError as exc:
            raise BreachError(str(exc)) from exc
        with self.store.begin() as conn:
            res = conn.execute(insert(breaches).values(
                title=title, description=description, aware_at=aware_at, window_from=window_from,
                window_to=window_to, time_field=time_field, collections=collections, fields=fields,
                categories=categories, people_count=len(found.people), records_count=found.records,
                unreachable_count=found.unreachable, encrypted=False, measures="", consequences="",
                status="open", created_at=now, updated_at=now, created_by=actor))
            pk = res.inserted_primary_key
            assert pk is not None
            breach_id = int(pk[0])
            if found.people:
                conn.execute(insert(breach_people), [
                    {"breach_id": breach_id, "subject_key": p.subject_key, "identity_keys": p.keys,
                     "records": p.records}
                    for p in found.people])
            self.audit.record("breach.open", actor=actor, target=f"breach:{breach_id}", conn=conn, details={
                "title": title, "aware_at": aware_at, "collections": collections, "fields": fields,
                "window": [window_from, window_to], "time_field": time_field, "people": len(found.people),
                "records": found.records, "unreachable": found.unreachable, "categories": categories})
        return self.get(breach_id)

    @staticmethod
    def _full_field(name: str, collections: list[str]) -> str:
        """``content`` or ``messages.content`` completed to ``main.messages.content``."""
        parts = name.split(".")
        if len(parts) == 1 and len(collections) == 1:
            return f"{collections[0]}.{name}"
        if len(parts) == 2:
            for coll in collections:
                if coll.split(".")[1] == parts[0]:
                    return f"{coll}.{parts[1]}"
        return name

    def decide(self, risk: str, encrypted: bool) -> dict[str, Any]:
        """Whether the authority and the people must be told, and why."""
        promise = self.policy.breach.notify_subjects
        out: dict[str, Any] = {"exemption": None}
        if risk == "low":
            out["notify_authority"] = False
            out["authority_reason"] = ("Art. 33(1): the breach is unlikely to result in a risk to people's rights "
                                       "and freedoms; it is documented in this register (Art. 33(5)).")
        else:
            out["notify_authority"] = True
            out["authority_reason"] = (f"Art. 33(1): the breach is likely to result in a risk ({risk}); the "
                                       "supervisory authority must be told within "
                                       f"{self.policy.breach.authority_hours} hours of awareness.")
        if risk == "low":
            out["notify_people"] = False
            out["people_reason"] = "Art. 34(1) does not apply: the risk to people is low."
        elif encrypted and (risk == "high" or promise):
            out["notify_people"] = False
            out["exemption"] = EXEMPTION_ENCRYPTED
            out["people_reason"] = ("Art. 34(3)(a): the exposed data was encrypted or otherwise unintelligible to "
                                    "anyone not authorised to see it; the exemption is recorded instead of "
                                    "telling people.")
        elif risk == "high":
            out["notify_people"] = True
            out["people_reason"] = ("Art. 34(1): the breach is likely to result in a high risk to people's "
                                    "rights and freedoms; they must be told without undue delay.")
        elif promise:
            out["notify_people"] = True
            out["people_reason"] = ("The privacy policy promises to tell people whose data may have been "
                                    f"compromised (breach.notify_subjects), although the risk is {risk}.")
        else:
            out["notify_people"] = False
            out["people_reason"] = f"Art. 34(1) does not apply: the risk is {risk}, not high."
        return out

    def assess(self, breach_id: int, *, likelihood: str, severity: str, encrypted: bool, measures: str | None = None,
               consequences: str | None = None, actor: str = "system") -> Breach:
        before = self.get(breach_id)
        risk = risk_level(likelihood, severity)
        values: dict[str, Any] = {"likelihood": likelihood, "severity": severity, "risk": risk,
                                  "encrypted": encrypted, **self.decide(risk, encrypted)}
        if measures is not None:
            values["measures"] = measures.strip()
        if consequences is not None:
            values["consequences"] = consequences.strip()
        if before.status == "open":
            values["status"] = "assessed"
        changes = {k: [getattr(before, k), v] for k, v in values.items() if getattr(before, k) != v}
        with self.store.begin() as conn:
            self._update(conn, breach_id, values)
            self.audit.record("breach.assess", actor=actor, target=f"breach:{breach_id}", conn=conn,
                                     details={"changes": changes, "risk": risk})
            if values["exemption"] and values["exemption"] != before.exemption:
                self.audit.record("breach.exemption", actor=actor, target=f"breach:{breach_id}", conn=conn,
                                         details={"exemption": values["exemption"],
                                                  "reason": values["people_reason"]})
        return self.get(breach_id)

    def _update(self, conn: Connection, breach_id: int, values: dict[str, Any]) -> None:
        conn.execute(update(breaches).where(breaches.c.id == breach_id)
                     .values(**values, updated_at=_aware(self.now())))

    def record_phase(self, breach_id: int, kind: str, content: dict[str, Any], *, note: str = "",
                     actor: str = "system") -> int:
        """One phase of the authority report (Art. 33(4)); the first marks the authority told."""
        if kind not in PHASES:
            raise BreachError(f"phase must be one of {', '.join(PHASES)}, not {kind!r}")
        breach = self.get(breach_id)
        now = _aware(self.now())
        with self.store.begin() as conn:
            res = conn.execute(insert(breach_phases).values(breach_id=breach_id, at=now, kind=kind, note=note,
                                                            content=content, actor=actor))
            pk = res.inserted_primary_key
            assert pk is not None
            values: dict[str, Any] = {}
            if breach.authority_notified_at is None:
                values["authority_notified_at"] = now
            if kind == "final":
                values["status"] = "closed" if breach.notify_people is not True or breach.people_notified_at \
                    else breach.status
            elif breach.status in ("open", "assessed"):
                values["status"] = "notified"
            if values:
                self._update(conn, breach_id, values)
            late = now > self.clock(breach).deadline
            self.audit.record("breach.authority_report", actor=actor, target=f"breach:{breach_id}",
                                     conn=conn, details={"phase": kind, "note": note, "late": late,
                                                         "phase_id": int(pk[0])})
        return int(pk[0])

    def mark_person_notified(self, breach_id: int, subject_key: str) -> None:
        with self.store.begin() as conn:
            conn.execute(update(breach_people).where(breach_people.c.breach_id == breach_id,
                                                     breach_people.c.subject_key == subject_key,
                                                     breach_people.c.notified_at.is_(None))
                         .values(notified_at=_aware(self.now())))

    def finish_people(self, breach_id: int, outcome: dict[str, Any], actor: str) -> None:
        """Audit one notification run; when everyone is told, the breach says so."""
        breach = self.get(breach_id)
        everyone = self.notified_count(breach_id) >= breach.people_count
        with self.store.begin() as conn:
            if everyone and breach.people_notified_at is None:
                self._update(conn, breach_id, {"people_notified_at": _aware(self.now())})
            self.audit.record("breach.notify_people", actor=actor, target=f"breach:{breach_id}", conn=conn,
                                     details={**outcome, "complete": everyone})

    def record_exemption_run(self, breach_id: int, actor: str) -> None:
        breach = self.get(breach_id)
        self.audit.record("breach.notify_people_exempt", actor=actor, target=f"breach:{breach_id}",
                                 details={"exemption": breach.exemption, "reason": breach.people_reason,
                                          "people": breach.people_count})
