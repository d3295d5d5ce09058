"""The access package's readable page: the person's own values, grouped by data category.

:func:`data_groups` turns the rows found for a person into what ``index.html`` shows:

- one group per data category of the policy (in the page's language), with the policy's
  description and the purposes that use it, and per collection a small table of the
  values of that category (identical lines once: an account number repeated on every
  message is shown once);
- a last group with the other details kept with those records (status, dates, pages
  visited), without the internal reference numbers that only link records together
  (those are in ``data.json`` and the CSV files);
- dates and times written out in the person's language (Babel), yes/no in words.

Nothing here escapes HTML: the page template does (autoescape), every value a string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import (
    DateTimePattern,
    format_datetime,
    get_date_format,
    get_datetime_format,
    get_time_format,
    parse_pattern,
)
from babel.numbers import format_decimal

from pledge.datamap.model import Dataset
from pledge.dateformat import Compiled, compiled
from pledge.i18n import Translator
from pledge.policy.model import Category, Policy
from pledge.rights.art15 import covers

#: lines shown per table; a longer table points to its CSV file
MAX_LINES = 500
#: the column a record's date is read from, shown as the first column when present
WHEN = "created_at"


@dataclass
class Table:
    collection: str
    title: str
    columns: list[str]
    lines: list[list[str]]
    total: int = 0

    @property
    def cut(self) -> bool:
        return self.total > len(self.lines)


@dataclass
class Group:
    key: str
    name: str
    description: str | None = None
    special: bool = False
    purposes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def words(name: str) -> str:
    """A column or table name in words: ``last_login_at`` → "Last login at"."""
    text = name.replace("_", " ").replace(".", " ").strip()
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class _Formats:
    """One language's patterns for :func:`shown`, made ready once (#19): babel's
    ``format_datetime`` looks the locale and its patterns up again for every value, and a
    package shows one per timestamp (:mod:`pledge.dateformat` applies them)."""

    medium_date: Compiled
    medium_time: Compiled
    medium_joined: str
    long_date: Compiled
    short_time: Compiled

    def moment(self, value: datetime) -> str:
        """What ``format_datetime(value, "medium", tzinfo=UTC)`` gives (a naive value is UTC)."""
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return (self.medium_joined.replace("{0}", self.medium_time.apply(value))
                .replace("{1}", self.medium_date.apply(value)))


@lru_cache(maxsize=8)
def _formats(lang: str) -> _Formats:
    loc = Locale.parse(lang)

    def ready(pattern: str | DateTimePattern) -> Compiled:
        return compiled(parse_pattern(pattern), loc)

    return _Formats(ready(get_date_format("medium", loc)), ready(get_time_format("medium", loc)),
                    str(get_datetime_format("medium", loc)).replace("'", ""),
                    ready(get_date_format("long", loc)), ready(get_time_format("short", loc)))


def shown(value: Any, lang: str, t: Translator) -> str:
    """One value as a person reads it, in ``lang``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return t("Yes") if value else t("No")
    if isinstance(value, datetime):
        return _formats(lang).moment(value)
    if isinstance(value, date):
        return _formats(lang).long_date.apply(value)
    if isinstance(value, time):
        return _formats(lang).short_time.apply(value)
    if isinstance(value, Decimal | float) and not isinstance(value, bool):
        return format_decimal(value, locale=lang)
    if isinstance(value, bytes | bytearray | memoryview):
        return t("(a file of {n} bytes)", n=len(bytes(value)))
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def when_words(iso: str, lang: str) -> str:
    """An ISO timestamp (the package's ``generated_at``) in words."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment, "long", tzinfo=UTC, locale=lang)


def described(policy: Policy, key: str) -> Category | None:
    """The policy category that describes a field's category: the nearest declared parent
    (``user.contact`` describes ``user.contact.email``), else a declared child."""
    best: Category | None = None
    for cat in policy.categories:
        parent = key == cat.key or key.startswith(cat.key + ".")
        if parent and (best is None or len(cat.key) > len(best.key)):
            best = cat
    if best is None:
        best = next((c for c in policy.categories if c.key.startswith(key + ".")), None)
    return best


def _is_link(coll: Any, name: str) -> bool:
    """A primary key or a reference number linking records (no category of its own)."""
    if name == "id" or name.endswith("_id"):
        return True
    declared = next((f for f in coll.fields if f.name == name), None)
    return declared is not None and bool(declared.primary_key or declared.references)


def _unique(lines: list[list[str]]) -> list[list[str]]:
    return list(dict.fromkeys(tuple(line) for line in lines).keys())  # type: ignore[arg-type]


def data_groups(dataset: Dataset, policy: Policy, rows: Mapping[str, list[dict[str, Any]]],
                lang: str, t: Translator) -> list[Group]:
    """The person's values grouped by the policy's categories (``policy`` already in ``lang``)."""
    groups: dict[str, Group] = {}
    other: list[Table] = []
    for key, found in rows.items():
        if not found:
            continue
        db_name, coll_name = key.split(".", 1)
        coll = dataset.database(db_name).collection(coll_name)
        title = t(words(coll_name))
        per_group: dict[str, list[str]] = {}
        placed: set[str] = set()
        for f in coll.fields:
            if not f.categories or not any(r.get(f.name) is not None for r in found):
                continue
            placed.add(f.name)
            cat = described(policy, f.categories[0])
            gkey = cat.key if cat is not None else f.categories[0]
            if gkey not in groups:
                groups[gkey] = _group(policy, cat, gkey, t)
            per_group.setdefault(gkey, []).append(f.name)
        dated = any(r.get(WHEN) is not None for r in found)
        for gkey, names in per_group.items():
            columns = ([t("Recorded")] if dated else []) + [t(words(n)) for n in names]
            lines = [([shown(r.get(WHEN), lang, t)] if dated else []) + [shown(r.get(n), lang, t) for n in names]
                     for r in found if any(r.get(n) is not None for n in names)]
            if gkey.startswith("user.unique_id"):  # account numbers: each once, wherever it is written
                _numbers(groups[gkey], key, [shown(r.get(n), lang, t) for r in found for n in names], t)
                continue
            lines = [list(line) for line in _unique(lines)]
            groups[gkey].tables.append(Table(key, title, columns, lines[:MAX_LINES], len(lines)))
        rest = [n for n in found[0] if n not in placed and n != WHEN and not _is_link(coll, n)
                and any(r.get(n) is not None for r in found)]
        if rest:
            lines = [([shown(r.get(WHEN), lang, t)] if dated else []) + [shown(r.get(n), lang, t) for n in rest]
                     for r in found]
            lines = [list(line) for line in _unique(lines)]
            other.append(Table(key, title, ([t("Recorded")] if dated else []) + [t(words(n)) for n in rest],
                               lines[:MAX_LINES], len(lines)))
    order = {c.key: i for i, c in enumerate(policy.categories)}
    out = sorted(groups.values(), key=lambda g: order.get(g.key, len(order)))
    if other:
        out.append(Group("other", t("Other details kept with these records"),
                         t("Dates, states and settings of the records above. The numbers that only link "
                           "records together are in data.json and the CSV files."), tables=other))
    return out


def _numbers(group: Group, collection: str, values: list[str], t: Translator) -> None:
    if not group.tables:
        group.tables.append(Table(collection, "", [group.name], []))
    table = group.tables[0]
    for v in values:
        if v and [v] not in table.lines:
            table.lines.append([v])
    table.total = len(table.lines)


def _group(policy: Policy, cat: Category | None, key: str, t: Translator) -> Group:
    if cat is None:  # a category the policy does not describe: shown by its code, never hidden
        return Group(key, key, t("The policy does not describe this kind of data."))
    purposes = [p.name for p in policy.purposes if any(covers(cat.key, k) for k in p.categories)]
    return Group(cat.key, cat.name, cat.description, cat.special, purposes)


#: the column a retention clock runs from, in words (the same msgids as the web pages)
TRIGGERS = {
    "created_at": "from when they are collected",
    "last_login_at": "from the last login",
    "last_seen_at": "from the last activity",
    "closed_at": "from when the account is closed",
    "deleted_at": "from when you delete them",
    "issued_at": "from the date of issue",
    "uploaded_at": "from the upload",
    "last_contact_at": "from our last contact with you",
    "expires_at": "from when access expires",
}


def trigger_words(trigger: str, t: Translator) -> str:
    column = trigger.rsplit(".", 1)[-1]
    return t(TRIGGERS[column]) if column in TRIGGERS else t(words(column))


def category_names(policy: Policy, keys: list[str]) -> dict[str, str]:
    """Category code → the name the policy gives it (or its nearest described category)."""
    out = {}
    for key in keys:
        cat = described(policy, key)
        out[key] = cat.name if cat is not None else key
    return out
