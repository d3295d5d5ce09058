"""pledge.mime: the message written by hand reads back as the standard library's own does.

The expectation is the standard library's ``EmailMessage`` for the same headers and body
(what Pledge used before #19), both parsed back with ``email.message_from_bytes``."""

from __future__ import annotations

from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default

import pytest

from pledge.mime import TextMail, address_header

SHORT_EN = "Hello,\n\nYour request is done. Download: https://shop.example/d/abc\n-- \nShop\n"
SHORT_PL = "Dzień dobry,\n\nTwoje żądanie zostało zrealizowane.\n-- \nSklep Żółw\n"
LONG_PL = ("Dzień dobry,\n\nTwoje żądanie dostępu zostało zrealizowane; pobierz paczkę tutaj, zanim link wygaśnie: "
           "https://shop.example/d/" + "k" * 90 + "\n") * 3
LONG_EN = "Hello,\n\n" + "Download: https://shop.example/d/" + "q" * 200 + "\n"
SUBJECTS = ["Your data", "Twoje dane są gotowe do pobrania",
            "Twoje dane są gotowe do pobrania — bardzo długi temat wiadomości, który trzeba złożyć w kilku liniach",
            "A long English subject line that goes on and on well past seventy-eight characters in all"]


def _both(body: str, subject: str, name: str) -> tuple[EmailMessage, EmailMessage, bytes]:
    mine = TextMail(body)
    mine["From"] = address_header(name, "privacy@shop.example")
    mine["To"] = "someone@example.test"
    mine["Subject"] = subject
    mine["Content-Language"] = "pl"
    std = EmailMessage()
    std["From"] = Address(display_name=name, addr_spec="privacy@shop.example")
    std["To"] = "someone@example.test"
    std["Subject"] = subject
    std.set_content(body)
    std["Content-Language"] = "pl"
    raw = mine.as_bytes()
    parse = message_from_bytes
    return (parse(raw, policy=default),  # type: ignore[return-value]
            parse(std.as_bytes(policy=std.policy.clone(linesep="\r\n")), policy=default), raw)


@pytest.mark.parametrize("body", [SHORT_EN, SHORT_PL, LONG_PL, LONG_EN])
@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("name", ["Shop", "Sklep Żółw", 'Shop, "the" one'])
def test_a_message_reads_back_as_the_standard_librarys(body: str, subject: str, name: str) -> None:
    mine, std, raw = _both(body, subject, name)
    for header in ("From", "To", "Subject", "Content-Language"):
        assert str(mine[header]) == str(std[header]), header
    assert mine["From"].addresses[0].display_name == name
    assert mine.get_content_type() == std.get_content_type() == "text/plain"
    assert mine.get_content_charset() == "utf-8"
    assert mine.get_content() == std.get_content()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n")), "a line is longer than RFC 5322 recommends"
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare line feed"
    assert raw.isascii() == (mine["Content-Transfer-Encoding"] != "8bit")  # raw UTF-8 only where declared


def test_the_transfer_encoding_is_the_standard_librarys_choice() -> None:
    for body, expected in [(SHORT_EN, "7bit"), (SHORT_PL, "8bit"), (LONG_PL, None), (LONG_EN, None)]:
        mine, std, _ = _both(body, "x", "Shop")
        assert mine["Content-Transfer-Encoding"] == std["Content-Transfer-Encoding"]
        if expected:
            assert mine["Content-Transfer-Encoding"] == expected


@pytest.mark.parametrize("value", ["a@example.test\r\nBcc: victim@example.test", "x\nBcc: y", "x\rY"])
def test_a_header_value_with_a_line_break_is_refused(value: str) -> None:
    msg = TextMail("body")
    with pytest.raises(ValueError):
        msg["To"] = value
    with pytest.raises(ValueError):
        msg["Subject"] = value
    assert msg["To"] is None and b"Bcc" not in msg.as_bytes()


def test_a_long_link_header_is_kept_whole_at_998() -> None:
    link = "<https://shop.example/u/" + "x" * 300 + ">"
    msg = TextMail("body", max_line_length=998)
    msg["List-Unsubscribe"] = link
    parsed = message_from_bytes(msg.as_bytes(), policy=default)
    assert str(parsed["List-Unsubscribe"]) == link
    assert f"List-Unsubscribe: {link}".encode() in msg.as_bytes()  # one line, no encoded-words


def test_headers_behave_as_a_mapping() -> None:
    msg = TextMail("body")
    msg["X-One"] = "1"
    msg["x-one"] = "2"
    assert msg["X-ONE"] == "1" and msg.get_all("X-One") == ["1", "2"] and "x-one" in msg
    del msg["X-One"]
    assert msg["X-One"] is None and msg.get_all("X-One", []) == []
