"""What a proof run finds: one :class:`Finding` per promise, and the :class:`Proof` of a run.

A finding never carries personal data. It names the promise (its key and, when the
policy quotes the seed, the quote), says whether it is ``kept``, ``broken`` or
``unknown`` (cannot be checked on data, with the reason), and gives a count with at most
:data:`EXAMPLES` keyed examples: primary keys of rows that are not themselves identities
(a conversation id), keyed pseudonyms of the ones that are (``user_id:3f9c…``, the
erasure ledger's HMAC of the value under the subject key, cut to 16 hex digits), or
Pledge's own public ids (``req_…``, a breach number).

Sentences are English msgids (the console translates them, ``prove.po`` has the Polish);
the structured fields let every interface word a finding in its own language.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pledge.errors import Unavailable
from pledge.policy.duration import Duration
from pledge.retention.ledger import subject_key

if TYPE_CHECKING:
    from pledge.connectors.base import Connector
    from pledge.context import Context

__all__ = ["EXAMPLES", "KINDS", "REASONS", "STATUSES", "TITLES", "Finding", "Proof", "ProveError", "cutoff",
           "pseudonym", "sql_connector", "years_before"]

EXAMPLES = 5
STATUSES = ("broken", "unknown", "kept")

#: kind -> what the check is about, in words (the order is the report's order)
KINDS: dict[str, str] = {
    "retention": "Retention",
    "age": "Children",
    "parental_consent": "Children",
    "requests": "Data-subject requests",
    "breach": "Breaches",
    "consent": "Consent",
    "purpose": "Purposes and legal bases",
    "recipient": "Processors, recipients and transfers",
    "exemption": "Legal retention duties",
    "right": "Rights and how to use them",
    "cookies": "Cookies",
    "security": "Security measures",
    "notice": "What the notice states",
}

#: titles of the checks that do not come from a named promise (params in braces)
TITLES: dict[str, str] = {
    "age": "No person under {minimum}",
    "parental_consent": "People aged {start} to {end} have a parent's consent",
    "requests": "Every open request is within its deadline",
    "breach": "The supervisory authority is told of a breach within {hours} hours",
    "verification": "The requester's identity is verified before a request is carried out",
    "changes": "Changes to the policy are announced",
    "backups": "Backups are kept no longer than the policy says",
}

#: why a promise cannot be checked on the data (reason code -> English sentence)
REASONS: dict[str, str] = {
    "consent_use": "The databases keep no record of each message sent or each use made, so a use after a "
                   "withdrawal cannot be seen in the data. Pledge answers every use when it is asked.",
    "legal_basis": "A legal basis is the reason for processing; rows do not record why they were processed.",
    "recipient": "What a processor or recipient does happens in its own systems, outside these databases.",
    "exemption": "Records kept for a legal period are the other side of a retention rule; a record deleted "
                 "too early leaves no row to count.",
    "right": "A way to use a right is a channel, not data; the deadlines of the requests are checked.",
    "verification": "Identity is checked when a request is made; it leaves nothing to count afterwards.",
    "cookies": "Cookies live in people's browsers, not in these databases.",
    "security": "A measure of the infrastructure or the organisation; rows cannot show it.",
    "notice": "A statement of the notice (who we are, what we collect, how changes are announced); it is "
              "true or false of the text, not of rows.",
    "automated": "Whether decisions are automated is a property of the platform's code, not of its data.",
    "backups": "Backups are kept outside these databases.",
    "no_birth_date": "The data map names no date of birth (category user.demographic.date_of_birth), so "
                     "ages cannot be counted.",
    "no_period": "The rule has no period, so there is no limit to check.",
    "rule_error": "The rule cannot be bound to the live tables.",
    "store_unreachable": "A blob store declared in the data map could not be listed, so its files "
                         "cannot be checked.",
}


class ProveError(Unavailable):
    """The proof could not be made (a database unreachable, a table missing); says why."""


def sql_connector(engine: Context, database: str) -> Connector:
    """The connector of one platform database (the checks count through the data plane,
    :mod:`pledge.dataplane.selection`, which refuses a store that cannot count)."""
    return engine.connectors.get(database)


def cutoff(now: datetime, period: Duration) -> datetime:
    """``now`` moved back by ``period``, counted on the calendar (a day past the end of a
    shorter month is the month's last day), then by weeks, days, hours and minutes."""
    months = now.year * 12 + (now.month - 1) - (period.years * 12 + period.months)
    year, month0 = divmod(months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    moved = datetime(year, month0 + 1, min(now.day, last), now.hour, now.minute, now.second,
                     now.microsecond, tzinfo=now.tzinfo)
    seconds = (((period.weeks * 7 + period.days) * 24 + period.hours) * 60 + period.minutes) * 60
    return datetime.fromtimestamp(moved.timestamp() - seconds, tz=UTC)


def years_before(day: date, years: int) -> date:
    """The date ``years`` before ``day`` (29 February becomes 28 February)."""
    year = day.year - years
    return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


def pseudonym(secret: str, kind: str, value: Any) -> str:
    """A keyed pseudonym of an identity value: ``kind:`` and 16 hex digits of its HMAC."""
    return f"{kind}:{subject_key(secret, kind, str(value))[:16]}"


@dataclass
class Finding:
    """One promise, checked (or not) on the live data."""

    id: str
    kind: str
    title: str
    status: str
    source: str | None = None
    count: int = 0
    examples: list[str] = field(default_factory=list)
    #: the check's own words: table, clock, period, cutoff, condition, counts on the side
    detail: dict[str, Any] = field(default_factory=dict)
    #: an unknown finding's reason code (REASONS); a failed check's error text
    reason: str | None = None
    error: str | None = None
    #: a title of Pledge's own (a key of TITLES with its parameters), so it can be translated
    title_key: str | None = None
    title_params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def titled(cls, key: str, params: dict[str, Any] | None = None, **kw: Any) -> Finding:
        """A finding whose title is ``TITLES[key]`` filled with ``params``."""
        params = dict(params or {})
        return cls(title=TITLES[key].format(**params), title_key=key, title_params=params, **kw)

    @property
    def reason_text(self) -> str | None:
        if self.reason is None:
            return None
        text = REASONS.get(self.reason, self.reason)
        return f"{text} {self.error}" if self.error else text

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "title": self.title, "status": self.status,
                "source": self.source, "count": self.count, "examples": list(self.examples),
                "detail": dict(self.detail), "reason": self.reason, "reason_text": self.reason_text,
                "error": self.error, "title_key": self.title_key, "title_params": dict(self.title_params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(id=data["id"], kind=data["kind"], title=data["title"], status=data["status"],
                   source=data.get("source"), count=int(data.get("count") or 0),
                   examples=list(data.get("examples") or []), detail=dict(data.get("detail") or {}),
                   reason=data.get("reason"), error=data.get("error"), title_key=data.get("title_key"),
                   title_params=dict(data.get("title_params") or {}))


@dataclass
class Proof:
    """One run: when, on which deployment, under which policy version, and what it found."""

    at: datetime
    config: str
    policy_version: str
    findings: list[Finding]
    id: int | None = None
    actor: str = "system"

    @property
    def summary(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for f in self.findings:
            out[f.status] = out.get(f.status, 0) + 1
        out["checked"] = out["kept"] + out["broken"]
        return out

    @property
    def outcome(self) -> str:
        """``broken`` when any checkable promise is broken, else ``kept``."""
        return "broken" if any(f.status == "broken" for f in self.findings) else "kept"

    def by_status(self, status: str) -> list[Finding]:
        return [f for f in self.findings if f.status == status]

    def finding(self, finding_id: str) -> Finding:
        for f in self.findings:
            if f.id == finding_id:
                return f
        raise KeyError(f"no finding {finding_id!r}; known: {', '.join(f.id for f in self.findings)}")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "config": self.config,
                "policy_version": self.policy_version, "actor": self.actor, "outcome": self.outcome,
                "summary": self.summary, "findings": [f.as_dict() for f in self.findings]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Proof:
        at = datetime.fromisoformat(data["at"])
        return cls(at=at if at.tzinfo else at.replace(tzinfo=UTC), config=data["config"],
                   policy_version=data.get("policy_version", ""),
                   findings=[Finding.from_dict(f) for f in data.get("findings", [])],
                   id=data.get("id"), actor=data.get("actor", "system"))
