"""English and Polish for every page and email, from Babel ``.po`` catalogues.

Each feature owns one catalogue per language (``locales/pl/LC_MESSAGES/<feature>.po``);
they are merged at load. English is the source language, so a missing Polish string
falls back to the English text (a test checks that none is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("en", "pl")


@dataclass(frozen=True)
class Translator:
    lang: str
    messages: dict[str, str]

    def __call__(self, text: str, **kwargs: object) -> str:
        out = self.messages.get(text) or text
        return out.format(**kwargs) if kwargs else out

    gettext = __call__


@cache
def catalogue(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    folder = LOCALES / lang / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as fh:
            cat = read_po(fh, locale=lang)
        for msg in cat:
            if msg.id and msg.string and isinstance(msg.id, str):
                merged[msg.id] = str(msg.string)
    return merged


def translator(lang: str) -> Translator:
    lang = lang if lang in LANGUAGES else "en"
    return Translator(lang, catalogue(lang) if lang != "en" else {})


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
