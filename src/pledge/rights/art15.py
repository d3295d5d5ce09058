"""The Art. 15(1) information, as it applies to one person.

Pure: derived from the policy and the data categories actually found in the person's
rows. A policy category covers a found category when one key is the other or a parent
of it (``user.contact`` covers ``user.contact.email``, and the reverse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pledge.datamap.model import Dataset
from pledge.policy.model import Policy
from pledge.reports.words import country_name, duration_words

#: Countries of the EEA: transfers elsewhere are named with their safeguard.
EEA = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
})

RIGHT_NAMES = {
    "access": "access your data (Art. 15)", "rectification": "have it corrected (Art. 16)",
    "erasure": "have it erased (Art. 17)", "restriction": "restrict its processing (Art. 18)",
    "portability": "receive it in a portable form (Art. 20)", "objection": "object to processing (Art. 21)",
    "withdraw_consent": "withdraw consent at any time (Art. 7(3))",
    "automated_decision": "not be subject to solely automated decisions (Art. 22)",
    "complaint": "lodge a complaint with a supervisory authority (Art. 77)",
    "ccpa_know": "know what personal information is collected (CCPA)",
    "ccpa_delete": "delete personal information (CCPA)", "ccpa_correct": "correct it (CCPA)",
    "ccpa_opt_out": "opt out of its sale or sharing (CCPA)", "ccpa_limit": "limit use of sensitive information (CCPA)",
}
BASIS_NAMES = {
    "consent": "your consent (Art. 6(1)(a))", "contract": "a contract with you (Art. 6(1)(b))",
    "legal_obligation": "a legal obligation (Art. 6(1)(c))", "vital_interests": "vital interests (Art. 6(1)(d))",
    "public_task": "a public task (Art. 6(1)(e))", "legitimate_interests": "legitimate interests (Art. 6(1)(f))",
}


def covers(a: str, b: str) -> bool:
    """True when category keys ``a`` and ``b`` are the same or one is a parent of the other."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def covered(keys: Iterable[str], found: Iterable[str]) -> list[str]:
    found = list(found)
    return [k for k in keys if any(covers(k, f) for f in found)]


def categories_found(dataset: Dataset, rows: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Per collection with rows, the data categories of fields that hold a value in them."""
    out: dict[str, list[str]] = {}
    for key, found in rows.items():
        if not found:
            continue
        db_name, coll_name = key.split(".", 1)
        coll = dataset.database(db_name).collection(coll_name)
        cats: list[str] = []
        for f in coll.fields:
            if f.categories and any(r.get(f.name) is not None for r in found):
                cats.extend(f.categories)
        if cats:
            out[key] = list(dict.fromkeys(cats))
    return out


def information(policy: Policy, found: Mapping[str, list[str]], lang: str = "en") -> dict[str, Any]:
    """The Art. 15(1) items (a)–(h) for the categories ``found`` per collection."""
    all_found = list(dict.fromkeys(c for cats in found.values() for c in cats))
    collections = set(found)
    short = {c.split(".", 1)[1] for c in collections}

    categories: list[dict[str, Any]] = []
    named: list[str] = []
    sources: dict[tuple[str, str | None], None] = {}
    for cat in policy.categories:
        if any(covers(cat.key, f) for f in all_found):
            named.append(cat.key)
            categories.append({"key": cat.key, "name": cat.name, "description": cat.description,
                               "special": cat.special,
                               "sources": [{"kind": s.kind, "party": s.party} for s in cat.sources]})
            for s in cat.sources:
                sources[(s.kind, s.party)] = None
    # categories in the data that the policy never names: shown, not hidden
    undeclared = [f for f in all_found if not any(covers(f, n) for n in named)]

    purposes = []
    purpose_keys: set[str] = set()
    for p in policy.purposes:
        hits = covered(p.categories, all_found)
        if hits:
            purpose_keys.add(p.key)
            purposes.append({
                "key": p.key, "name": p.name, "description": p.description,
                "legal_basis": p.legal_basis, "legal_basis_text": BASIS_NAMES.get(p.legal_basis or ""),
                "legitimate_interest": p.legitimate_interest, "categories": hits,
                "consent_required": p.consent_required, "objectable": p.objectable,
            })

    recipients = []
    transfers = []
    for r in policy.recipients:
        if covered(r.categories, all_found) or purpose_keys.intersection(r.purposes):
            outside = [c for c in r.countries if c.upper() not in EEA]
            recipients.append({
                "key": r.key, "name": r.name, "role": r.role, "service": r.service,
                "countries": [country_name(c, lang) for c in r.countries],
                "retention": r.retention,
                "retention_period": duration_words(r.retention_period, lang) if r.retention_period else None,
            })
            if outside:
                transfers.append({"recipient": r.name, "countries": [country_name(c, lang) for c in outside],
                                  "safeguard": r.transfer})

    retention = []
    for rule in policy.retention:
        hits = covered(rule.categories, all_found)
        colls = [c for c in rule.collections if c in collections or c in short]
        if hits or colls:
            retention.append({
                "key": rule.key, "name": rule.name, "description": rule.description,
                "period": duration_words(rule.period, lang) if rule.period else None,
                "vague": rule.vague, "from": rule.trigger, "action": rule.action,
            })
    exemptions = []
    for ex in policy.exemptions:
        if covered(ex.categories, all_found) or any(c in collections or c in short for c in ex.collections):
            exemptions.append({"key": ex.key, "name": ex.name, "law": ex.law,
                               "period": duration_words(ex.period, lang)})

    rights = [{"kind": r.kind, "text": RIGHT_NAMES.get(r.kind, r.kind), "note": r.note,
               "channels": [{"kind": c.kind, "address": c.address} for c in r.channels]}
              for r in policy.rights.offered]
    authority = None
    if policy.authority is not None:
        authority = {"name": policy.authority.name, "country": country_name(policy.authority.country, lang),
                     "url": policy.authority.url, "address": policy.authority.address}
    ctrl = policy.controller
    return {
        "controller": {"name": ctrl.name, "address": ctrl.address, "email": ctrl.email,
                       "country": country_name(ctrl.country, lang), "website": ctrl.website,
                       "dpo": ctrl.dpo.model_dump(exclude_none=True) if ctrl.dpo else None},
        "purposes": purposes,
        "categories": categories,
        "undeclared_categories": undeclared,
        "recipients": recipients,
        "transfers": transfers,
        "retention": retention,
        "exemptions": exemptions,
        "sources": [{"kind": k, "party": p} for k, p in sources],
        "rights": rights,
        "complaint": authority,
        "automated_decisions": (policy.automated_decisions.statement
                                if policy.automated_decisions else None),
    }
