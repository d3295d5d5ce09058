"""Durations and country names in plain words, in English and Polish."""

from __future__ import annotations

from babel import Locale

from pledge.policy.duration import Duration

_UNITS_EN = {"years": ("year", "years"), "months": ("month", "months"), "weeks": ("week", "weeks"),
             "days": ("day", "days"), "hours": ("hour", "hours"), "minutes": ("minute", "minutes")}
# Polish has three forms: one (1), few (2-4, 22-24, ...), many (5-21, 25-31, ...).
_UNITS_PL = {"years": ("rok", "lata", "lat"), "months": ("miesiąc", "miesiące", "miesięcy"),
             "weeks": ("tydzień", "tygodnie", "tygodni"), "days": ("dzień", "dni", "dni"),
             "hours": ("godzina", "godziny", "godzin"), "minutes": ("minuta", "minuty", "minut")}
# Singular forms in other cases: "przez 1 godzinę" (accusative), "w ciągu 1 miesiąca" (genitive).
_PL_ACC_ONE = {"hours": "godzinę", "minutes": "minutę"}
_PL_GEN_ONE = {"years": "roku", "months": "miesiąca", "weeks": "tygodnia", "days": "dnia", "hours": "godziny",
               "minutes": "minuty"}
_PL = Locale("pl")
_EN = Locale("en")


def _pl_form(n: int, forms: tuple[str, str, str]) -> str:
    kind = _PL.plural_form(n)
    return forms[0] if kind == "one" else forms[1] if kind == "few" else forms[2]


def duration_words(d: Duration, lang: str = "en", case: str = "nom") -> str:
    """``P2Y6M`` → "2 years and 6 months" / "2 lata i 6 miesięcy".

    ``case`` picks the Polish grammatical case the sentence needs: ``nom`` ("okres: 1 rok"),
    ``acc`` ("przez 1 godzinę") or ``gen`` ("w ciągu 1 miesiąca", "w ciągu 2 lat").
    """
    parts: list[str] = []
    for unit in ("years", "months", "weeks", "days", "hours", "minutes"):
        n = getattr(d, unit)
        if not n:
            continue
        if lang == "pl":
            forms = _UNITS_PL[unit]
            if case == "gen":
                word = _PL_GEN_ONE[unit] if n == 1 else forms[2]
            elif case == "acc" and n == 1:
                word = _PL_ACC_ONE.get(unit, forms[0])
            else:
                word = _pl_form(n, forms)
            parts.append(f"{n} {word}")
        else:
            one, many = _UNITS_EN[unit]
            parts.append(f"{n} {one if n == 1 else many}")
    if not parts:
        return "0 dni" if lang == "pl" else "0 days"
    joiner = " i " if lang == "pl" else " and "
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + joiner + parts[-1]


def country_name(code: str, lang: str = "en") -> str:
    loc = _PL if lang == "pl" else _EN
    return str(loc.territories.get(code.upper(), code))
