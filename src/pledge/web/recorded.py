"""Show texts that the core recorded in English (breach decisions, default consequences)
in the reader's language.

The store keeps such texts as they were decided, in English: they are records. A page
shows them translated when the text is one the core writes: an exact msgid, one of the
sentence templates below with its values (``{risk}``, ``{hours}``), or a ``"; "``-joined
list of msgids. Anything else — an officer's own words — is shown as written.
"""

from __future__ import annotations

import re
from functools import cache

from pledge.web.i18n import Translator

#: sentences pledge.breach.register writes with values in them
TEMPLATES = (
    "Art. 33(1): the breach is likely to result in a risk ({risk}); the supervisory authority must be told "
    "within {hours} hours of awareness.",
    "The privacy policy promises to tell people whose data may have been compromised "
    "(breach.notify_subjects), although the risk is {risk}.",
    "Art. 34(1) does not apply: the risk is {risk}, not high.",
)


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^;]+?)" for i, p in enumerate(parts))
    return re.compile(f"^{regex}$")


def translate_recorded(text: str | None, t: Translator) -> str:
    if not text:
        return ""
    if t.lang == "en":
        return text
    if t(text) != text:
        return t(text)
    for template in TEMPLATES:
        found = _pattern(template).match(text)
        if found:
            return t(template, **{k: t(v) for k, v in found.groupdict().items()})
    pieces = text.split("; ")
    if len(pieces) > 1 and all(t(p) != p for p in pieces):
        return "; ".join(t(p) for p in pieces)
    return text
