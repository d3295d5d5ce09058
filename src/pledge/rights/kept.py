"""What an erasure kept, and why, in words a person reads: for the status page and the email.

An erasure's certificate (:mod:`pledge.reports.certificate`) lists every table it touched;
an entry with an ``exemption`` is data the law makes us keep (an invoice under tax law),
with the law and the date the legal period ends. :func:`kept_items` groups those entries by
exemption and names each in the reader's language (the policy's ``translations``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pledge.policy.localize import localized
from pledge.policy.model import Policy

__all__ = ["Kept", "kept_items", "kept_lines"]


@dataclass(frozen=True)
class Kept:
    key: str
    what: str  # the exemption's name: "Tax records"
    records: int
    law: str
    until: date | None


def kept_items(policy: Policy, result: dict[str, Any], lang: str) -> list[Kept]:
    """The exemptions an erasure's result kept data under, each with its law and end date."""
    body = (result.get("certificate") or {}).get("certificate") or {}
    grouped: dict[str, dict[str, Any]] = {}
    for section in ("deleted", "masked", "retained"):
        for entry in body.get(section) or []:
            key = entry.get("exemption")
            if not key:
                continue
            g = grouped.setdefault(str(key), {"rows": 0, "until": None, "law": entry.get("law") or ""})
            g["rows"] += int(entry.get("rows") or 0)
            try:
                until = date.fromisoformat(str(entry.get("until"))[:10]) if entry.get("until") else None
            except ValueError:
                until = None
            if until is not None and (g["until"] is None or until > g["until"]):
                g["until"] = until
    words = localized(policy, lang)
    out = []
    for key, g in grouped.items():
        ex = next((e for e in words.exemptions if e.key == key), None)
        out.append(Kept(key, ex.name if ex else key, g["rows"], ex.law if ex else str(g["law"]), g["until"]))
    return out


def kept_lines(items: list[Kept], lang: str) -> str:
    """One line per exemption, for a plain-text email."""
    from babel.dates import format_date

    from pledge.i18n import translator

    _ = translator(lang)
    lines = []
    for k in items:
        until = format_date(k.until, "long", locale=lang) if k.until else _("the end of the legal period")
        lines.append("- " + _("{what} ({records} records): kept until {until}, because {law}.",
                              what=k.what, records=k.records, until=until, law=k.law))
    return "\n".join(lines)
