"""English and Polish for every page: the core catalogues, plus choosing the language.

The catalogues and the Translator live in :mod:`pledge.i18n` (core code needs them too);
this module adds how a web request picks its language.
"""

from __future__ import annotations

from pledge.i18n import LANGUAGES, LOCALES, Translator, catalogue, translator

__all__ = ["LANGUAGES", "LOCALES", "Translator", "catalogue", "pick_language", "translator"]


def pick_language(explicit: str | None, cookie: str | None, accept: str | None) -> str:
    """The switch wins, then the remembered choice, then Accept-Language."""
    for choice in (explicit, cookie):
        if choice in LANGUAGES:
            return choice
    if accept:
        ranked = []
        for part in accept.split(","):
            tag, _, q = part.strip().partition(";q=")
            try:
                weight = float(q) if q else 1.0
            except ValueError:
                weight = 0.0
            ranked.append((weight, tag.split("-")[0].strip().lower()))
        for _, tag in sorted(ranked, reverse=True):
            if tag in LANGUAGES:
                return tag
    return "en"
