"""A plain-text email written straight to bytes (RFC 5322 and MIME), for the outbox.

Every message Pledge sends is one ``text/plain`` part in UTF-8 with a few headers. Python's
``email.message.EmailMessage`` parses each header into a structured object and folds it
again when the message is written: about 1.8 ms of CPU per message, a tenth of an access
request's (#19). :class:`TextMail` keeps the headers as strings and writes them once:

* a header value holding a carriage return or line feed is refused when it is set (no
  header injection), as ``EmailMessage`` refuses it;
* ASCII values are folded at spaces to ``max_line_length`` (78, or 998 for a message that
  must keep a long link whole); non-ASCII ones become RFC 2047 encoded-words in UTF-8;
* address headers are given as :func:`address_header` writes them (only the display name is
  ever encoded);
* the body is ``7bit`` when it is ASCII, ``8bit`` when it is not and every line fits, and
  otherwise quoted-printable or base64, whichever is shorter, the choice the standard
  library makes for the same body.

The bytes parse back with the standard library (``email.message_from_bytes``) to the same
headers and body; ``tests/test_mime.py`` checks that for English and Polish messages.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from email import quoprimime
from email.utils import formataddr

CRLF = "\r\n"


def _ascii(value: str) -> bool:
    return value.isascii()


def address_header(display_name: str, addr_spec: str) -> str:
    """``Name <addr>``, the name quoted or encoded as it needs; the address as given."""
    return formataddr((display_name, addr_spec), charset="utf-8")


def encoded_words(text: str, first: int, limit: int) -> list[str]:
    """``text`` as RFC 2047 encoded-words (UTF-8, base64), each on its own line of at most
    ``limit`` characters, the first sharing its line with ``first`` characters before it;
    a character's bytes are never split across two words."""
    words: list[str] = []
    chunk = b""
    room = max(limit - first - 12, 4) // 4 * 3  # bytes whose base64 fits beside =?utf-8?b??=
    for ch in text:
        b = ch.encode("utf-8")
        if chunk and len(chunk) + len(b) > room:
            words.append("=?utf-8?b?" + base64.b64encode(chunk).decode("ascii") + "?=")
            chunk, room = b"", max(limit - 1 - 12, 4) // 4 * 3
        chunk += b
    words.append("=?utf-8?b?" + base64.b64encode(chunk).decode("ascii") + "?=")
    return words


def _fold_ascii(name: str, value: str, limit: int) -> str:
    """``Name: value`` folded before a space wherever a line would pass ``limit``."""
    line = f"{name}:"
    lines: list[str] = []
    for word in value.split(" "):
        piece = " " + word
        if word and len(line) + len(piece) > limit and line != f"{name}:":
            lines.append(line)
            line = piece
        else:
            line += piece
    lines.append(line)
    return CRLF.join(lines)


class TextMail:
    """One text/plain message: headers in the order set, and a body."""

    def __init__(self, body: str, *, max_line_length: int = 78) -> None:
        self.body = body
        self.max_line_length = max_line_length
        self._headers: list[tuple[str, str]] = []

    # -- headers, as on a mapping (the first value of a name; names are case-insensitive) ---
    def __setitem__(self, name: str, value: str) -> None:
        value = str(value)
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError("Header values may not contain linefeed or carriage return characters")
        self._headers.append((name, value))

    def __getitem__(self, name: str) -> str | None:
        return next((v for k, v in self._headers if k.lower() == name.lower()), None)

    def __delitem__(self, name: str) -> None:
        self._headers = [(k, v) for k, v in self._headers if k.lower() != name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self[name] is not None

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        found = [v for k, v in self._headers if k.lower() == name.lower()]
        return found or default

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._headers))

    # -- writing ------------------------------------------------------------------------------
    def _header_line(self, name: str, value: str) -> str:
        limit = self.max_line_length
        if _ascii(value):
            line = f"{name}: {value}"
            return line if len(line) <= limit else _fold_ascii(name, value, limit)
        return f"{name}: " + (CRLF + " ").join(encoded_words(value, len(name) + 2, limit))

    def _body(self) -> tuple[str, bytes]:
        lines = self.body.encode("utf-8").splitlines()
        if max((len(x) for x in lines), default=0) <= self.max_line_length:
            joined = b"\r\n".join(lines) + b"\r\n"
            return ("7bit" if joined.isascii() else "8bit"), joined
        sniff = b"\r\n".join(lines) + b"\r\n"
        qp = quoprimime.body_encode(sniff.decode("latin-1"), self.max_line_length, eol=CRLF)
        b64 = binascii.b2a_base64(sniff)
        if len(qp) <= len(b64):
            return "quoted-printable", qp.encode("ascii") + (b"" if qp.endswith(CRLF) else b"\r\n")
        raw = b"".join(binascii.b2a_base64(sniff[i:i + 57]).replace(b"\n", b"\r\n") for i in range(0, len(sniff), 57))
        return "base64", raw

    def as_bytes(self) -> bytes:
        """The whole message, CRLF line ends, ready for SMTP ``DATA``."""
        cte, body = self._body()
        lines = [self._header_line(k, v) for k, v in self._headers
                 if k.lower() not in ("mime-version", "content-type", "content-transfer-encoding")]
        lines += ["MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', f"Content-Transfer-Encoding: {cte}"]
        return (CRLF.join(lines) + CRLF + CRLF).encode("ascii") + body
