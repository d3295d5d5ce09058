"""What counts as an email address, in one place.

``EMAIL_RE`` is the shape check used for data (a rectified field, a policy's contact).
``is_email_address`` is stricter: an address Pledge will identify a person by and write
to, so it must also be safe inside a mail header.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HEADER_UNSAFE = set(',;<>()[]\\"')


def is_email_address(text: str) -> bool:
    """One @, a dotted domain, at most 254 characters, and no spaces, control characters,
    commas, quotes or angle brackets."""
    return (
        len(text) <= 254
        and text.isprintable()
        and EMAIL_RE.match(text) is not None
        and parseaddr(text)[1] == text
        and not _HEADER_UNSAFE.intersection(text)
    )
