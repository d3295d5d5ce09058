"""Records of processing activities (GDPR Art. 30(1)(a)–(g)), from the policy and the data map.

The record is a list of sections, each a table: the controller (a), one row per purpose
(b, c), recipients (d), third-country transfers (e), retention periods (f) and security
measures (g). Legal bases and transfer mechanisms carry W3C DPV terms. Rendered as HTML,
CSV (one tidy table with a ``section`` column) or XLSX (one sheet per section).
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pledge import csvcells
from pledge.datamap.model import Dataset
from pledge.policy.model import Policy
from pledge.reports import dpv
from pledge.reports.links import (
    any_related,
    purpose_recipients,
    purpose_retention,
    recipient_categories,
    systems_for,
)
from pledge.reports.words import country_name, duration_words

FORMATS = ("html", "csv", "xlsx")


@dataclass
class Section:
    key: str
    title: str
    article: str
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Ropa:
    controller: str
    policy_version: str
    generated: date
    sections: list[Section]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


def _join(items: list[str] | set[str]) -> str:
    return "; ".join(items)


def build_ropa(policy: Policy, dataset: Dataset | None, today: date | None = None) -> Ropa:
    c = policy.controller
    controller = Section("controller", "Controller, representative and data protection officer",
                         "Art. 30(1)(a)", ["role", "name", "contact"])
    contact = _join([x for x in (c.address, c.email, c.phone, c.website) if x])
    controller.rows.append({"role": "controller", "name": c.name, "contact": contact})
    for role, person in (("data protection officer", c.dpo), ("representative", c.representative)):
        if person is not None:
            controller.rows.append({"role": role, "name": person.name or "",
                                    "contact": _join([x for x in (person.email, person.phone, person.address) if x])})

    subjects = {s.key: s.name for s in policy.subjects}
    categories = {k.key: k.name for k in policy.categories}
    processing = Section("processing", "Purposes, data subjects and categories of personal data",
                         "Art. 30(1)(b), (c)",
                         ["purpose", "name", "data_use", "legal_basis", "dpv_legal_basis", "gdpr_provision",
                          "special_basis", "legitimate_interest", "subjects", "categories", "systems",
                          "recipients", "retention"])
    for p in policy.purposes:
        term, provision = dpv.legal_basis_terms(p.legal_basis)
        special = f"{p.special_basis} ({dpv.SPECIAL_BASIS.get(p.special_basis, '')})" if p.special_basis else ""
        rules = purpose_retention(p, policy, dataset)
        processing.rows.append({
            "purpose": p.key, "name": p.name, "data_use": p.data_use,
            "legal_basis": f"{p.legal_basis} ({dpv.LEGAL_BASIS_ARTICLE[p.legal_basis]})" if p.legal_basis else "",
            "dpv_legal_basis": term, "gdpr_provision": provision, "special_basis": special,
            "legitimate_interest": p.legitimate_interest or "",
            "subjects": _join([subjects.get(s, s) for s in p.subjects]),
            "categories": _join([f"{categories.get(k, k)} [{k}]" for k in p.categories]),
            "systems": _join(systems_for(p.categories, dataset)) if dataset else "",
            "recipients": _join([r.name for r in purpose_recipients(p, policy)]),
            "retention": _join([f"{r.name}: {_period(r.period, r.vague)}" for r in rules]
                               + [f"{x.name}: {duration_words(x.period)} ({x.law})" for x in policy.exemptions
                                  if any_related(p.categories, x.categories)]),
        })

    categories_sec = Section("categories", "Categories of personal data and their sources", "Art. 30(1)(c)",
                             ["category", "name", "special", "subjects", "sources", "systems"])
    for k in policy.categories:
        categories_sec.rows.append({
            "category": k.key, "name": k.name, "special": "yes (Art. 9)" if k.special else "no",
            "subjects": _join([subjects.get(s, s) for s in k.subjects]),
            "sources": _join([s.kind + (f" ({s.party})" if s.party else "") for s in k.sources]),
            "systems": _join(systems_for([k.key], dataset)) if dataset else "",
        })

    recipients = Section("recipients", "Categories of recipients", "Art. 30(1)(d)",
                         ["recipient", "name", "role", "service", "countries", "categories", "dpa", "retention"])
    transfers = Section("transfers", "Transfers to third countries and their safeguards", "Art. 30(1)(e)",
                        ["recipient", "name", "country", "country_name", "mechanism", "safeguard",
                         "dpv_transfer", "gdpr_provision", "valid"])
    for r in policy.recipients:
        recipients.rows.append({
            "recipient": r.key, "name": r.name, "role": r.role, "service": r.service,
            "countries": _join(r.countries), "categories": _join(recipient_categories(r, policy)),
            "dpa": {True: "yes", False: "no", None: "not stated"}[r.dpa],
            "retention": r.retention or (duration_words(r.retention_period) if r.retention_period else ""),
        })
        for country in r.countries:
            if not dpv.is_third_country(country):
                continue  # within the EU/EEA: not a transfer under Chapter V
            term, provision = dpv.transfer_terms(r.transfer)
            transfers.rows.append({
                "recipient": r.key, "name": r.name, "country": country, "country_name": country_name(country),
                "mechanism": r.transfer or "none stated",
                "safeguard": dpv.TRANSFER_NAME.get(r.transfer or "", "no safeguard stated"),
                "dpv_transfer": term, "gdpr_provision": provision,
                "valid": "no" if r.transfer in dpv.INVALID_TRANSFERS or r.transfer is None else "yes",
            })

    retention = Section("retention", "Time limits for erasure", "Art. 30(1)(f)",
                        ["rule", "name", "categories", "systems", "trigger", "period", "period_iso", "action",
                         "legal_basis_for_keeping"])
    for rule in policy.retention:
        retention.rows.append({
            "rule": rule.key, "name": rule.name, "categories": _join(rule.categories),
            "systems": _join(rule.collections), "trigger": rule.trigger + (f" where {rule.condition}"
                                                                            if rule.condition else ""),
            "period": _period(rule.period, rule.vague), "period_iso": str(rule.period) if rule.period else "",
            "action": rule.action, "legal_basis_for_keeping": _join(rule.exemptions),
        })
    for ex in policy.exemptions:
        retention.rows.append({
            "rule": ex.key, "name": ex.name, "categories": _join(ex.categories), "systems": _join(ex.collections),
            "trigger": ex.trigger, "period": duration_words(ex.period), "period_iso": str(ex.period),
            "action": ex.action, "legal_basis_for_keeping": ex.law,
        })
    if policy.backups is not None:
        retention.rows.append({
            "rule": "backups", "name": "Backups", "categories": "all", "systems": "backups", "trigger": "backup taken",
            "period": duration_words(policy.backups.retention), "period_iso": str(policy.backups.retention),
            "action": "delete", "legal_basis_for_keeping": "",
        })

    security = Section("security", "Technical and organisational security measures", "Art. 30(1)(g)",
                       ["measure", "description"])
    security.rows.extend({"measure": m.key, "description": m.description} for m in policy.security)

    return Ropa(c.name, policy.version, today or date.today(),
                [controller, processing, categories_sec, recipients, transfers, retention, security])


def _period(period: object, vague: str | None) -> str:
    from pledge.policy.duration import Duration

    if isinstance(period, Duration):
        return duration_words(period) + (f" ({period})")
    return f"not fixed: {vague}" if vague else "not fixed"


# -- renderers -------------------------------------------------------------------------------
def to_csv(ropa: Ropa) -> str:
    columns = ["section", "article"]
    for s in ropa.sections:
        columns.extend(c for c in s.columns if c not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for s in ropa.sections:
        for row in s.rows:
            writer.writerow(csvcells.cells({"section": s.key, "article": s.article, **row}))
    return buf.getvalue()


def to_html(ropa: Ropa) -> str:
    e = html.escape
    out = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Records of processing activities: {e(ropa.controller)}</title>",
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;"
        "margin-bottom:2rem}th,td{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top;text-align:left}"
        "th{background:#f3f4f6}caption{text-align:left;font-weight:600;padding:.5rem 0}</style></head><body>",
        f"<h1>Records of processing activities</h1><p>Controller: <strong>{e(ropa.controller)}</strong>. "
        f"Policy version {e(ropa.policy_version)}; generated {ropa.generated.isoformat()}. "
        "Legal bases and transfer safeguards carry W3C DPV terms "
        f'(<a href="{dpv.DPV}">dpv</a>, <a href="{dpv.EU_GDPR}">eu-gdpr</a>).</p>',
    ]
    for s in ropa.sections:
        out.append(f'<section id="{s.key}"><table><caption>{e(s.article)}: {e(s.title)}</caption><thead><tr>')
        out.extend(f"<th>{e(c.replace('_', ' '))}</th>" for c in s.columns)
        out.append("</tr></thead><tbody>")
        if not s.rows:
            out.append(f'<tr><td colspan="{len(s.columns)}">none recorded in the policy</td></tr>')
        for row in s.rows:
            out.append("<tr>" + "".join(f"<td>{e(row.get(c, ''))}</td>" for c in s.columns) + "</tr>")
        out.append("</tbody></table></section>")
    out.append("</body></html>")
    return "\n".join(out)


def to_xlsx(ropa: Ropa) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    first = True
    for s in ropa.sections:
        ws = wb.active if first else wb.create_sheet()
        first = False
        assert ws is not None
        ws.title = s.key[:31]
        ws.append([f"{s.article}: {s.title}"])
        ws["A1"].font = Font(bold=True)
        ws.append([c.replace("_", " ") for c in s.columns])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for row in s.rows:
            ws.append([row.get(c, "") for c in s.columns])
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # text, not a formula (openpyxl reads "=…" as one)
        for i, col in enumerate(s.columns, start=1):
            width = max([len(col)] + [min(len(r.get(col, "")), 60) for r in s.rows]) + 2
            ws.column_dimensions[ws.cell(row=2, column=i).column_letter].width = width
        for row_cells in ws.iter_rows(min_row=3):
            for cell in row_cells:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def render(ropa: Ropa, fmt: str) -> str | bytes:
    if fmt == "csv":
        return to_csv(ropa)
    if fmt == "html":
        return to_html(ropa)
    if fmt == "xlsx":
        return to_xlsx(ropa)
    raise ValueError(f"unknown RoPA format {fmt!r}; use one of {', '.join(FORMATS)}")


def write(ropa: Ropa, fmt: str, out: Path) -> None:
    data = render(ropa, fmt)
    if isinstance(data, bytes):
        out.write_bytes(data)
    else:
        out.write_text(data, encoding="utf-8")
