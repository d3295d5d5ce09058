"""What every page of the admin console shares: the signed-in admin, roles, CSRF, the page
renderer, the words for states and roles, masking for the viewer role, and form versions.

- **Roles.** :meth:`Admin.can` asks :data:`pledge.admins.PERMISSIONS`; :func:`permitted`
  refuses (403) on the server whatever the page showed.
- **Masking.** Only a role with ``personal_data`` (owner, privacy officer) sees requesters'
  emails, people's notes and the values of sample rows; a viewer sees their shape
  (:func:`mask_email`, :func:`mask_value`).
- **Form versions.** Every action form carries ``seen``: the newest audit entry about its
  request or breach when the page was drawn. A second submission of the same form (a
  double click, Back and resubmit) finds a newer entry, does nothing and shows what
  happened instead (:func:`version_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy import func, select

from pledge.admins import AdminError, AdminService, AdminUser
from pledge.context import Context
from pledge.web.deps import EngineDep
from pledge.web.i18n import Translator
from pledge.web.sessions import COOKIE, ConsoleSession, csrf_ok, load_session
from pledge.web.templates import render

ROLE_LABELS = {"owner": "Owner", "privacy_officer": "Privacy officer", "viewer": "Viewer"}
#: request states as the console names them; translated in console.po / center.po
STATE_LABELS = {"received": "New", "verifying": "Waiting for code", "verified": "Verified",
                "awaiting_approval": "Awaiting approval", "executing": "In progress", "completed": "Completed",
                "partially_completed": "Partly completed", "failed": "Failed, can be run again", "denied": "Denied",
                "expired": "Expired"}
SOURCE_LABELS = {"person": "The person, through the privacy centre", "officer": "Our own initiative",
                 "api": "A machine client (API)"}
ASSURANCE_LABELS = {"none": "Not yet proven", "reasonable": "Reasonable (email code)",
                    "reasonably_high": "Reasonably high (signed-in account)", "officer": "Recorded by an officer"}
#: the law a request runs under ("RODO" is the GDPR's Polish name)
REGIME_LABELS = {"gdpr": "GDPR", "uk_gdpr": "UK GDPR", "ccpa": "CCPA", "lgpd": "LGPD", "pipeda": "PIPEDA"}
MASK = "•••"


@dataclass(frozen=True)
class Admin:
    id: int
    email: str
    role: str
    session: ConsoleSession

    def can(self, action: str) -> bool:
        return AdminService.allowed(self.role, action)

    @property
    def actor(self) -> str:
        return f"admin:{self.id}"

    @property
    def unmasked(self) -> bool:
        """May this admin see people's personal data (emails, notes, row values)?"""
        return self.can("personal_data")


def load_user(engine: Context, user_id: int) -> AdminUser | None:
    try:
        return engine.admins.get_user(user_id)
    except AdminError:
        return None


def current_admin(request: Request, engine: EngineDep) -> Admin:
    """The signed-in admin; without a live session, a redirect to the login page."""
    cookie = request.cookies.get(COOKIE)
    session = load_session(engine, cookie)
    user = load_user(engine, session.user_id) if session else None
    if session is None or user is None:
        target = "/admin/login?expired=1" if cookie else "/admin/login"
        raise HTTPException(303, "sign in first", headers={"Location": target})
    return Admin(user.id, user.email, user.role, session)


AdminDep = Annotated[Admin, Depends(current_admin)]


def permitted(admin: Admin, action: str, t: Translator) -> None:
    """Refuse (403) an action the admin's role does not allow; checked on every request."""
    if not admin.can(action):
        raise HTTPException(403, t("Your role lets you look, not act. Ask an owner or a privacy officer."))


async def checked_form(request: Request, admin: Admin, t: Translator) -> Any:
    form = await request.form()
    if not csrf_ok(admin.session, str(form.get("csrf") or "")):
        raise HTTPException(403, t("The form's security token is missing or wrong. Reload the page and try again."))
    return form


def regime_label(regime: str, t: Translator) -> str:
    return t(REGIME_LABELS[regime]) if regime in REGIME_LABELS else regime.upper()


def page(request: Request, t: Translator, name: str, admin: Admin | None, status_code: int = 200,
         **ctx: Any) -> HTMLResponse:
    unmasked = bool(admin and admin.unmasked)
    return render(request, name, t, status_code=status_code, admin=admin,
                  csrf=admin.session.csrf if admin else "",
                  state_labels={k: t(v) for k, v in STATE_LABELS.items()},
                  source_labels={k: t(v) for k, v in SOURCE_LABELS.items()},
                  assurance_labels={k: t(v) for k, v in ASSURANCE_LABELS.items()},
                  regime=lambda code: regime_label(code, t), event=event_name,
                  dotted=lambda name: event_name(name, "name"),
                  shown=lambda value: show_value(value, unmasked),
                  role_label=t(ROLE_LABELS.get(admin.role, admin.role)) if admin else "", **ctx)


# -- masking ------------------------------------------------------------------------------------
def mask_email(email: str) -> str:
    """``ann.smith@example.org`` → ``a•••@e•••.org``: enough to tell two apart, not to know who."""
    local, at, domain = email.partition("@")
    if not at:
        return MASK
    name, dot, tld = domain.rpartition(".")
    return f"{local[:1]}{MASK}@{name[:1]}{MASK}{dot}{tld}" if dot else f"{local[:1]}{MASK}@{MASK}"


def mask_value(value: Any) -> str:
    return "—" if value is None or value == "" else MASK


def show_value(value: Any, unmasked: bool, limit: int = 80) -> str:
    """A value of a platform row as the console shows it: shortened; masked for a viewer."""
    if not unmasked:
        return mask_value(value)
    if value is None:
        return "—"
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_name(name: str, cls: str = "event") -> Markup:
    """A dotted name (an audit event, ``main.login_sessions``) as code that may wrap only after
    a dot or an underscore, never in the middle of a word."""
    parts = [escape(p) for p in str(name).replace(".", ".\0").replace("_", "_\0").split("\0")]
    return Markup(f'<code class="{escape(cls)}">') + Markup("<wbr>").join(parts) + Markup("</code>")


# -- form versions ------------------------------------------------------------------------------
def version_of(engine: Context, target: str) -> int:
    """The id of the newest audit entry about ``target`` (``request:…``, ``breach:…``); 0 if none."""
    from pledge.store.tables.core import audit_log

    with engine.store.connect() as conn:
        newest = conn.execute(select(func.max(audit_log.c.id)).where(audit_log.c.target == target)).scalar()
    return int(newest or 0)


def seen_of(form: Any) -> int | None:
    """The version a form was drawn at, or None when it carries none (or not a number)."""
    raw = str(form.get("seen") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 19 else None
