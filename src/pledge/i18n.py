"""Message catalogues for core code: English source strings, Polish from Babel ``.po`` files.

The catalogues live under ``pledge/web/locales/<lang>/LC_MESSAGES/<domain>.po`` (one file
per feature). Core modules (reports, notify) read them here, without importing the web
package. English is the source language: a missing translation falls back to the msgid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "web" / "locales"
LANGUAGES = ("en", "pl")


@dataclass(frozen=True)
class Translator:
    lang: str
    messages: dict[str, str]

    def __call__(self, text: str, **kwargs: object) -> str:
        out = self.messages.get(text) or text
        return out.format(**kwargs) if kwargs else out

    gettext = __call__


def read_catalogue(path: Path, lang: str) -> dict[str, str]:
    """One ``.po`` file as msgid → msgstr (untranslated entries left out)."""
    with path.open("rb") as fh:
        cat = read_po(fh, locale=lang)
    return {msg.id: str(msg.string) for msg in cat
            if msg.id and msg.string and isinstance(msg.id, str)}


@cache
def catalogue(lang: str, domains: tuple[str, ...] | None = None) -> dict[str, str]:
    """The merged catalogue of ``lang``; only the named domains when given."""
    merged: dict[str, str] = {}
    folder = LOCALES / lang / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        if domains is None or po.stem in domains:
            merged.update(read_catalogue(po, lang))
    return merged


def translator(lang: str, domains: tuple[str, ...] | None = None) -> Translator:
    lang = lang if lang in LANGUAGES else "en"
    return Translator(lang, catalogue(lang, domains) if lang != "en" else {})
