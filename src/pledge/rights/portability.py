"""Right to data portability (GDPR Art. 20).

Only data the person *provided* (a policy category with a ``provided`` source) that is
processed on *consent* or *contract* (a purpose with that legal basis covering the
category) is exported: as ``data.json`` and one CSV per collection, in a zip. The export
can be sent to another organisation's endpoint by HTTPS POST (``send_export``); plain
HTTP is refused, except to the local loopback address 127.0.0.1 (tests run a real local
server there). Each export and each transmission is written to the audit log.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pledge.context import Context
from pledge.datamap.model import Dataset
from pledge.errors import Failed
from pledge.policy.model import Policy
from pledge.rights.access import subject_target
from pledge.rights.art15 import covers
from pledge.rights.export import csv_name, csv_text, dumps, json_rows, write_zip
from pledge.rights.locate import Located, locate

PORTABLE_BASES = ("consent", "contract")


class PortabilityError(Failed):
    """An export that cannot be sent: a refused address or a failed transmission."""


@dataclass
class PortableExport:
    located: Located
    #: per collection: the fields exported (provided, on consent or contract)
    fields: dict[str, list[str]]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    generated_at: str = ""

    def data(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "basis": "GDPR Art. 20: data you provided, processed on consent or contract",
            "collections": {c: {"fields": self.fields[c], "rows": json_rows(rs)}
                            for c, rs in self.rows.items() if rs},
        }

    @property
    def total(self) -> int:
        return sum(len(r) for r in self.rows.values())


def portable_categories(policy: Policy, category: str) -> bool:
    """Is a field category provided by the person and processed on consent or contract?"""
    provided = any(
        (category == c.key or category.startswith(c.key + ".")) and any(s.kind == "provided" for s in c.sources)
        for c in policy.categories
    )
    if not provided:
        return False
    return any(p.legal_basis in PORTABLE_BASES and any(covers(k, category) for k in p.categories)
               for p in policy.purposes)


def portable_fields(policy: Policy, dataset: Dataset) -> dict[str, list[str]]:
    """Per collection, the fields whose every category qualifies for portability."""
    out: dict[str, list[str]] = {}
    for db in dataset.databases:
        for coll in db.collections:
            names = [f.name for f in coll.fields
                     if f.categories and all(portable_categories(policy, c) for c in f.categories)]
            if names:
                out[f"{db.name}.{coll.name}"] = names
    return out


def portability(engine: Context, identities: Mapping[str, Any]) -> PortableExport:
    found = locate(engine, identities)
    wanted = portable_fields(engine.policy, engine.dataset)
    export = PortableExport(found, {}, generated_at=engine.now().isoformat())
    for coll, rows in found.rows.items():
        names = wanted.get(coll)
        if not names or not rows:
            continue
        kept = [{n: r.get(n) for n in names} for r in rows]
        kept = [r for r in kept if any(v is not None for v in r.values())]
        if kept:
            export.fields[coll] = names
            export.rows[coll] = kept
    return export


def portability_files(export: PortableExport) -> dict[str, str]:
    files = {"data.json": dumps(export.data())}
    for coll, rows in export.rows.items():
        files[csv_name(coll)] = csv_text(rows, export.fields[coll])
    return files


def write_portability_zip(engine: Context, identities: Mapping[str, Any], out: Path | io.BytesIO, *,
                          actor: str = "system") -> PortableExport:
    from pledge.rights.blob_files import blob_package

    export = portability(engine, identities)
    write_zip(out, {**portability_files(export), **blob_package(engine, export.located)})  # files/ (#16)
    engine.audit.record("rights.portability", actor=actor,
                        target=subject_target(engine, export.located.identities),
                        details={"collections": {c: len(r) for c, r in export.rows.items()},
                                 "rows": export.total})
    return export


def check_destination(url: str) -> str:
    """Only HTTPS (or http to 127.0.0.1, for local tests); anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname == "127.0.0.1":
        return url
    raise PortabilityError(f"refusing to send personal data to {url!r}: the address must be https://")


def send_export(engine: Context, identities: Mapping[str, Any], content: bytes, url: str, *,
                actor: str = "system", timeout: float = 30.0) -> int:
    """POST a portability zip to another organisation; returns the HTTP status."""
    check_destination(url)
    host = urlsplit(url).hostname or ""
    try:
        response = httpx.post(url, content=content, timeout=timeout,
                              headers={"Content-Type": "application/zip",
                                       "Content-Disposition": 'attachment; filename="portability.zip"'})
    except httpx.HTTPError as exc:
        raise PortabilityError(f"could not send the export to {host}: {exc}") from exc
    engine.audit.record("rights.portability.sent", actor=actor, target=subject_target(engine, identities),
                        details={"host": host, "status": response.status_code, "bytes": len(content)})
    if response.status_code >= 400:
        raise PortabilityError(f"{host} refused the export: HTTP {response.status_code}")
    return response.status_code
