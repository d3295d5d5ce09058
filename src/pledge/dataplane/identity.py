"""How identity values are normalised and matched: one rule per identity kind, used everywhere.

Every lookup of a person in the platform (access, erasure, rectification, consent facts,
breach impact, verification, the activity endpoint) goes through these rules, so a fix here
is a fix everywhere. The rules (also in ``docs/datamap.md``, *Identity matching*):

=============  ==================================================================================
kind           rule
=============  ==================================================================================
email          surrounding spaces dropped; **case-insensitive**: the given value is lower-cased
               and compared with ``lower(column)`` (or with the column itself where it already
               compares case-insensitively: a MariaDB ``*_ci`` collation). Rows the database
               returns are checked again in Python (``stored.lower() == given``), so a collation
               that also ignores accents or trailing spaces never widens a match.
phone          surrounding spaces dropped; exact, and also tried with spaces, dashes, dots and
               brackets removed (``+48 600-100-200`` finds ``+48600100200``). Store E.164.
user_id,       exact; converted to the column's type (``"42"`` finds the integer 42; a value
customer_id    that is not a number never matches an integer column).
external_id,   surrounding spaces dropped; exact and case-sensitive (ids other systems issue
person_tag     are opaque).
=============  ==================================================================================

A reference step (``orders.user_id`` IN the person's ``users.id`` values) follows the rule of
the identity kind of either end: a field holding email addresses is matched
case-insensitively even where only the referenced field is declared ``identity: email``.

Limitation: SQLite's built-in ``lower()`` folds ASCII letters only; on SQLite an address with
non-ASCII capitals (``ÉMILE@…``) is found when the stored address is lower case. PostgreSQL
and MariaDB fold every letter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["RULES", "IdentityRule", "folds_case", "Wanted", "given_values", "normalise", "rule_for"]

_PHONE_NOISE = re.compile(r"[\s\-.()/]")


@dataclass(frozen=True)
class IdentityRule:
    kind: str
    #: compared case-insensitively (values lower-cased on both sides)
    fold_case: bool
    #: in words, for docs and error messages
    text: str


RULES: dict[str, IdentityRule] = {
    "email": IdentityRule("email", True, "case-insensitive, surrounding spaces dropped"),
    "phone": IdentityRule("phone", False, "exact, also without spaces, dashes, dots and brackets"),
    "user_id": IdentityRule("user_id", False, "exact, converted to the column's type"),
    "customer_id": IdentityRule("customer_id", False, "exact, converted to the column's type"),
    "external_id": IdentityRule("external_id", False, "exact and case-sensitive"),
    "person_tag": IdentityRule("person_tag", False, "exact and case-sensitive"),
}
_EXACT = IdentityRule("", False, "exact")


def rule_for(kind: str | None) -> IdentityRule:
    """The rule of an identity kind (exact matching for no kind or an unknown one)."""
    return RULES.get(kind or "", _EXACT)


def folds_case(*kinds: str | None) -> bool:
    """Whether a match involving any of these identity kinds ignores case."""
    return any(rule_for(k).fold_case for k in kinds)


def normalise(kind: str | None, value: Any) -> Any:
    """One value as it is compared: text trimmed, lower-cased for case-insensitive kinds."""
    if isinstance(value, str):
        value = value.strip()
        if rule_for(kind).fold_case:
            value = value.lower()
    return value


def given_values(kind: str | None, values: Iterable[Any]) -> list[Any]:
    """The values a person gave, normalised, blanks dropped, order kept, plus the variants the
    kind's rule also tries (a phone number without its separators)."""
    out: list[Any] = []
    for raw in values:
        value = normalise(kind, raw)
        if value is None or value == "":
            continue
        out.append(value)
        if kind == "phone" and isinstance(value, str):
            bare = _PHONE_NOISE.sub("", value)
            if bare and bare != value:
                out.append(bare)
    return list(dict.fromkeys(out))


class Wanted:
    """The values a match looks for, to re-check the rows a database returned: collations that
    ignore case, accents or trailing spaces (MariaDB's defaults) never widen a match, and a
    case-insensitive kind compares lower-cased text."""

    def __init__(self, values: Iterable[Any], fold_case: bool) -> None:
        self.fold_case = fold_case
        self.values = {v.lower() if fold_case and isinstance(v, str) else v for v in values}
        self._text = any(isinstance(v, str) for v in self.values)

    def __contains__(self, stored: object) -> bool:
        if not isinstance(stored, str) or not self._text:
            return True  # numbers, dates, uuids: the database compared them exactly
        return (stored.lower() if self.fold_case else stored) in self.values
