"""The policy in the reader's language: every entry's ``translations`` put in place.

A policy is written in one language (``policy.language``). An entry people see by name
(a purpose, a data category, a recipient, a retention rule, an exemption, a cookie
category, a subject, a right's note) may carry its words in other languages::

    - key: marketing_email
      name: Marketing emails
      translations:
        pl: {name: E-maile marketingowe, description: ...}

:func:`localized` returns a copy of the policy with those words in place, for pages,
emails, notices and packages shown in ``lang``. What an entry does not translate stays as
written; :func:`missing` lists those, for ``pledge check`` (lint PL100).
"""

from __future__ import annotations

from collections.abc import Iterator

from pledge.policy.model import Labelled, Policy, Translation

__all__ = ["SECTIONS", "label", "localized", "missing", "missing_words", "seen_words"]

#: the policy's lists whose entries people see by name
SECTIONS = ("subjects", "categories", "purposes", "recipients", "exemptions", "retention", "cookies")
_WORDS = tuple(Translation.model_fields)


def _entries(policy: Policy) -> Iterator[tuple[str, int, Labelled]]:
    for section in SECTIONS:
        for i, entry in enumerate(getattr(policy, section)):
            yield section, i, entry
    for i, measure in enumerate(policy.security):
        yield "security", i, measure
    for i, right in enumerate(policy.rights.offered):
        yield "rights.offered", i, right
    if policy.automated_decisions is not None:
        yield "automated_decisions", 0, policy.automated_decisions


def _apply(entry: Labelled, words: Translation) -> None:
    for name in _WORDS:
        value = getattr(words, name)
        if value and name in type(entry).model_fields:
            setattr(entry, name, value)


def localized(policy: Policy, lang: str) -> Policy:
    """``policy`` in ``lang``: the same object when it is already in it or nothing is translated."""
    if lang == policy.language or not any(lang in e.translations for _, _, e in _entries(policy)):
        return policy
    copy = policy.model_copy(deep=True)
    for _, _, entry in _entries(copy):
        words = entry.translations.get(lang)  # type: ignore[call-overload]
        if words is not None:
            _apply(entry, words)
    return copy


def label(entry: Labelled, lang: str, policy_language: str) -> str:
    """One entry's name in ``lang``."""
    name: str = getattr(entry, "name", "") or ""
    if lang == policy_language:
        return name
    words = entry.translations.get(lang)  # type: ignore[call-overload]
    return words.name if words is not None and words.name else name


def seen_words(policy: Policy, lang: str) -> Iterator[tuple[str, str, str, str | None]]:
    """Every word of the policy people see that a translation into ``lang`` can carry:
    ``(place, field, as written, in lang or None)`` for each entry's name, description and
    the like, and each declared cookie's purpose, provider and duration."""
    for section, i, entry in _entries(policy):
        words = entry.translations.get(lang)  # type: ignore[call-overload]
        place = f"{section}[{getattr(entry, 'key', None) or i}]"
        for name in _WORDS:
            written = getattr(entry, name, None) if name in type(entry).model_fields else None
            if isinstance(written, str) and written.strip():
                yield place, name, written, getattr(words, name) if words is not None else None
    for category in policy.cookies:
        for cookie in category.cookies:
            other = cookie.translations.get(lang)  # type: ignore[call-overload]
            # a name with a space names a family in words ("Analytics cookies"), not a stored cookie
            for name in (("name",) if " " in cookie.name else ()) + ("purpose", "provider", "duration"):
                written = getattr(cookie, name)
                if written:
                    yield (f"cookies[{category.key}].{cookie.name}", name, written,
                           getattr(other, name) if other is not None else None)


def missing(policy: Policy, lang: str) -> list[tuple[str, int, str]]:
    """``(section, index, key)`` of the named entries that have no name in ``lang``."""
    if lang == policy.language:
        return []
    out = []
    for section, i, entry in _entries(policy):
        if section not in SECTIONS:
            continue
        words = entry.translations.get(lang)  # type: ignore[call-overload]
        if words is None or not words.name:
            out.append((section, i, str(getattr(entry, "key", i))))
    return out


def missing_words(policy: Policy, lang: str) -> list[tuple[str, int, str, str]]:
    """``(section, index, key, field)`` of the words an entry translated into ``lang`` leaves
    out (a description, a legitimate interest, a law…): a page in ``lang`` shows them as written."""
    if lang == policy.language:
        return []
    out = []
    for section, i, entry in _entries(policy):
        words = entry.translations.get(lang)  # type: ignore[call-overload]
        if words is None:
            continue  # an entry not translated at all is missing()'s finding
        for name in _WORDS:
            written = getattr(entry, name, None) if name in type(entry).model_fields else None
            if name != "name" and isinstance(written, str) and written.strip() and not getattr(words, name):
                out.append((section, i, str(getattr(entry, "key", None) or getattr(entry, "kind", None) or i), name))
    return out
