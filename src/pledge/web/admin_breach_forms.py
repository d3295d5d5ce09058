"""The breach console's larger forms: registering a breach, and the affected people with the
Art. 34 notice (routes in :mod:`pledge.web.admin_breach`).

Registering checks every field here first, with an inline error each (the register's own
checks stay as the last word): a title; when the team became aware (not in the future);
the exposure window (from ≤ to); at least one exposed collection of the data map; fields
only of the chosen collections; the column that places a row in the window. Sending the
form twice registers the breach once: a breach with the same title, awareness time and
collections is shown instead of a second one.

The affected people are found again in the platform now, as the notice run does; their
emails are shown only to a role with ``personal_data``. Telling them needs a ticked box
and sends each person at most one notice, ever (:func:`pledge.breach.notify_people.notify_people`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from pledge.breach.register import Breach, BreachError
from pledge.context import Context
from pledge.web.admin_core import Admin, mask_email, page, version_of
from pledge.web.i18n import Translator
from pledge.web.recorded import translate_recorded

if TYPE_CHECKING:
    from pledge.breach.affected import Affected

MAX_TITLE = 200
MAX_TEXT = 5000
PEOPLE_SHOWN = 200


def collections(engine: Context) -> list[dict[str, Any]]:
    """Every collection of the data map with its fields, for the checkboxes."""
    return [{"name": f"{db.name}.{c.name}", "fields": [f.name for f in c.fields]}
            for db in engine.dataset.databases for c in db.collections]


def time_fields(engine: Context) -> list[str]:
    names = {f.name for db in engine.dataset.databases for c in db.collections for f in c.fields
             if f.name.endswith("_at")}
    return ["created_at", *sorted(names - {"created_at"})]


def blank(engine: Context) -> dict[str, Any]:
    now = engine.now().astimezone(UTC)
    return {"title": "", "description": "", "aware_at": now.strftime("%Y-%m-%dT%H:%M"), "window_from": "",
            "window_to": now.strftime("%Y-%m-%d"), "collections": [], "fields": [], "time_field": "created_at"}


def open_page(request: Request, engine: Context, admin: Admin, t: Translator, values: dict[str, Any], *,
              errors: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    return page(request, t, "admin/breach_new.html", admin, status_code=status_code, v=values,
                errors=errors or {}, colls=collections(engine), time_fields=time_fields(engine),
                open_colls={str(f).rsplit(".", 1)[0] for f in values.get("fields") or []})


def _moment(raw: str, *, end_of_day: bool = False) -> datetime | None:
    """A ``datetime-local`` or a date from a form, as UTC; None when it is not one."""
    text = raw.strip()
    if not text or len(text) > 40:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if end_of_day and len(text) == 10:
        moment += timedelta(days=1) - timedelta(seconds=1)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check(engine: Context, form: Any, t: Translator) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The form's values as typed, the parsed ones, and an error per field."""
    v: dict[str, Any] = {"title": str(form.get("title") or "").strip(), "description": str(form.get("description") or "").strip(),
         "aware_at": str(form.get("aware_at") or ""), "window_from": str(form.get("window_from") or ""),
         "window_to": str(form.get("window_to") or ""), "time_field": str(form.get("time_field") or "created_at"),
         "collections": [str(c) for c in form.getlist("collections")][:100],
         "fields": [str(f) for f in form.getlist("fields")][:500]}
    errors: dict[str, str] = {}
    if not v["title"]:
        errors["title"] = t("Say in one line what happened.")
    elif len(v["title"]) > MAX_TITLE:
        errors["title"] = t("At most {n} characters.", n=MAX_TITLE)
    if len(v["description"]) > MAX_TEXT:
        errors["description"] = t("At most {n} characters.", n=MAX_TEXT)
    aware = _moment(v["aware_at"])
    now = engine.now().astimezone(UTC)
    if aware is None:
        errors["aware_at"] = t("Give the date and time you became aware, e.g. 2026-03-01 09:30.")
    elif aware > now + timedelta(minutes=1):
        errors["aware_at"] = t("This is in the future. Give the moment you became aware.")
    start, end = _moment(v["window_from"]), _moment(v["window_to"], end_of_day=True)
    if start is None:
        errors["window_from"] = t("Give the first day the data may have been exposed.")
    if end is None:
        errors["window_to"] = t("Give the last day the data may have been exposed.")
    if start and end and start > end:
        errors["window_to"] = t("The window ends before it starts.")
    known = {c["name"]: c["fields"] for c in collections(engine)}
    chosen = [c for c in v["collections"] if c in known]
    if not v["collections"]:
        errors["collections"] = t("Tick at least one exposed collection.")
    elif len(chosen) != len(v["collections"]):
        errors["collections"] = t("Tick collections from the list only.")
    bad_fields = [f for f in v["fields"] if f.rsplit(".", 1)[0] not in chosen
                  or f.rsplit(".", 1)[-1] not in known.get(f.rsplit(".", 1)[0], [])]
    if bad_fields:
        errors["fields"] = t("Tick fields only of the collections you chose.")
    if v["time_field"] not in time_fields(engine):
        errors["time_field"] = t("Choose the column from the list.")
    parsed = {"aware_at": aware, "window_from": start, "window_to": end, "collections": chosen}
    return v, parsed, errors


def _same(engine: Context, title: str, aware: datetime, colls: list[str]) -> Breach | None:
    for b in engine.breaches.all():
        if b.title == title and b.aware_at == aware and sorted(b.collections) == sorted(colls):
            return b
    return None


def open_breach(request: Request, engine: Context, admin: Admin, t: Translator, form: Any) -> Response:
    v, parsed, errors = check(engine, form, t)
    if errors:
        return open_page(request, engine, admin, t, v, errors=errors, status_code=422)
    existing = _same(engine, v["title"], parsed["aware_at"], parsed["collections"])
    if existing is not None:  # the same form sent twice
        return RedirectResponse(f"/admin/breaches/{existing.id}?done=exists", status_code=303)
    try:
        breach = engine.breaches.open(title=v["title"], aware_at=parsed["aware_at"],
                                      collections=parsed["collections"], fields=v["fields"],
                                      window_from=parsed["window_from"], window_to=parsed["window_to"],
                                      description=v["description"], time_field=v["time_field"], actor=admin.actor)
    except BreachError as exc:
        field = "time_field" if "time" in str(exc).lower() else "collections"
        return open_page(request, engine, admin, t, v, errors={field: str(exc)}, status_code=422)
    return RedirectResponse(f"/admin/breaches/{breach.id}?done=opened", status_code=303)


# -- the people ---------------------------------------------------------------------------------
def _notified(engine: Context, breach_id: int) -> dict[str, datetime | None]:
    from pledge.store.tables.breach import breach_people

    q = select(breach_people.c.subject_key, breach_people.c.notified_at).where(breach_people.c.breach_id == breach_id)
    with engine.store.connect() as conn:
        return {r.subject_key: r.notified_at for r in conn.execute(q)}


def _found(engine: Context, b: Breach) -> tuple[Affected | None, str | None]:
    from pledge.breach.affected import find_affected

    try:
        return find_affected(engine, b.collections, b.window_from, b.window_to, time_field=b.time_field), None
    except Exception as exc:  # noqa: BLE001 - a broken platform database must not hide the register
        return None, f"{type(exc).__name__}: {exc}"


def people_page(request: Request, engine: Context, admin: Admin, t: Translator, b: Breach, *,
                flash: str | None = None, errors: dict[str, str] | None = None, lang: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    from pledge.breach.notify_people import BREACH_NOTICE, notice_context

    found, problem = _found(engine, b)
    told = _notified(engine, b.id)
    people = []
    for person in (found.people if found else [])[:PEOPLE_SHOWN]:
        at = told.get(person.subject_key)
        people.append({"email": person.email if admin.unmasked else mask_email(person.email),
                       "records": person.records, "registered": person.subject_key in told, "notified_at": at})
    language = lang or engine.policy.language
    subject, body = BREACH_NOTICE.render(language, {**notice_context(engine, b.id, language), "records": "N"})
    return page(request, t, "admin/breach_people.html", admin, status_code=status_code, b=b, people=people,
                total=len(found.people) if found else 0, shown_max=PEOPLE_SHOWN, problem=problem,
                unreachable=found.unreachable if found else b.unreachable_count, flash=flash, errors=errors or {},
                notified=sum(1 for at in told.values() if at is not None), mail_subject=subject, mail_body=body,
                lang_choice=language, seen=version_of(engine, f"breach:{b.id}"),
                recorded=lambda text: translate_recorded(text, t))


def notify(request: Request, engine: Context, admin: Admin, t: Translator, b: Breach, form: Any) -> Response:
    from pledge.breach.notify_people import notify_people

    lang = str(form.get("lang") or "")
    errors: dict[str, str] = {}
    if lang not in ("en", "pl"):
        errors["lang"] = t("Choose the language of the notice.")
    if b.notify_people is None:
        errors["confirm"] = t("Assess the breach first: the assessment decides whether people must be told.")
    elif b.notify_people is False and not b.exemption:
        errors["confirm"] = t("The assessment found that people need not be told.")
    elif form.get("confirm") != "yes":
        errors["confirm"] = t("Tick the box to confirm that the notice should be sent.")
    if errors:
        return people_page(request, engine, admin, t, b, errors=errors, lang=lang if lang in ("en", "pl") else None,
                           status_code=422)
    try:
        out = notify_people(engine, b.id, lang=lang, actor=admin.actor)
    except BreachError as exc:
        return people_page(request, engine, admin, t, b, errors={"confirm": str(exc)}, status_code=409)
    done = "exempt" if out.exempt else "notified"
    return RedirectResponse(f"/admin/breaches/{b.id}/people?done={done}", status_code=303)
