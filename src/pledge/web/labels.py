"""Words for the policy's codes on web pages: rights, legal bases, retention clocks.

Every label is an English msgid; the Polish lives in ``locales/pl/LC_MESSAGES/core.po``.
Durations come in words from :func:`pledge.reports.words.duration_words` (the same helper
the privacy notice uses), so "P12M" reads "12 months" / "12 miesięcy".
"""

from __future__ import annotations

from pledge.context import Context
from pledge.policy.duration import Duration
from pledge.policy.localize import localized
from pledge.policy.model import Policy
from pledge.reports.words import duration_words
from pledge.rights.access_view import TRIGGERS
from pledge.web.i18n import Translator

RIGHT_LABELS = {
    "access": "Access to your data",
    "rectification": "Correction",
    "erasure": "Erasure",
    "restriction": "Restriction of processing",
    "portability": "Data portability",
    "objection": "Objection",
    "withdraw_consent": "Withdrawing consent",
    "automated_decision": "No decisions by machine alone",
    "complaint": "Complaint to the authority",
    "ccpa_know": "Know what we collect (CCPA)",
    "ccpa_delete": "Deletion (CCPA)",
    "ccpa_correct": "Correction (CCPA)",
    "ccpa_opt_out": "Opt out of sale or sharing (CCPA)",
    "ccpa_limit": "Limit the use of sensitive data (CCPA)",
}
#: the GDPR article of each right, shown beside the label
RIGHT_ARTICLES = {"access": "15", "rectification": "16", "erasure": "17", "restriction": "18",
                  "portability": "20", "objection": "21", "withdraw_consent": "7(3)", "automated_decision": "22",
                  "complaint": "77"}
LEGAL_BASIS_LABELS = {
    "consent": "Consent (Art. 6(1)(a))",
    "contract": "Contract (Art. 6(1)(b))",
    "legal_obligation": "Legal obligation (Art. 6(1)(c))",
    "vital_interests": "Vital interests (Art. 6(1)(d))",
    "public_task": "Public task (Art. 6(1)(e))",
    "legitimate_interests": "Legitimate interests (Art. 6(1)(f))",
}
ACTION_LABELS = {"delete": "deleted", "anonymise": "anonymised"}
#: the column a retention clock runs from, in words ("from the last login"), shared with the package
TRIGGER_LABELS = TRIGGERS


def right_label(kind: str, t: Translator) -> str:
    return t(RIGHT_LABELS[kind]) if kind in RIGHT_LABELS else kind.replace("_", " ")


def legal_basis_label(basis: str | None, t: Translator) -> str:
    if not basis:
        return t("not stated")
    return t(LEGAL_BASIS_LABELS[basis]) if basis in LEGAL_BASIS_LABELS else basis.replace("_", " ")


def action_label(action: str, t: Translator) -> str:
    return t(ACTION_LABELS[action]) if action in ACTION_LABELS else action


def trigger_label(trigger: str, t: Translator) -> str | None:
    """The clock's start in words, or None when the column is not one we know."""
    column = trigger.rsplit(".", 1)[-1]
    return t(TRIGGER_LABELS[column]) if column in TRIGGER_LABELS else None


def period_words(period: Duration, t: Translator, case: str = "nom") -> str:
    """``P30D`` → "30 days" / "30 dni"; a zero period reads "without undue delay"."""
    if period.approx_days == 0:
        return t("without undue delay")
    return duration_words(period, t.lang, case)


def policy_in(engine: Context, t: Translator) -> Policy:
    """The deployment's policy with its purposes, categories, rules… named in the page's language."""
    return localized(engine.policy, t.lang)


#: words for data categories a policy may leave out (the data map still holds them)
CATEGORY_LABELS = {
    "user.name": "Name",
    "user.contact.email": "Email address",
    "user.contact.phone_number": "Phone number",
    "user.contact.address": "Address",
    "user.contact.organization": "Company name",
    "user.demographic.date_of_birth": "Date of birth",
    "user.demographic.language": "Language",
    "user.unique_id": "Account number",
    "user.account.settings": "Account settings",
    "user.behavior": "How you use the service",
    "user.content.private": "Content you created",
    "user.financial": "Billing records",
    "user.device.ip_address": "IP address",
}


def category_label(key: str, policy: Policy, t: Translator) -> str | None:
    """A data category in words: the policy's own name for it (or for the nearest broader
    category it declares), else our words for common ones; None when there are none."""
    names = {c.key: c.name for c in policy.categories}
    probe = key
    while probe:
        if probe in names:
            return names[probe]
        if probe in CATEGORY_LABELS:
            return t(CATEGORY_LABELS[probe])
        probe = probe.rpartition(".")[0]
    return None
