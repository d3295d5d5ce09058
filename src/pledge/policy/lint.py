"""Lint a policy: promises that break the law, contradict themselves, or miss the data map.

Every finding has a stable code (``PL001``…), a severity, the field path and, when the
policy came from a file, its line. ``error`` means the policy as written is unlawful or
unusable; ``warning`` means it is vague or unusual and a person should look.

=====  ========  ==========================================================================
code   severity  what
=====  ========  ==========================================================================
PL001  error     a transfer relies on the EU-US or Swiss-US Privacy Shield (invalid)
PL002  error     a recipient outside the EEA with no transfer mechanism
PL003  warning   a recipient in an adequate country without ``transfer: adequacy``
PL010  error     a purpose with no legal basis
PL011  error     a consent-based purpose with no way to withdraw consent
PL012  error     a purpose using special-category data without an Art. 9(2) condition
PL013  warning   legitimate interests without the interest stated, or not objectable
PL020  warning   a retention period that is vague ("a reasonable period")
PL021  error     a retention rule with no period at all, or no retention rules
PL022  error     a retention rule names an exemption the policy does not define
PL030  error     no controller contact (neither a controller nor a DPO email address)
PL040  error     minimum age below the Art. 8 age of the member state, no parental consent
PL041  warning   no age rules while consent is a legal basis
PL050  error     a deadline looser than the law's
PL051  warning   a deadline that ends after the law's for some start dates
PL060  warning   an unknown fideslang data category key
PL061  warning   an unknown fideslang data use key
PL062  warning   an unknown fideslang data subject key
PL070  error     a reference to a category, subject or purpose the policy does not define
PL071  error     a key defined twice
PL080  error     (dataset) a retention rule or exemption names a collection the dataset lacks
PL081  error     (dataset) a retention rule or exemption names a category no dataset field has
PL082  warning   (dataset) a retention trigger or field that the collection does not list
PL083  warning   (dataset) a purpose uses a category no dataset field holds (it may live elsewhere)
PL090  warning   the policy's wording misnames a law ("California Consumer Protection Act")
PL091  warning   a right's wording cites another right's GDPR article (a complaint as "Article 21")
PL100  warning   a language is half done: some named entries have ``translations`` in it, others none,
                 or an entry's translation leaves out words it has (a description, a law…)
PL101  warning   a cookie category the banner asks about declares no cookie (name, provider, duration, purpose)
PL102  warning   a declared cookie without its provider, duration or purpose: the banner cannot say it
=====  ========  ==========================================================================

PL090 and PL091 read the policy's own words: every ``source`` quote, ``note``, ``name``
and ``description``, as the published notice says them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from pledge.datamap.model import Dataset
from pledge.emails import EMAIL_RE
from pledge.policy.duration import Duration
from pledge.policy.localize import SECTIONS, missing, missing_words
from pledge.policy.model import Policy, Purpose
from pledge.policy.taxonomy import (
    ADEQUATE,
    ART8_AGE,
    ART8_DEFAULT,
    DATA_CATEGORIES,
    DATA_SUBJECTS,
    DATA_USES,
    LEGAL_DEADLINES,
    SPECIAL_CATEGORIES,
    closest,
    in_eea,
)
from pledge.yamlio import FieldPath, LoadError, Problem, SourceMap, format_path

__all__ = ["RULES", "Finding", "LintReport", "Severity", "lint_file", "lint_policy"]

Severity = Literal["error", "warning"]

#: code -> (severity, short title). Codes are stable: never renumber, only add.
RULES: dict[str, tuple[Severity, str]] = {
    "PL001": ("error", "transfer relies on the invalidated Privacy Shield"),
    "PL002": ("error", "recipient outside the EEA without a transfer mechanism"),
    "PL003": ("warning", "adequate country without transfer: adequacy"),
    "PL010": ("error", "purpose without a legal basis"),
    "PL011": ("error", "consent-based purpose without a way to withdraw"),
    "PL012": ("error", "special-category data without an Art. 9(2) condition"),
    "PL013": ("warning", "legitimate interests not stated or not objectable"),
    "PL020": ("warning", "vague retention period"),
    "PL021": ("error", "missing retention period"),
    "PL022": ("error", "unknown exemption"),
    "PL030": ("error", "no controller contact"),
    "PL040": ("error", "minimum age below Art. 8 age without parental consent"),
    "PL041": ("warning", "no age rules"),
    "PL050": ("error", "deadline looser than the law's"),
    "PL051": ("warning", "deadline can end after the law's"),
    "PL060": ("warning", "unknown data category key"),
    "PL061": ("warning", "unknown data use key"),
    "PL062": ("warning", "unknown data subject key"),
    "PL070": ("error", "reference to an undefined key"),
    "PL071": ("error", "duplicate key"),
    "PL080": ("error", "collection not in the dataset"),
    "PL081": ("error", "data category not in the dataset"),
    "PL082": ("warning", "field not listed in the dataset collection"),
    "PL083": ("warning", "purpose data category not in the dataset"),
    "PL090": ("warning", "law misnamed"),
    "PL091": ("warning", "right cited with another right's article"),
    "PL100": ("warning", "entry without a name, or without some of its words, in a language the policy is "
                         "translated into"),
    "PL101": ("warning", "cookie category without declared cookies"),
    "PL102": ("warning", "cookie without provider, duration or purpose"),
}

#: Names of laws that policies get wrong: (pattern, the law's real name and citation).
MISNAMED_LAWS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"California\s+Consumer\s+Protection\s+Act", re.IGNORECASE),
     "the California Consumer Privacy Act of 2018 (CCPA, Cal. Civ. Code § 1798.100 et seq., as amended by the "
     "California Privacy Rights Act)"),
]
#: The GDPR articles that grant each right (Art. 77-79: complaint and judicial remedies).
RIGHT_ARTICLES: dict[str, frozenset[int]] = {
    "withdraw_consent": frozenset({7}), "access": frozenset({15}), "rectification": frozenset({16}),
    "erasure": frozenset({17}), "restriction": frozenset({18}), "portability": frozenset({20}),
    "objection": frozenset({21}), "automated_decision": frozenset({22}), "complaint": frozenset({77, 78, 79}),
}
ARTICLE_TITLES: dict[int, str] = {
    7: "the conditions for consent", 12: "transparent information", 13: "the information given at collection",
    14: "the information where data come from elsewhere", 15: "the right of access", 16: "the right to rectification",
    17: "the right to erasure", 18: "the right to restriction", 19: "the notification of recipients",
    20: "the right to data portability", 21: "the right to object", 22: "automated decisions",
    77: "the right to lodge a complaint with a supervisory authority",
}
_GDPR_ARTICLE = re.compile(r"\b(?:article|art\.?)\s*(\d{1,2})\b[^.;:()]{0,30}?\b(?:GDPR|RODO)\b"
                           r"|\b(?:GDPR|RODO)\s+(?:article|art\.?)\s*(\d{1,2})\b", re.IGNORECASE)
#: The model fields whose text the published notice shows.
_WORDING = ("source", "note", "name", "description", "statement", "law", "legitimate_interest", "withdrawal")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    path: str
    message: str
    line: int | None = None
    file: str | None = None
    hint: str | None = None

    @property
    def title(self) -> str:
        return RULES[self.code][1]

    def __str__(self) -> str:
        where = f"{self.file or '<policy>'}:{self.line}" if self.line else (self.file or "<policy>")
        text = f"{where}: {self.severity} {self.code}: {self.path or '(policy)'}: {self.message}"
        return text + (f" (hint: {self.hint})" if self.hint else "")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "title": self.title}


@dataclass
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    file: str | None = None
    dataset_file: str | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "dataset": self.dataset_file,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.as_dict() for f in self.findings],
        }


class _Linter:
    def __init__(self, policy: Policy, source: SourceMap | None, dataset: Dataset | None) -> None:
        self.policy = policy
        self.source = source
        self.dataset = dataset
        self.findings: list[Finding] = []

    def add(self, code: str, path: FieldPath, message: str, hint: str | None = None) -> None:
        severity = RULES[code][0]
        line = self.source.line_of(path) if self.source else None
        file = self.source.file if self.source else None
        self.findings.append(Finding(code, severity, format_path(path), message, line, file, hint))

    def run(self) -> list[Finding]:
        for check in (self.transfers, self.purposes, self.retention, self.contact, self.age,
                      self.deadlines, self.taxonomy, self.references, self.wording, self.translations,
                      self.cookie_lists, self.against_dataset):
            check()
        order = {"error": 0, "warning": 1}
        self.findings.sort(key=lambda f: (order[f.severity], f.line or 0, f.code))
        return self.findings

    # ------------------------------------------------------------------ transfers
    def transfers(self) -> None:
        for i, rec in enumerate(self.policy.recipients):
            path: FieldPath = ("recipients", i, "transfer")
            if rec.transfer in ("privacy_shield", "swiss_us_privacy_shield"):
                which = "EU-US" if rec.transfer == "privacy_shield" else "Swiss-US"
                self.add("PL001", path,
                         f"{rec.name}: the transfer relies on the {which} Privacy Shield, which is no "
                         "longer a valid transfer mechanism",
                         "the CJEU invalidated the EU-US Privacy Shield on 16 July 2020 (C-311/18, "
                         "Schrems II) and the Swiss-US one lost its standing with it; use the EU-US Data "
                         "Privacy Framework (transfer: dpf, applies since 10 July 2023) for a certified "
                         "US recipient, or standard contractual clauses (transfer: scc)")
                continue
            outside = [c for c in rec.countries if not in_eea(c)]
            if not outside or rec.transfer is not None:
                continue
            inadequate = [c for c in outside if c.upper() not in ADEQUATE]
            if inadequate:
                self.add("PL002", ("recipients", i, "countries"),
                         f"{rec.name} receives data in {', '.join(inadequate)}, outside the EEA, and no "
                         "transfer mechanism is named",
                         "set transfer: dpf (certified US recipients), scc, bcr or derogation "
                         "(Arts. 45-49 GDPR)")
            else:
                self.add("PL003", ("recipients", i, "countries"),
                         f"{rec.name} receives data in {', '.join(outside)}; those countries have an "
                         "adequacy decision, but the policy does not say it relies on it",
                         "set transfer: adequacy")

    # ------------------------------------------------------------------ purposes
    def purposes(self) -> None:
        withdraw_right = any(r.kind == "withdraw_consent" for r in self.policy.rights.offered)
        special_keys = {c.key for c in self.policy.categories if c.special}
        for i, p in enumerate(self.policy.purposes):
            if p.legal_basis is None:
                self.add("PL010", ("purposes", i), f"purpose {p.key!r} has no legal basis",
                         "set legal_basis to one of the Art. 6(1) GDPR bases: consent, contract, "
                         "legal_obligation, vital_interests, public_task, legitimate_interests")
            if _consent_based(p) and not p.withdrawal and not withdraw_right:
                self.add("PL011", ("purposes", i),
                         f"purpose {p.key!r} rests on consent but says nowhere how to withdraw it",
                         "Art. 7(3) GDPR: withdrawing must be as easy as giving; set withdrawal: or "
                         "offer the withdraw_consent right")
            special = [c for c in p.categories if c in special_keys or _is_special(c)]
            if special and p.special_basis is None:
                self.add("PL012", ("purposes", i, "categories"),
                         f"purpose {p.key!r} uses special-category data ({', '.join(special)}) with no "
                         "Art. 9(2) condition",
                         "set special_basis, e.g. explicit_consent")
            if p.legal_basis == "legitimate_interests":
                if not p.legitimate_interest:
                    self.add("PL013", ("purposes", i),
                             f"purpose {p.key!r} rests on legitimate interests but does not say which",
                             "set legitimate_interest: the interest pursued (Art. 13(1)(d) GDPR)")
                elif not p.objectable:
                    self.add("PL013", ("purposes", i),
                             f"purpose {p.key!r} rests on legitimate interests but is not objectable",
                             "Art. 21 GDPR gives a right to object; set objectable: true")

    # ------------------------------------------------------------------ retention
    def retention(self) -> None:
        rules = self.policy.retention
        if not rules:
            self.add("PL021", ("retention",), "the policy has no retention rules",
                     "Art. 13(2)(a) GDPR: say how long each kind of data is kept")
        exemptions = {e.key for e in self.policy.exemptions}
        for i, rule in enumerate(rules):
            if rule.vague and rule.period is None:
                self.add("PL020", ("retention", i, "vague"),
                         f"retention rule {rule.key!r} keeps data for {rule.vague!r}, which is not a "
                         "definite period, and no period is configured", "state a period, e.g. period: P24M")
            elif rule.vague:
                self.add("PL020", ("retention", i, "vague"),
                         f"retention rule {rule.key!r}: the policy promises {rule.vague!r}, which is not a "
                         f"definite period; Pledge enforces the configured {rule.period}",
                         f"write the period ({rule.period}) into the published policy")
            elif rule.period is None:
                self.add("PL021", ("retention", i),
                         f"retention rule {rule.key!r} has no period",
                         "set period: an ISO 8601 duration such as P30D or P5Y")
            for j, ex in enumerate(rule.exemptions):
                if ex not in exemptions:
                    self.add("PL022", ("retention", i, "exemptions", j),
                             f"retention rule {rule.key!r} names exemption {ex!r}, which is not defined",
                             _known_hint(ex, exemptions))

    # ------------------------------------------------------------------ contact
    def contact(self) -> None:
        c = self.policy.controller
        emails = [e for e in (c.email, c.dpo.email if c.dpo else None) if e]
        if not any(EMAIL_RE.match(e.strip()) for e in emails):
            said = f" (it gives {emails[0]!r}, which is not an email address)" if emails else ""
            self.add("PL030", ("controller", "email"),
                     f"no way to contact the controller: neither the controller nor a DPO has an email "
                     f"address{said}",
                     "Art. 13(1)(a)-(b) GDPR: give the controller's (and the DPO's) contact details")

    # ------------------------------------------------------------------ age
    def age(self) -> None:
        country = self.policy.controller.country.strip().upper()
        limit = ART8_AGE.get(country, ART8_DEFAULT)
        age = self.policy.age
        if age is None:
            if any(_consent_based(p) for p in self.policy.purposes):
                self.add("PL041", ("age",),
                         "the policy says nothing about children, yet some purposes rest on consent",
                         f"add age: with minimum (Art. 8 GDPR: {limit} in {country})")
            return
        if age.minimum >= limit:
            return
        low, high = age.parental_consent_from, age.parental_consent_until
        covered = low is not None and high is not None and low <= age.minimum and high >= limit
        if covered:
            return
        if low is None or high is None:
            detail = "and no parental-consent band is set"
        elif low > age.minimum:
            detail = f"and parental consent starts only at {low}"
        else:
            detail = f"and parental consent stops at {high}"
        self.add("PL040", ("age", "minimum"),
                 f"children from {age.minimum} may use the service, but the age of digital consent in "
                 f"{country} is {limit} (Art. 8 GDPR) {detail}",
                 f"raise minimum to {limit}, or set parental_consent_from: {age.minimum} and "
                 f"parental_consent_until: {limit}")

    # ------------------------------------------------------------------ deadlines
    def deadlines(self) -> None:
        rights = self.policy.rights
        for i, d in enumerate(rights.deadlines):
            law = LEGAL_DEADLINES.get(d.regime)
            if law is None:
                continue
            self._compare(("rights", "deadlines", i, "respond"), d.respond, law[0],
                          f"{d.regime} response deadline")
            if d.extension is not None:
                self._compare(("rights", "deadlines", i, "extension"), d.extension, law[1],
                              f"{d.regime} extension")
        if rights.promise is not None:
            for regime in self.policy.regimes:
                law = LEGAL_DEADLINES.get(regime)
                if law is not None:
                    self._compare(("rights", "promise"), rights.promise, law[0],
                                  f"the policy's own promise (under {regime})")

    def _compare(self, path: FieldPath, given: Duration, law: Duration, what: str) -> None:
        later = _later_share(given, law)
        if later > 0.5:
            self.add("PL050", path, f"{what} is {given}, longer than the law allows ({law})",
                     f"use {law} or less")
        elif later > 0:
            self.add("PL051", path,
                     f"{what} is {given}; for some start dates (e.g. 31 January) it ends after the law's "
                     f"{law}", f"count in calendar months ({law}) to never run late")

    # ------------------------------------------------------------------ taxonomy
    def taxonomy(self) -> None:
        for i, c in enumerate(self.policy.categories):
            if c.key not in DATA_CATEGORIES:
                self.add("PL060", ("categories", i, "key"), f"{c.key!r} is not a fideslang data category",
                         _known_hint(c.key, DATA_CATEGORIES))
        for i, p in enumerate(self.policy.purposes):
            if p.data_use not in DATA_USES:
                self.add("PL061", ("purposes", i, "data_use"), f"{p.data_use!r} is not a fideslang data use",
                         _known_hint(p.data_use, DATA_USES))
        for i, s in enumerate(self.policy.subjects):
            if s.key not in DATA_SUBJECTS:
                self.add("PL062", ("subjects", i, "key"), f"{s.key!r} is not a fideslang data subject",
                         _known_hint(s.key, DATA_SUBJECTS))

    # ------------------------------------------------------------------ references
    def references(self) -> None:
        pol = self.policy
        for section, keys in (("subjects", [s.key for s in pol.subjects]),
                              ("categories", [c.key for c in pol.categories]),
                              ("purposes", [p.key for p in pol.purposes]),
                              ("recipients", [r.key for r in pol.recipients]),
                              ("exemptions", [e.key for e in pol.exemptions]),
                              ("retention", [r.key for r in pol.retention])):
            counts = Counter(keys)
            for i, key in enumerate(keys):
                if counts[key] > 1 and keys.index(key) != i:
                    self.add("PL071", (section, i, "key"), f"{section} key {key!r} is defined twice")
        categories = {c.key for c in pol.categories}
        subjects = {s.key for s in pol.subjects}
        purposes = {p.key for p in pol.purposes}

        def check(path: FieldPath, names: Iterable[str], known: set[str], kind: str) -> None:
            if not known:
                return  # the section is not written down at all; nothing to compare with
            for j, name in enumerate(names):
                if name not in known and not _covered(name, known):
                    self.add("PL070", (*path, j), f"{kind} {name!r} is not defined in the policy",
                             _known_hint(name, known))

        for i, c in enumerate(pol.categories):
            check(("categories", i, "subjects"), c.subjects, subjects, "subject")
        for i, p in enumerate(pol.purposes):
            check(("purposes", i, "categories"), p.categories, categories, "category")
            check(("purposes", i, "subjects"), p.subjects, subjects, "subject")
        for i, r in enumerate(pol.recipients):
            check(("recipients", i, "categories"), r.categories, categories, "category")
            check(("recipients", i, "purposes"), r.purposes, purposes, "purpose")
        for i, rule in enumerate(pol.retention):
            check(("retention", i, "categories"), rule.categories, categories, "category")
        for i, ex in enumerate(pol.exemptions):
            check(("exemptions", i, "categories"), ex.categories, categories, "category")
        for i, cookie in enumerate(pol.cookies):
            check(("cookies", i, "purposes"), cookie.purposes, purposes, "purpose")
        if pol.age is not None and pol.age.consent_purpose and pol.age.consent_purpose not in purposes:
            self.add("PL070", ("age", "consent_purpose"),
                     f"purpose {pol.age.consent_purpose!r} is not defined in the policy",
                     _known_hint(pol.age.consent_purpose, purposes))

    # ------------------------------------------------------------------ wording
    def wording(self) -> None:
        for path, text in _texts(self.policy, ()):
            for pattern, law in MISNAMED_LAWS:
                found = pattern.search(text)
                if found:
                    self.add("PL090", path, f"the policy names {found.group(0)!r}, a law that does not exist",
                             f"the law is {law}; correct the name in the published policy")
        for i, right in enumerate(self.policy.rights.offered):
            allowed = RIGHT_ARTICLES.get(right.kind)
            if not allowed:
                continue
            for field_name in ("source", "note"):
                text = getattr(right, field_name) or ""
                cited = {int(a or b) for a, b in _GDPR_ARTICLE.findall(text)}
                if cited and not cited & allowed:
                    wrong = ", ".join(f"Art. {n} ({ARTICLE_TITLES.get(n, 'another provision')})"
                                      for n in sorted(cited))
                    right_art = ", ".join(f"Art. {n}" for n in sorted(allowed))
                    self.add("PL091", ("rights", "offered", i, field_name),
                             f"the {right.kind.replace('_', ' ')} right is cited as {wrong}",
                             f"{right.kind.replace('_', ' ')} is {right_art} GDPR "
                             f"({ARTICLE_TITLES.get(min(allowed), '')}); correct the reference")

    def translations(self) -> None:
        for lang in sorted({lang for section in SECTIONS for e in getattr(self.policy, section)
                            for lang in e.translations}):
            for section, i, key in missing(self.policy, lang):
                self.add("PL100", (section, i, "translations"),
                         f"{section} {key!r} has no name in {lang!r}, while other entries have one",
                         f"add translations: {{{lang}: {{name: ...}}}}; pages in {lang!r} show it as written")
            for section, i, key, field_name in missing_words(self.policy, lang):
                self.add("PL100", (section, i, "translations", lang),
                         f"{section} {key!r} is translated into {lang!r} without its {field_name}",
                         f"add {field_name} to translations: {{{lang}: ...}}; pages in {lang!r} show it as written")

    def cookie_lists(self) -> None:
        for i, cat in enumerate(self.policy.cookies):
            if not cat.cookies and cat.key != "essential":
                self.add("PL101", ("cookies", i, "cookies"),
                         f"cookie category {cat.key!r} names no cookie: the banner asks about it blind",
                         "declare its cookies: [{name: _ga, provider: Google, duration: 2 years, purpose: ...}]")
            for j, cookie in enumerate(cat.cookies):
                lacking = [n for n in ("provider", "duration", "purpose") if not getattr(cookie, n)]
                if lacking:
                    self.add("PL102", ("cookies", i, "cookies", j),
                             f"cookie {cookie.name!r} has no {', '.join(lacking)}",
                             "say it as the policy does; the banner shows 'not stated' until then")

    # ------------------------------------------------------------------ dataset
    def against_dataset(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        columns: dict[str, set[str]] = {}
        by_name: dict[str, list[str]] = {}
        dataset_categories: set[str] = set()
        for db in ds.databases:
            for coll in db.collections:
                dotted = f"{db.name}.{coll.name}"
                columns[dotted] = {f.name for f in coll.fields}
                by_name.setdefault(coll.name, []).append(dotted)
                for fld in coll.fields:
                    dataset_categories.update(fld.categories)

        def resolve(name: str) -> str | None:
            if name in columns:
                return name
            found = by_name.get(name, [])
            return found[0] if len(found) == 1 else None

        def has_category(key: str) -> bool:
            return any(c == key or c.startswith(key + ".") for c in dataset_categories)

        def check_collections(path: FieldPath, names: list[str]) -> list[str]:
            resolved = []
            for j, name in enumerate(names):
                dotted = resolve(name)
                if dotted is None:
                    self.add("PL080", (*path, j), f"{name!r} is not a collection of dataset {ds.name!r}",
                             _known_hint(name, set(columns) | set(by_name)))
                else:
                    resolved.append(dotted)
            return resolved

        def check_categories(path: FieldPath, keys: list[str], owner: str, code: str = "PL081") -> None:
            for j, key in enumerate(keys):
                if not has_category(key):
                    self.add(code, (*path, j),
                             f"{owner} names data category {key!r}, but no field of dataset {ds.name!r} "
                             "holds it", "label the field in dataset.yaml, or drop the category")

        for i, rule in enumerate(self.policy.retention):
            colls = check_collections(("retention", i, "collections"), rule.collections)
            check_categories(("retention", i, "categories"), rule.categories, f"retention rule {rule.key!r}")
            for dotted in colls:
                if _IDENTIFIER.match(rule.trigger) and rule.trigger not in columns[dotted]:
                    self.add("PL082", ("retention", i, "trigger"),
                             f"retention rule {rule.key!r} runs from {rule.trigger!r}, which {dotted} "
                             "does not list", "add the column to the collection in dataset.yaml")
                for j, name in enumerate(rule.fields):
                    if name not in columns[dotted]:
                        self.add("PL082", ("retention", i, "fields", j),
                                 f"retention rule {rule.key!r} anonymises {name!r}, which {dotted} "
                                 "does not list")
        for i, ex in enumerate(self.policy.exemptions):
            check_collections(("exemptions", i, "collections"), ex.collections)
            check_categories(("exemptions", i, "categories"), ex.categories, f"exemption {ex.key!r}")
        for i, p in enumerate(self.policy.purposes):
            # A purpose may use data the platform does not store (a browser's language, a
            # cookie), so this is only a warning; a retention rule on absent data is an error.
            check_categories(("purposes", i, "categories"), p.categories, f"purpose {p.key!r}", "PL083")


def _texts(node: Any, path: FieldPath) -> Iterable[tuple[FieldPath, str]]:
    """(path, text) of every worded field of the policy (see ``_WORDING``)."""
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            value = getattr(node, name)
            if isinstance(value, str):
                if name in _WORDING:
                    yield (*path, name), value
            else:
                yield from _texts(value, (*path, name))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _texts(item, (*path, i))


def _consent_based(p: Purpose) -> bool:
    return p.legal_basis == "consent" or p.consent_required or p.special_basis == "explicit_consent"


def _is_special(key: str) -> bool:
    return any(key == s or key.startswith(s + ".") for s in SPECIAL_CATEGORIES)


def _covered(name: str, known: set[str]) -> bool:
    """A broader taxonomy key covers its children (``user.contact`` covers its email)."""
    return any(name.startswith(k + ".") for k in known)


def _known_hint(name: str, known: Iterable[str]) -> str | None:
    near = closest(name, known)
    return f"did you mean {near!r}?" if near else None


def _min_days(d: Duration) -> float:
    return d.years * 365 + d.months * 28 + d.weeks * 7 + d.days + d.hours / 24 + d.minutes / 1440


def _max_days(d: Duration) -> float:
    return d.years * 366 + d.months * 31 + d.weeks * 7 + d.days + d.hours / 24 + d.minutes / 1440


def _later_share(given: Duration, law: Duration) -> float:
    """Share of start dates (four years, one leap year) on which ``given`` ends after ``law``."""
    if given == law or _max_days(given) <= _min_days(law):
        return 0.0
    start = date(2024, 1, 1)
    days = 366 + 365 * 3
    later = 0
    for n in range(days):
        d = start + timedelta(days=n)
        if given.after(d) > law.after(d):
            later += 1
    return later / days


def lint_policy(policy: Policy, source: SourceMap | None = None, dataset: Dataset | None = None,
                *, file: str | Path | None = None, dataset_file: str | Path | None = None) -> LintReport:
    """Every finding for ``policy``; ``source`` adds line numbers, ``dataset`` adds map checks."""
    findings = _Linter(policy, source, dataset).run()
    name = str(file) if file is not None else (source.file if source else None)
    return LintReport(findings, name, str(dataset_file) if dataset_file is not None else None)


def lint_file(policy_path: str | Path, dataset_path: str | Path | None = None) -> LintReport:
    """Load a policy (and optionally a dataset) and lint it; raises ``LoadError`` if unusable."""
    from pledge.policy.load import load_policy_located

    loaded = load_policy_located(policy_path)
    dataset = None
    if dataset_path is not None:
        from pledge.datamap.load import load_dataset

        try:
            dataset = load_dataset(dataset_path)
        except LoadError:
            raise
        except (OSError, ValueError, yaml.YAMLError) as exc:  # a loader that does not speak LoadError yet
            raise LoadError(str(dataset_path), [Problem(str(dataset_path), None, None, "", str(exc))]) from None
    return lint_policy(loaded.model, loaded.source, dataset, file=policy_path, dataset_file=dataset_path)
