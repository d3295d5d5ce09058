"""Does a column look personal? By its name, and by a sample of its values.

Each rule gives a fideslang data category. Name rules look at the column (and, for a
bare ``name``, the table: ``users.name`` is a person, ``workspaces.name`` is not).
Value rules need most sampled values to match: emails, phone numbers, IP addresses,
person names, street addresses, and card-like numbers that pass the Luhn check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

#: Share of the sampled non-empty values that must match a value rule.
VALUE_THRESHOLD = 0.6
#: Fewer non-empty values than this and value rules do not judge.
MIN_VALUES = 3


@dataclass(frozen=True)
class Detection:
    category: str
    reason: str  # "name" or "values"
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"category": self.category, "reason": self.reason, "detail": self.detail}


# -- by name -----------------------------------------------------------------------------
_PEOPLE_TABLES = re.compile(
    r"(^|_)(users?|accounts?|customers?|clients?|contacts?|members?|people|persons?|employees?|"
    r"subscribers?|visitors?|patients?|profiles?|owners?|authors?|guests?|leads?|demo_accounts?)$"
)

#: (column name pattern, category, what it matched). First match wins.
_NAME_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"(^|_)e_?mail(_?addr(ess)?)?$"), "user.contact.email", "an email column"),
    (re.compile(r"(^|_)(phone|mobile|telephone|tel|msisdn|fax)(_?(number|no))?$"),
     "user.contact.phone_number", "a phone column"),
    (re.compile(r"(^|_)ip(_?addr(ess)?)?$|^ip_"), "user.device.ip_address", "an IP address column"),
    (re.compile(r"(^|_)(birth_?date|date_of_birth|dob|birthday)$"), "user.demographic.date_of_birth",
     "a birth date column"),
    (re.compile(r"(^|_)(first|last|given|family|middle|sur|full|billing|payer|person|display|legal|"
                r"contact|holder|maiden|real|customer)_?name$"), "user.name", "a person-name column"),
    (re.compile(r"(^|_)(street|address|addr|address_line\d?|postcode|postal_code|zip(_?code)?|city)$"),
     "user.contact.address", "an address column"),
    (re.compile(r"(^|_)(card_?number|pan|cc_?number|credit_card|iban|bank_account|account_number)$"),
     "user.financial", "a payment card or bank column"),
    (re.compile(r"(^|_)(ssn|pesel|nip|tax_?id|vat_?(id|number)|national_id|passport(_?number)?|"
                r"id_?card|driver_?licen[cs]e)$"), "user.government_id", "a government id column"),
    (re.compile(r"(^|_)(password|passwd|password_hash|secret|api_?key|token)$"),
     "user.authorization.credentials", "a credentials column"),
    (re.compile(r"(^|_)(device_?id|client_?id|cookie_?id|anonymous_?id|advertising_?id|idfa|gaid)$"),
     "user.device.device_id", "a device or cookie id column"),
    (re.compile(r"(^|_)(user_?agent)$"), "user.device", "a user-agent column"),
    (re.compile(r"(^|_)(lat|latitude|lon|lng|longitude|geo|location|gps)$"), "user.location",
     "a location column"),
]


def by_name(table: str, column: str) -> Detection | None:
    """A category when the column's name says personal data."""
    col = column.lower()
    for pattern, category, what in _NAME_RULES:
        if pattern.search(col):
            return Detection(category, "name", f"{what} ({column})")
    if col in ("name", "username", "login", "nickname") and _PEOPLE_TABLES.search(table.lower()):
        category = "user.name" if col == "name" else "user.account.username"
        return Detection(category, "name", f"{column} of a table of people ({table})")
    return None


# -- by value ----------------------------------------------------------------------------
_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+(\s*(x|ext\.?)\s*\d+)?$")
_STREET_WORDS = {
    "street", "st", "avenue", "ave", "road", "rd", "lane", "ln", "drive", "dr", "boulevard", "blvd", "court",
    "ct", "way", "place", "pl", "square", "sq", "terrace", "parkway", "pkwy", "highway", "hwy", "circle",
    "trail", "crescent", "close", "suite", "apt", "ul", "al", "os", "ulica", "aleja", "osiedle", "plac",
    "strasse", "straße", "str", "rue", "via", "calle", "chemin", "gasse", "weg", "allee",
}
_POSTAL = re.compile(r"\b(\d{2}-\d{3}|\d{5}(-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})\b")
_NAME_TOKEN = re.compile(r"^[A-ZÀ-ÖØ-ÞĀ-ſ][a-zß-öø-ÿā-ſ'’]+(-[A-ZÀ-ÖØ-ÞĀ-ſ][a-zß-öø-ÿā-ſ'’]+)?\.?$")
_TITLES = {"mr", "mrs", "ms", "miss", "dr", "prof", "pan", "pani", "sir", "mx", "jr", "sr", "ii", "iii", "md",
           "phd", "dds", "dvm"}


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value.strip()))


def is_phone(value: str) -> bool:
    v = value.strip()
    if not _PHONE_CHARS.match(v) or _DATE_LIKE.match(v):
        return False
    digits = re.sub(r"\D", "", v.split("x")[0])
    if not 7 <= len(digits) <= 15:
        return False
    # a bare run of digits is more likely an id or an amount, unless it starts with + or 0
    return not (v.isdigit() and not v.startswith("0"))


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_card(value: str) -> bool:
    v = value.strip()
    if not re.fullmatch(r"[\d \-]+", v):
        return False
    digits = re.sub(r"\D", "", v)
    return 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1


@lru_cache(maxsize=1)
def _street_words() -> frozenset[str]:
    """Street suffixes and prefixes: our own list plus Faker's address providers' lexicons."""
    from importlib import import_module

    words = set(_STREET_WORDS)
    for locale in ("en_US", "en_GB", "pl_PL", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"):
        try:
            provider = import_module(f"faker.providers.address.{locale}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in ("street_suffixes", "street_prefixes", "street_suffixes_long", "street_suffixes_short"):
            words.update(w.lower().strip(".") for w in getattr(provider, attr, ()))
    return frozenset(words)


def is_street_address(value: str) -> bool:
    """A building number next to a street word (``12 Oak Street``, ``ul. Polna 5``), or a
    multi-line/comma address that carries a postal code."""
    v = value.strip()
    words = [w.strip(".,").lower() for w in v.split()]
    if any(ch.isdigit() for ch in v) and any(w in _street_words() for w in words):
        return bool(re.search(r"(^|\s)\d+[A-Za-z]?(/\d+)?([,\s]|$)", v))
    return bool(_POSTAL.search(v)) and bool(re.search(r"[,\n]", v)) and bool(re.search(r"[A-Za-z]{3,}", v))


@lru_cache(maxsize=1)
def _given_names() -> frozenset[str]:
    """Given names from Faker's person providers (a public lexicon, not personal data)."""
    from importlib import import_module

    names: set[str] = set()
    for locale in ("en_US", "en_GB", "pl_PL", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR"):
        try:
            provider = import_module(f"faker.providers.person.{locale}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in ("first_names", "first_names_male", "first_names_female"):
            pool = getattr(provider, attr, ())
            names.update(n.lower() for n in pool)
    return frozenset(names)


def is_person_name(value: str) -> bool:
    tokens = [t for t in value.strip().split() if t.lower().strip(".") not in _TITLES]
    if not 2 <= len(tokens) <= 4 or not all(_NAME_TOKEN.match(t) for t in tokens):
        return False
    given = _given_names()
    return any(t.lower().strip(".") in given for t in tokens[:-1])


#: (predicate, category, what it is). Checked in order; the first that passes wins.
VALUE_RULES: list[tuple[Callable[[str], bool], str, str]] = [
    (is_email, "user.contact.email", "email addresses"),
    (is_ip, "user.device.ip_address", "IP addresses"),
    (is_card, "user.financial.credit_card", "card numbers (Luhn-valid)"),
    (is_phone, "user.contact.phone_number", "phone numbers"),
    (is_person_name, "user.name", "person names"),
    (is_street_address, "user.contact.address", "street addresses"),
]


def by_values(values: Iterable[object], threshold: float = VALUE_THRESHOLD) -> Detection | None:
    """A category when most of the sampled values look personal."""
    texts = [v.strip() for v in (str(x) for x in values if x is not None) if v.strip()]
    if len(texts) < MIN_VALUES:
        return None
    for predicate, category, what in VALUE_RULES:
        hits = sum(1 for t in texts if predicate(t))
        if hits / len(texts) >= threshold:
            return Detection(category, "values", f"{hits} of {len(texts)} sampled values are {what}")
    return None
