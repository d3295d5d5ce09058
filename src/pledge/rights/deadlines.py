"""When a data-subject request must be answered, per regime, taken from the policy.

- **GDPR / UK GDPR** (Art. 12(3)): one calendar month from receipt. The month is counted
  on the calendar: 31 January + 1 month is 28 (or 29) February. It can be extended by
  two further months, but the reason must reach the requester within the first month.
- **CCPA** (Cal. Code Regs. tit. 11 §7021): confirm receipt within 10 business days
  (Monday to Friday), answer within 45 calendar days, one extension of 45 more days
  with notice within the first 45.
- A stricter promise in the policy (``rights.promise``, e.g. ``P30D``) wins when it is
  earlier than the legal date.

Each regime's numbers come from ``policy.rights.deadlines`` when present; the legal
defaults above fill the gaps. Interface::

    d = deadline_for(policy, "gdpr", received_at)
    d.due, d.confirm_by, d.legal_due, d.promise_due
    d.extended_due            # the latest date an extension may reach
    d.extension_notice_by     # the last day the extension reason may be sent
    days_left(due, today) / is_overdue(due, today)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pledge.policy.duration import Duration
from pledge.policy.model import Policy, RegimeDeadline

__all__ = ["Deadline", "add_business_days", "days_left", "deadline_for", "is_overdue", "regime_for"]

DEFAULTS: dict[str, tuple[str, str, int | None]] = {
    "gdpr": ("P1M", "P2M", None),
    "uk_gdpr": ("P1M", "P2M", None),
    "ccpa": ("P45D", "P45D", 10),
}
CCPA_KINDS = ("ccpa_know", "ccpa_delete", "ccpa_opt_out")


@dataclass(frozen=True)
class Deadline:
    regime: str
    received: date
    legal_due: date
    promise_due: date | None
    due: date
    extended_due: date | None
    extension_notice_by: date | None
    confirm_by: date | None

    def as_dict(self) -> dict[str, str | None]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()}


def add_business_days(start: date, days: int) -> date:
    """``days`` working days (Monday–Friday) after ``start``; the start day does not count."""
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def regime_for(policy: Policy, kind: str) -> str:
    """CCPA request kinds run on CCPA clocks; others on the policy's first GDPR-like regime."""
    if kind in CCPA_KINDS:
        return "ccpa"
    for regime in policy.regimes:
        if regime in ("gdpr", "uk_gdpr"):
            return regime
    return policy.regimes[0] if policy.regimes else "gdpr"


def _rule(policy: Policy, regime: str) -> tuple[Duration, Duration | None, int | None]:
    found: RegimeDeadline | None = next((d for d in policy.rights.deadlines if d.regime == regime), None)
    respond, extension, confirm = DEFAULTS.get(regime, DEFAULTS["gdpr"])
    if found is None:
        return Duration.parse(respond), Duration.parse(extension), confirm
    return (found.respond, found.extension,
            found.confirm_business_days if found.confirm_business_days is not None else confirm)


def deadline_for(policy: Policy, regime: str, received_at: datetime | date) -> Deadline:
    """The dates for one request received at ``received_at`` (a UTC time or a date)."""
    received = received_at.date() if isinstance(received_at, datetime) else received_at
    respond, extension, confirm = _rule(policy, regime)
    legal_due = respond.after(received)
    promise_due = policy.rights.promise.after(received) if policy.rights.promise else None
    due = min(legal_due, promise_due) if promise_due else legal_due
    extended = extension.after(legal_due) if extension else None
    return Deadline(
        regime=regime, received=received, legal_due=legal_due, promise_due=promise_due, due=due,
        extended_due=extended, extension_notice_by=due if extended else None,
        confirm_by=add_business_days(received, confirm) if confirm else None,
    )


def days_left(due: date, today: date) -> int:
    """Whole days until ``due`` (0 on the day itself, negative when late)."""
    return (due - today).days


def is_overdue(due: date, today: date) -> bool:
    return today > due
