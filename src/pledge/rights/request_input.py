"""What a request may carry, checked when it is made, so that nothing bad waits for approval.

A request's **subject** is exactly what was verified:

- the email a one-time code was sent to (everyone);
- identities inside a platform token the platform signed (claim ``identities``);
- identities an officer entered with the evidence they recorded
  (:meth:`pledge.rights.requests.RequestService.open_on_initiative`).

A requester never supplies other identities: user ids, customer ids and the like are
found from the verified ones through the data map when the request runs.
:func:`check_identities` enforces the kinds and sizes; the *source* rule is in
``RequestService.create``.

:func:`check_params` checks the parameters of each kind against the policy and the data
map: purposes exist (and can be objected to, or need consent), rectified fields are
declared ``rectifiable`` in the dataset (never keys, references or system columns), values fit the live column, and nothing unknown is carried along.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from pledge.datamap.model import IdentityKind
from pledge.emails import is_email_address
from pledge.errors import InvalidInput

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.policy.model import Policy

__all__ = ["IDENTITY_KINDS", "PARAMS", "RequestInputError", "check_identities", "check_params",
           "objectable_purposes", "rectifiable_fields"]

IDENTITY_KINDS: tuple[str, ...] = get_args(IdentityKind)
MAX_IDENTITY_CHARS = 320
MAX_DETAILS_CHARS = 2000
MAX_CHANGES = 10
MAX_VALUE_CHARS = 1000

#: kind → the parameters it accepts (``details``, a free-text note, is accepted by all)
PARAMS: dict[str, frozenset[str]] = {
    "access": frozenset(),
    "portability": frozenset(),
    "erasure": frozenset(),
    "ccpa_delete": frozenset(),
    "ccpa_opt_out": frozenset(),
    "rectification": frozenset({"changes"}),
    "restriction": frozenset({"purpose"}),
    "objection": frozenset({"purpose"}),
    "withdraw_consent": frozenset({"purposes"}),
    "ccpa_know": frozenset({"specific"}),
}


class RequestInputError(InvalidInput):
    """Input a request cannot carry; ``field`` names it (``params.changes``, ``identities.user_id``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def objectable_purposes(policy: Policy) -> list[tuple[str, str]]:
    """Purposes open to an Art. 21 objection: legitimate interests, public task, marketing."""
    return [(p.key, p.name) for p in policy.purposes
            if p.objectable or p.data_use.startswith("marketing")
            or p.legal_basis in ("legitimate_interests", "public_task")]


def rectifiable_fields(engine: Context) -> list[str]:
    """``collection.field`` names the dataset declares ``rectifiable`` (first database wins a tie)."""
    out: list[str] = []
    for db in engine.dataset.databases:
        for coll in db.collections:
            for f in coll.fields:
                name = f"{coll.name}.{f.name}"
                if f.rectifiable and name not in out:
                    out.append(name)
    return out


def check_identities(identities: dict[str, Any], *, allowed: tuple[str, ...] = IDENTITY_KINDS) -> dict[str, str]:
    """Identity kinds the data map knows, as short non-empty strings; the email well formed."""
    clean: dict[str, str] = {}
    for raw_kind, raw_value in identities.items():
        kind = str(raw_kind).strip()
        if kind not in allowed:
            raise RequestInputError(f"identities.{kind[:40]}", f"not an identity kind; one of: {', '.join(allowed)}")
        if isinstance(raw_value, dict | list | tuple | set) or raw_value is None:
            raise RequestInputError(f"identities.{kind}", "give one value as text")
        value = str(raw_value).strip()
        if not value:
            continue
        if len(value) > MAX_IDENTITY_CHARS:
            raise RequestInputError(f"identities.{kind}", f"at most {MAX_IDENTITY_CHARS} characters")
        if kind == "email":
            if not is_email_address(value):
                raise RequestInputError("identities.email", "not an email address (name@example.org)")
            value = value.lower()
        clean[kind] = value
    return clean


def _purpose(engine: Context, value: Any, field: str, allowed: list[str], what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RequestInputError(field, f"name the purpose; one of: {', '.join(allowed) or '(none)'}")
    key = value.strip()
    if key not in allowed:
        known = {p.key for p in engine.policy.purposes}
        why = f"not a purpose {what}" if key in known else "not a purpose of this policy"
        raise RequestInputError(field, f"{key[:60]!r} is {why}; one of: {', '.join(allowed) or '(none)'}")
    return key


def _changes(engine: Context, value: Any) -> dict[str, str]:
    from pledge.rights.rectify import RectifyError, check_change

    if not isinstance(value, dict) or not value:
        raise RequestInputError("params.changes", "give the fields to correct and their right values, "
                                                  "e.g. {\"users.name\": \"Ann Smith\"}")
    if len(value) > MAX_CHANGES:
        raise RequestInputError("params.changes", f"at most {MAX_CHANGES} fields in one request")
    allowed = rectifiable_fields(engine)
    out: dict[str, str] = {}
    for name, new in value.items():
        field = str(name).strip()
        if not isinstance(new, str | int | float) or isinstance(new, bool):
            raise RequestInputError(f"params.changes.{field[:60]}", "give the right value as text")
        text = str(new).strip()
        if len(text) > MAX_VALUE_CHARS:
            raise RequestInputError(f"params.changes.{field[:60]}", f"at most {MAX_VALUE_CHARS} characters")
        try:
            check_change(engine, field, text)
        except RectifyError as exc:
            raise RequestInputError(f"params.changes.{field[:60]}",
                                    f"{exc}; fields that can be corrected: {', '.join(allowed) or '(none)'}"
                                    ) from None
        out[field] = text
    return out


def check_params(engine: Context, kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters of a new request of ``kind``, cleaned, or :class:`RequestInputError`."""
    params = dict(params or {})
    accepted = PARAMS.get(kind, frozenset()) | {"details"}
    unknown = sorted(str(k) for k in params if k not in accepted)
    if unknown:
        raise RequestInputError(f"params.{unknown[0][:40]}",
                                f"not a parameter of a {kind} request; it takes: {', '.join(sorted(accepted))}")
    out: dict[str, Any] = {}
    details = params.get("details")
    if details not in (None, ""):
        if not isinstance(details, str):
            raise RequestInputError("params.details", "a note is text")
        out["details"] = details.strip()[:MAX_DETAILS_CHARS]
    policy = engine.policy
    if kind == "rectification":
        out["changes"] = _changes(engine, params.get("changes"))
    elif kind == "objection":
        allowed = [k for k, _ in objectable_purposes(policy)]
        out["purpose"] = _purpose(engine, params.get("purpose"), "params.purpose", allowed,
                                  "open to objection (Art. 21)")
    elif kind == "restriction" and params.get("purpose") not in (None, ""):
        out["purpose"] = _purpose(engine, params.get("purpose"), "params.purpose",
                                  [p.key for p in policy.purposes], "of this policy")
    elif kind == "withdraw_consent" and params.get("purposes") not in (None, []):
        raw = params.get("purposes")
        if not isinstance(raw, list) or len(raw) > len(policy.purposes):
            raise RequestInputError("params.purposes", "give a list of purposes")
        allowed = [p.key for p in policy.purposes if p.consent_required]
        out["purposes"] = sorted({_purpose(engine, p, "params.purposes", allowed, "that rests on consent")
                                  for p in raw})
    elif kind == "ccpa_know" and "specific" in params:
        if not isinstance(params["specific"], bool):
            raise RequestInputError("params.specific", "true or false")
        out["specific"] = params["specific"]
    return out
