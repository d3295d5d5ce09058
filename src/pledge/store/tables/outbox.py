"""The mail outbox (``pledge.outbox``): every email is a row here before it goes out.

``message`` holds the whole message (sender, recipient, raw MIME with its headers)
encrypted with the deployment's Vault, and is cleared once the message is sent or given
up. What stays is the "sent once" record: ``reference`` (``request:req_…:code:1``,
``campaign:3``), ``recipient_key`` (a keyed HMAC of the address, or of the person), the
template and ``sent_at``; the store never holds an address in clear.

``status``: ``queued`` (waiting for ``next_attempt_at``) → ``sending`` (claimed by one
sender until ``claimed_until``) → ``sent``, or back to ``queued`` with a later
``next_attempt_at`` after a failed attempt, or ``failed`` once the attempts run out.
"""

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, String, Table, Text, UniqueConstraint

from pledge.store.tables.meta import metadata

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(200), nullable=False),
    Column("recipient_key", String(64), nullable=False),
    Column("template", String(100), nullable=False),
    Column("lang", String(5), nullable=False),
    Column("status", String(12), nullable=False),  # queued | sending | sent | failed
    Column("message", LargeBinary, nullable=True),  # Vault-encrypted; None once sent or given up
    Column("message_id", String(200), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("reference", "recipient_key"),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)
