"""The home page: a summary of the policy this deployment enforces, in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pledge.policy.model import Policy
from pledge.reports.words import country_name
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.i18n import Translator
from pledge.web.labels import (
    RIGHT_ARTICLES,
    action_label,
    legal_basis_label,
    period_words,
    policy_in,
    right_label,
    trigger_label,
)
from pledge.web.templates import render

router = APIRouter()


@dataclass(frozen=True)
class RetentionRow:
    name: str
    period: str
    trigger: str
    trigger_code: str | None  # shown as code when there are no words for it
    then: str
    by_law: str | None = None


def retention_rows(policy: Policy, t: Translator) -> list[RetentionRow]:
    rows = []
    for rule in policy.retention:
        if rule.period is None:
            period = t("no fixed period") + (f": “{rule.vague}”" if rule.vague else "")
        else:
            period = period_words(rule.period, t, "acc")
        words = trigger_label(rule.trigger, t)
        rows.append(RetentionRow(rule.name, period, words or "", None if words else rule.trigger,
                                 action_label(rule.action, t)))
    for ex in policy.exemptions:
        words = trigger_label(ex.trigger, t)
        if ex.year_end:  # tax law counts from the end of the year
            words = t("from the end of the calendar year of issue") if ex.trigger.endswith("issued_at") \
                else t("from the end of the calendar year")
        rows.append(RetentionRow(ex.name, period_words(ex.period, t, "acc"), words or "",
                                 None if words else ex.trigger, action_label(ex.action, t), by_law=ex.law))
    return rows


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    policy = policy_in(engine, t)
    rights = [(right_label(r.kind, t), RIGHT_ARTICLES.get(r.kind)) for r in policy.rights.offered]
    promise = policy.rights.promise or next(
        (d.respond for d in policy.rights.deadlines if d.regime == "gdpr"), None)
    return render(
        request, "home.html", t, policy=policy, config=engine.config, rights=rights,
        promise=period_words(promise, t, "gen") if promise else None,
        effective=format_date(policy.effective, "long", locale=t.lang) if policy.effective else None,
        purposes=[(p.name, legal_basis_label(p.legal_basis, t), p.consent_required or p.legal_basis == "consent")
                  for p in policy.purposes],
        retention=retention_rows(policy, t),
        recipients=[(r.name, r.service, ", ".join(country_name(c, t.lang) for c in r.countries))
                    for r in policy.recipients],
        dev=engine.settings.environment == "development",
    )
