"""A local SMTP sink for the demo and the tests: real SMTP in, messages kept in memory.

``pledge demo`` starts one on 127.0.0.1:8025 (the default ``PLEDGE_SMTP_*`` settings), so
verification codes and notices land here; the web app shows them at ``/dev/mail``::

    sink = DevMail()            # port=0 picks a free port
    sink.start()
    sink.messages()             # [DevMessage(sender, recipients, subject, raw, received_at)], oldest first
    sink.latest_to("ann@example.org")
    sink.stop()

Never use it in production: nothing is delivered anywhere.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

from aiosmtpd.controller import Controller

__all__ = ["DevMail", "DevMessage"]


@dataclass(frozen=True)
class DevMessage:
    sender: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes
    received_at: datetime

    @property
    def body(self) -> str:
        msg = message_from_bytes(self.raw)
        part = msg.get_body(("plain",)) if hasattr(msg, "get_body") else msg
        payload = (part or msg).get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)


class _Handler:
    def __init__(self, box: DevMail) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        raw = envelope.original_content or envelope.content
        raw = raw if isinstance(raw, bytes) else str(raw).encode()
        subject = str(make_header(decode_header(message_from_bytes(raw).get("Subject", ""))))
        self.box.add(DevMessage(str(envelope.mail_from), tuple(str(r) for r in envelope.rcpt_tos), subject, raw,
                                datetime.now(UTC)))
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class DevMail:
    def __init__(self, host: str = "127.0.0.1", port: int = 8025, *, limit: int = 500) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.limit = limit
        self._messages: list[DevMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def add(self, message: DevMessage) -> None:
        with self._lock:
            self._messages.append(message)
            del self._messages[:-self.limit]

    def messages(self) -> list[DevMessage]:
        with self._lock:
            return list(self._messages)

    def latest_to(self, address: str) -> DevMessage | None:
        address = address.lower()
        for m in reversed(self.messages()):
            if address in (r.lower() for r in m.recipients):
                return m
        return None

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def start(self) -> DevMail:
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None
