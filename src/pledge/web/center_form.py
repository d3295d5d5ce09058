"""What the privacy centre's guided form asks for each kind of request, and how it checks it.

``GET /privacy`` shows one card per request kind the policy offers; ``/privacy/new/{kind}``
then asks only what that kind needs:

- rectification: one input per field the data map declares ``rectifiable: true``, named by
  the policy's category in the page's language ("Date of birth", never "users: birth
  date"), typed from the live column (a date picker for a date, ``type=email`` for an
  email…), each checked on submission with a clear message beside it;
- objection: the purposes open to objection (named in the page's language);
- restriction: optionally, the purpose to stop;
- withdrawing consent: the purposes that rest on consent;
- everything else: only the email address (and an optional note).

The server checks again (:func:`pledge.rights.request_input.check_params` runs on
creation), so a request that reaches approval can be carried out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from pledge.context import Context
from pledge.dataplane.schema import live_column
from pledge.rights.rectify import RectifyError, check_change
from pledge.rights.request_input import (
    MAX_DETAILS_CHARS,
    MAX_VALUE_CHARS,
    objectable_purposes,
    rectifiable_fields,
)
from pledge.web.i18n import Translator
from pledge.web.labels import category_label, policy_in

__all__ = ["FieldInput", "check_changes", "field_inputs", "purposes_for", "sent_before", "remember_sent"]

SENT_COOKIE = "pledge_sent"
MAX_SENT = 10


@dataclass(frozen=True)
class FieldInput:
    """One correctable detail as the form shows it."""

    name: str  # collection.field, as request_input names it
    id: str  # the input's HTML id: change-users-birth_date
    label: str
    input: str  # the <input type>: text, date, number, email, tel, or "yesno" (a select)
    max_length: int | None = None


def _column(engine: Context, name: str) -> Any:
    coll, field = name.rsplit(".", 1)
    for db in engine.dataset.databases:
        if any(c.name == coll for c in db.collections):
            # the live column from the data plane's schema cache (refreshed when the schema changes)
            return live_column(engine.connectors.get(db.name), coll, field)
    return None


def _declared(engine: Context, name: str) -> Any:
    coll, field = name.rsplit(".", 1)
    for db in engine.dataset.databases:
        for c in db.collections:
            if c.name == coll and c.has_field(field):
                return c.field(field)
    return None


def _input_type(declared: Any, column: Any) -> str:
    ctype = column.type if column is not None else None
    cats = list(getattr(declared, "categories", []) or [])
    name = str(getattr(declared, "name", ""))
    if isinstance(ctype, Boolean):
        return "yesno"
    if isinstance(ctype, DateTime):
        return "text"
    if isinstance(ctype, Date) or any(c.endswith("date_of_birth") for c in cats):
        return "date"
    if isinstance(ctype, Integer | Numeric):
        return "number"
    if getattr(declared, "identity", None) == "email" or any(c.endswith(".email") for c in cats) or "email" in name:
        return "email"
    if getattr(declared, "identity", None) == "phone" or any("phone" in c for c in cats) or "phone" in name:
        return "tel"
    return "text"


def field_inputs(engine: Context, t: Translator) -> list[FieldInput]:
    """The details a person may ask to correct, named and typed for the form."""
    policy = policy_in(engine, t)
    out = []
    for name in rectifiable_fields(engine):
        declared = _declared(engine, name)
        column = _column(engine, name)
        length = getattr(column.type, "length", None) if column is not None and isinstance(column.type, String) \
            else None
        cats = list(getattr(declared, "categories", []) or [])
        label = next((lab for c in cats if (lab := category_label(c, policy, t))), None) \
            or name.rsplit(".", 1)[-1].replace("_", " ").capitalize()
        out.append(FieldInput(name, "change-" + name.replace(".", "-"), label, _input_type(declared, column),
                              min(length or MAX_VALUE_CHARS, MAX_VALUE_CHARS)))
    return out


def purposes_for(engine: Context, t: Translator, kind: str) -> list[tuple[str, str]]:
    """(key, name in the page's language) of the purposes a kind's form offers."""
    policy = policy_in(engine, t)
    names = {p.key: p.name for p in policy.purposes}
    if kind == "objection":
        return [(k, names.get(k, n)) for k, n in objectable_purposes(engine.policy)]
    if kind == "withdraw_consent":
        return [(p.key, p.name) for p in policy.purposes if p.consent_required or p.legal_basis == "consent"]
    if kind == "restriction":
        return [(p.key, p.name) for p in policy.purposes]
    return []


def _message(t: Translator, field: FieldInput, raw: str, problem: str) -> str:
    if "at most" in problem:
        return t("This is too long: at most {n} characters.", n=field.max_length or MAX_VALUE_CHARS)
    if "required" in problem:
        return t("Enter the correct value.")
    return {
        "date": t("Enter a real date, like 1990-05-17."),
        "number": t("Enter a number, like 42."),
        "email": t("Enter an email address, like name@example.com."),
        "tel": t("Enter a phone number, like +48 500 100 200."),
        "yesno": t("Choose yes or no."),
    }.get(field.input, t("This value cannot be used for this detail."))


def check_changes(engine: Context, t: Translator, form: FormData, today: date
                  ) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str]]]:
    """The changes asked for (field name -> value), the values as typed (input id -> text) and the
    errors (input id, message). Each value is checked as it would be written."""
    inputs = field_inputs(engine, t)
    typed: dict[str, str] = {}
    changes: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    # the older form: one chosen field and its value
    legacy_field, legacy_value = str(form.get("field") or "").strip(), str(form.get("value") or "").strip()
    for f in inputs:
        raw = str(form.get(f.id) or "").strip()
        if not raw and legacy_field == f.name:
            raw = legacy_value
        typed[f.id] = raw[:MAX_VALUE_CHARS + 1]
        if not raw:
            continue
        if len(raw) > (f.max_length or MAX_VALUE_CHARS):
            errors.append((f.id, _message(t, f, raw, "at most")))
            continue
        try:
            value = check_change(engine, f.name, raw)
        except RectifyError as exc:
            errors.append((f.id, _message(t, f, raw, str(exc))))
            continue
        if f.input == "date" and isinstance(value, date) and not date(1900, 1, 1) <= value <= today:
            errors.append((f.id, t("Enter a real date, like 1990-05-17.")))
            continue
        changes[f.name] = raw
    if legacy_field and legacy_field not in {f.name for f in inputs}:
        errors.append(("field", t("Choose the detail that is wrong.")))
    elif not changes and not errors:
        first = inputs[0].id if inputs else "field"
        errors.append((first, t("Fill in at least one detail with its correct value.")))
    return changes, typed, errors


def clean_note(form: FormData) -> str:
    return str(form.get("details") or "").strip()[:MAX_DETAILS_CHARS]


# -- one submission, one request: Back and submit again finds the first one ---------------
def new_once() -> str:
    return secrets.token_urlsafe(12)


def _signer(engine: Context) -> URLSafeSerializer:
    return URLSafeSerializer(engine.keys.signers, salt="privacy-centre-sent")


def _sent(engine: Context, request: Request) -> dict[str, str]:
    raw = request.cookies.get(SENT_COOKIE)
    if not raw:
        return {}
    try:
        data = _signer(engine).loads(raw)
    except BadSignature:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def sent_before(engine: Context, request: Request, once: str) -> str | None:
    """The request this browser already made from the form carrying ``once``, or None."""
    return _sent(engine, request).get(once) if once else None


def remember_sent(engine: Context, request: Request, response: Response, once: str, public_id: str) -> None:
    if not once or len(once) > 40:
        return
    known = _sent(engine, request)
    known[once] = public_id
    keep = dict(list(known.items())[-MAX_SENT:])
    response.set_cookie(SENT_COOKIE, _signer(engine).dumps(keep), max_age=86400, httponly=True,
                        samesite="lax", path="/privacy")
