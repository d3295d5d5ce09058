"""Right of access (GDPR Art. 15, CCPA right to know): everything held about one person.

``access(engine, identities)`` finds the person's rows (:func:`pledge.rights.locate.locate`)
and derives the Art. 15(1) items from the policy for the categories actually found in
them. ``write_access_zip`` packages it::

    data.json          machine-readable: identities, information, rows per collection
    csv/<db>.<coll>.csv  one CSV per collection with rows
    index.html         a readable page in the person's language: their values grouped by
                       data category with the policy's explanations, dates in words, then
                       purposes, recipients, retention, sources, the rights and where
                       to complain (self-contained: no script, no outside resource)

Each export is written to the audit log (``rights.access``), naming the person only by
keyed HMAC tokens, never by their identifiers.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from sqlalchemy import ARRAY, BindParameter, Select, String, bindparam, exists, select

from pledge.consent.ledger import ConsentLedger, consent_history
from pledge.context import Context
from pledge.i18n import translator
from pledge.policy.localize import localized
from pledge.rights.access_view import category_names, data_groups, trigger_words, when_words
from pledge.rights.art15 import categories_found, information
from pledge.rights.export import csv_name, csv_text, dumps, json_rows, write_zip
from pledge.rights.locate import Located, locate
from pledge.rights.restrict import (
    active_objections,
    active_restrictions,
    objections_in_force,
    restrictions_in_force,
    subject_keys_for,
)


@dataclass
class AccessExport:
    located: Located
    #: per collection with rows: the data categories found in them
    categories: dict[str, list[str]]
    #: the Art. 15(1) items as they apply (see pledge.rights.art15.information)
    information: dict[str, Any]
    generated_at: str
    #: what Pledge itself holds about the person: consent history, restrictions, objections
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        """The machine-readable document (``data.json``)."""
        return {
            "generated_at": self.generated_at,
            "identities": self.located.identities,
            "information": self.information,
            "collections": {
                coll: {"count": len(rows), "categories": self.categories.get(coll, []),
                       "rows": json_rows(rows)}
                for coll, rows in self.located.rows.items() if rows
            },
            "pledge_records": self.records,
        }


def _lang(engine: Context) -> str:
    return "pl" if engine.policy.language == "pl" else "en"


def access(engine: Context, identities: Mapping[str, Any], lang: str | None = None) -> AccessExport:
    """Everything about the person, with the Art. 15(1) items in ``lang`` (default: the
    policy's language); no files, no audit."""
    lang = lang if lang in ("en", "pl") else _lang(engine)
    found = locate(engine, identities)
    cats = categories_found(engine.dataset, found.rows)
    info = information(localized(engine.policy, lang), cats, lang)
    return AccessExport(found, cats, info, engine.now().isoformat(), pledge_records(engine, identities))


@lru_cache(maxsize=2)
def _kept_query(arrays: bool) -> Select[bool, bool, bool]:
    """Whether a person has consent records, restrictions and objections in force: one
    statement, built once (#19), for ``:consent_keys`` and ``:keys`` (subject keys); with
    ``arrays`` (PostgreSQL) the keys are arrays, so the SQL is the same for any number of
    keys and the statement runs on the driver directly (:meth:`pledge.store.Store.run`)."""
    def keys(name: str) -> BindParameter[Any]:
        return bindparam(name, type_=ARRAY(String)) if arrays else bindparam(name, expanding=True)

    return select(
        exists().where(ConsentLedger.records_of(keys("consent_keys"))).label("consent_history"),
        exists().where(restrictions_in_force(keys("keys"))).label("restrictions"),
        exists().where(objections_in_force(keys("keys"))).label("objections"))


def pledge_records(engine: Context, identities: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Pledge's own records about the person, keyed by their email: consent history
    (the ledger's proof included), and Art. 18 restrictions and Art. 21 objections."""
    email = identities.get("email")
    if isinstance(email, list):
        email = email[0] if email else None
    if not email:
        return {}
    key = subject_keys_for(engine, str(email))  # every subject key: records from before a rotation too
    with engine.store.read() as conn:  # one connection, outside a transaction
        # one look says which of the three the person has (most people have few or none,
        # #19): only those are read
        found = engine.store.run(conn, _kept_query(conn.dialect.name == "postgresql"), {
            "consent_keys": engine.consent.subject_keys(str(email)), "keys": key}).one()._mapping
        return {
            "consent_history": consent_history(engine, str(email), conn=conn) if found["consent_history"] else [],
            "restrictions": active_restrictions(engine, key, conn=conn) if found["restrictions"] else [],
            "objections": active_objections(engine, key, conn=conn) if found["objections"] else [],
        }


def subject_target(engine: Context, identities: Mapping[str, Any]) -> str:
    """An audit target naming the person by keyed tokens only."""
    keys = engine.ledger.keys_for({k: str(v[0] if isinstance(v, list) else v) for k, v in identities.items()})
    return "subject:" + ",".join(f"{k}:{v[:16]}" for k, v in sorted(keys.items()))


@lru_cache(maxsize=1)
def _page_template() -> Template:
    """The page template, compiled once per process (compiling took longer than the rest of a request)."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))
    return env.get_template("access_page.html")


def render_page(engine: Context, export: AccessExport, lang: str | None = None) -> str:
    """``index.html``: in the policy's language (English or Polish) unless ``lang`` is given.

    The person's values grouped by the policy's categories (:mod:`pledge.rights.access_view`),
    then the Art. 15(1) items; every value is escaped by the template."""
    lang = lang if lang in ("en", "pl") else _lang(engine)
    t = translator(lang, ("access", "core"))
    policy = localized(engine.policy, lang)
    groups = data_groups(engine.dataset, policy, export.located.rows, lang, t)
    used = [k for p in export.information.get("purposes", []) for k in p.get("categories", [])]
    files = [csv_name(c) for c, rows in export.located.rows.items() if rows]
    files += [f"csv/pledge.{n}.csv" for n, records in export.records.items() if records]
    return _page_template().render(
        _=t, lang=lang, export=export, info=export.information, groups=groups, files=files,
        counts=export.located.counts(), csv_name=csv_name, prepared=when_words(export.generated_at, lang),
        cat_names=category_names(policy, used), trigger=lambda column: trigger_words(column, t),
    )


def access_files(engine: Context, export: AccessExport, lang: str | None = None) -> dict[str, str]:
    files = {"data.json": dumps(export.data()), "index.html": render_page(engine, export, lang)}
    for coll, rows in export.located.rows.items():
        if rows:
            files[csv_name(coll)] = csv_text(rows)
    for name, records in export.records.items():
        if records:
            files[f"csv/pledge.{name}.csv"] = csv_text(records)
    return files


def write_access_zip(engine: Context, identities: Mapping[str, Any], out: Path | io.BytesIO, *,
                     actor: str = "system", lang: str | None = None) -> AccessExport:
    """Find, package and audit one access request; returns what was exported."""
    from pledge.rights.blob_files import blob_package

    export = access(engine, identities, lang)
    write_zip(out, {**access_files(engine, export, lang), **blob_package(engine, export.located)})  # files/ (#16)
    engine.audit.record("rights.access", actor=actor, target=subject_target(engine, export.located.identities),
                        details={"collections": export.located.counts(), "rows": export.located.total,
                                 "statements": export.located.statements})
    return export
