"""What an erasure kept, and why, in words a person reads: for the status page and the email.

An erasure's certificate (:mod:`pledge.reports.certificate`) lists every table it touched;
an entry with an ``exemption`` is data the law makes us keep (an invoice under tax law),
with the law and the date the legal period ends. :func:`kept_items` groups those entries by
exemption and names each in the reader's language (the policy's ``translations``).

What is kept *now* is read from the platform, not remembered: :func:`exempt_rows` takes the
row keys of the person's rows a run kept under an exemption (an erasure cuts their link to
the person, so a later run cannot find them by the person's identities), the request keeps
them, and :func:`still_kept` counts how many of those rows the platform still holds (a
retention sweep deletes them once the legal period ends). A re-run says that number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pledge.policy.localize import localized
from pledge.policy.model import Policy

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["Kept", "exempt_rows", "kept_items", "kept_lines", "still_kept"]


@dataclass(frozen=True)
class Kept:
    key: str
    what: str  # the exemption's name: "Tax records"
    records: int
    law: str
    until: date | None


def _exempt_entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for section in ("deleted", "masked", "retained") for e in body.get(section) or [] if e.get("exemption")]


def kept_items(policy: Policy, result: dict[str, Any], lang: str) -> list[Kept]:
    """The exemptions an erasure's result keeps data under, each with its law and end date.

    A re-run cannot reach rows an earlier run cut loose from the person, so its certificate
    names no exemption: the newest certificate that does is read. Where the run counted what
    the platform still holds (``kept_now``, per collection), those counts are shown, and an
    exemption none of whose rows is left is not."""
    certificates = [result.get("certificate"), *reversed(result.get("earlier_certificates") or [])]
    entries: list[dict[str, Any]] = []
    for doc in certificates:
        entries = _exempt_entries((doc or {}).get("certificate") or {}) if isinstance(doc, dict) else []
        if entries:
            break
    now = result.get("kept_now") if isinstance(result.get("kept_now"), dict) else None
    grouped: dict[str, dict[str, Any]] = {}
    counted: set[str] = set()
    for entry in entries:
        key = entry["exemption"]
        g = grouped.setdefault(str(key), {"rows": 0, "until": None, "law": entry.get("law") or ""})
        collection = str(entry.get("collection"))
        if now is None:
            g["rows"] += int(entry.get("rows") or 0)
        elif collection not in counted:  # one collection may have several entries: count it once
            counted.add(collection)
            g["rows"] += int(now.get(collection, 0))
        try:
            until = date.fromisoformat(str(entry.get("until"))[:10]) if entry.get("until") else None
        except ValueError:
            until = None
        if until is not None and (g["until"] is None or until > g["until"]):
            g["until"] = until
    words = localized(policy, lang)
    out = []
    for key, g in grouped.items():
        if now is not None and not g["rows"]:
            continue  # none of its rows is held any more
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


def exempt_rows(report: dict[str, Any], earlier: dict[str, Any] | None = None) -> dict[str, list[Any]]:
    """Row keys (JSON, :func:`pledge.dataplane.selection.dump_key`) of the person's rows an
    erasure ``report`` kept under an exemption, by ``database.collection``, joined with the
    ``earlier`` runs' (a request's ``result["kept_rows"]``)."""
    from pledge.dataplane.selection import dump_key

    out: dict[str, list[Any]] = {str(k): list(v) for k, v in (earlier or {}).items() if isinstance(v, list)}
    for section in ("masked", "retained"):  # the person's rows that stay (deleted ones do not)
        for entry in report.get(section) or []:
            if not entry.get("exemption") or entry.get("shared"):
                continue
            keys = out.setdefault(str(entry["collection"]), [])
            for key in entry.get("ids") or []:
                value = dump_key(tuple(key) if isinstance(key, list | tuple) else (key,))
                if value not in keys:
                    keys.append(value)
    return {k: v for k, v in out.items() if v}


def still_kept(engine: Context, rows: dict[str, list[Any]]) -> dict[str, int]:
    """How many of ``rows`` (:func:`exempt_rows`) the platform holds now, per collection: one
    count per collection and batch, through the data plane."""
    from pledge.connectors.base import batched
    from pledge.dataplane import selection
    from pledge.dataplane.selection import KeyIn

    out: dict[str, int] = {}
    for name, values in rows.items():
        database, _, collection = name.partition(".")
        connector = engine.connectors.get(database)
        columns = tuple(connector.row_key(collection))
        keys = [k for v in values if (k := selection.load_key(connector, collection, v)) is not None]
        out[name] = 0
        with connector.begin() as conn:
            for chunk in batched(keys, 500):
                out[name] += selection.count(connector, conn, collection, KeyIn(tuple(chunk), columns))
    return out
