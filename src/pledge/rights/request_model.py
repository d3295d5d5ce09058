"""What a data-subject request is: its kinds, its states and the moves between them, the
grounds for denying or opening one, the errors, and the view callers see of it.

:mod:`pledge.rights.requests` moves requests through these states; this module holds only
the vocabulary and the shapes, so that reading them needs none of the machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from pledge.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "ASSURANCE", "DENIAL_GROUNDS", "EXPIRE_AFTER", "FINAL_STATES", "INITIATIVE_GROUNDS", "KINDS", "STATES",
    "TRANSITIONS", "RequestError", "RequestNotFound", "RequestStateError", "RequestView", "Written",
]

KINDS: dict[str, str] = {
    "access": "Access (GDPR Art. 15)",
    "portability": "Data portability (GDPR Art. 20)",
    "erasure": "Erasure (GDPR Art. 17)",
    "rectification": "Rectification (GDPR Art. 16)",
    "restriction": "Restriction of processing (GDPR Art. 18)",
    "objection": "Objection (GDPR Art. 21)",
    "withdraw_consent": "Consent withdrawal (GDPR Art. 7(3))",
    "ccpa_know": "Right to know (CCPA §1798.110)",
    "ccpa_delete": "Right to delete (CCPA §1798.105)",
    "ccpa_opt_out": "Opt-out of sale or sharing (CCPA §1798.120)",
}

STATES = ("received", "verifying", "verified", "awaiting_approval", "executing",
          "completed", "partially_completed", "failed", "denied", "expired")
FINAL_STATES = frozenset({"completed", "partially_completed", "denied", "expired"})

#: state → the states it may move to. ``executing → executing`` is a resumed run;
#: ``partially_completed → executing`` is a re-run after what blocked it is fixed;
#: ``failed → executing`` retries a run that raised (its reason is kept in ``result``).
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"verifying", "verified", "denied", "expired"}),
    "verifying": frozenset({"verified", "denied", "expired"}),
    "verified": frozenset({"awaiting_approval", "executing", "denied"}),
    "awaiting_approval": frozenset({"executing", "denied"}),
    "executing": frozenset({"executing", "completed", "partially_completed", "failed", "denied"}),
    "partially_completed": frozenset({"executing"}),
    "failed": frozenset({"executing", "denied"}),
    "completed": frozenset(),
    "denied": frozenset(),
    "expired": frozenset(),
}

DENIAL_GROUNDS: dict[str, str] = {
    "manifestly_unfounded": "Manifestly unfounded or excessive (GDPR Art. 12(5))",
    "identity_not_verified": "The requester's identity could not be verified (GDPR Art. 12(6), Art. 11(2))",
    "legal_obligation": "Processing is required by a legal obligation (GDPR Art. 17(3)(b))",
    "legal_claims": "Needed to establish, exercise or defend legal claims (GDPR Art. 17(3)(e))",
    "freedom_of_expression": "Freedom of expression and information (GDPR Art. 17(3)(a))",
    "public_interest": "Public interest in public health, archiving or research (GDPR Art. 17(3)(c)-(d))",
    "rights_of_others": "It would adversely affect the rights and freedoms of others (GDPR Art. 15(4))",
    "compelling_grounds": "Compelling legitimate grounds override the objection (GDPR Art. 21(1))",
    "ccpa_unverifiable": "The request could not be verified (CCPA §1798.140(ak); Regs. §7062)",
    "ccpa_exception": "A CCPA exception applies: transaction, security, legal obligation (CCPA §1798.105(d))",
    "ccpa_excessive": "Manifestly unfounded or excessive (CCPA §1798.145(h)(3))",
}

INITIATIVE_GROUNDS: dict[str, str] = {
    "child_under_minimum_age": "A child under the policy's minimum age (the policy promises erasure)",
    "legal_order": "An order of a court or authority",
    "consent_withdrawn_elsewhere": "Consent withdrawn through another channel (letter, phone, support)",
    "retention_review": "A review found data kept beyond what the policy promises",
}

ASSURANCE = ("none", "reasonable", "reasonably_high")
#: an unverified request expires (and loses its identities) this long after receipt
EXPIRE_AFTER = timedelta(days=30)


class RequestError(InvalidInput):
    """A request that cannot be made or moved as asked; the message says why."""


class RequestNotFound(NotFound, RequestError):
    pass


class RequestStateError(Conflict, RequestError):
    pass


@dataclass
class RequestView:
    """One request as callers see it (identities are left out; see ``identities()``)."""

    id: str
    kind: str
    state: str
    regime: str
    lang: str
    source: str
    received_at: datetime
    due_on: date
    extended_due_on: date | None
    confirm_by: date | None
    days_left: int
    overdue: bool
    needs: list[str]
    assurance: str
    approval_needed: bool
    initiative_ground: str | None = None
    initiative_note: str | None = None
    denial_ground: str | None = None
    denial_note: str | None = None
    extension_reason: str | None = None
    verified_at: datetime | None = None
    closed_at: datetime | None = None
    created_by: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    row_id: int = 0
    #: the download count of the export named in ``result`` when this process knows it without
    #: reading it: 0 for an export the run that returned this view just wrote (#19); not shown
    export_downloads: int | None = field(default=None, compare=False)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def effective_due(self) -> date:
        return self.extended_due_on or self.due_on

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("row_id", "export_downloads")}
        for k, v in out.items():
            if isinstance(v, date | datetime):
                out[k] = v.isoformat()
        out["effective_due"] = self.effective_due.isoformat()
        out["kind_label"] = KINDS.get(self.kind, self.kind)
        return out


class Written(SimpleNamespace):
    """A request row as this transaction wrote it, while it holds the row's lock: the
    columns as attributes and ``_mapping``, like a fetched row (#19: no read back)."""

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        super().__init__(**mapping)
        self._mapping = dict(mapping)


@dataclass(frozen=True)
class Approval:
    """An approval not written yet (#19): the row as read (``before``), and as the approval's
    move to ``executing`` will write it (``after``). For a run that writes nothing until it
    completes, here and now, the completing transaction writes both moves; a run that fails
    writes the approval before its failure. Either way the approval is never lost."""

    before: Any  # a fetched row, or a Written
    after: Written
    actor: str
