"""Data-subject requests (``pledge.rights.requests``), their verification codes, exports
and Art. 19 notices.

No personal data is stored in clear: the requester's identities (and any request
parameters, such as a rectified value) are a Fernet token in ``payload_enc``;
``identity_key`` is a keyed HMAC of the email for lookups; codes are stored as HMACs.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from pledge.store.tables.meta import metadata

requests = Table(
    "requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: the unguessable id used in links and the API (never the integer id)
    Column("public_id", String(40), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    Column("state", String(30), nullable=False, index=True),
    Column("regime", String(10), nullable=False),
    Column("lang", String(5), nullable=False),
    #: person | officer | api
    Column("source", String(20), nullable=False),
    Column("identity_key", String(64), nullable=False, index=True),
    Column("payload_enc", LargeBinary, nullable=False),
    #: on the platform's own initiative: the recorded ground and note
    Column("initiative_ground", String(60), nullable=True),
    Column("initiative_note", Text, nullable=True),
    Column("denial_ground", String(60), nullable=True),
    Column("denial_note", Text, nullable=True),
    #: what identity proof still lacks, e.g. ["reasonable", "org_admin"]
    Column("needs", JSON, nullable=False),
    Column("assurance", String(20), nullable=False, default="none"),
    Column("approval_needed", Boolean, nullable=False, default=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("confirm_by", Date, nullable=True),
    Column("due_on", Date, nullable=False, index=True),
    Column("extended_due_on", Date, nullable=True),
    Column("extension_reason", Text, nullable=True),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("result", JSON, nullable=True),
)

verification_codes = Table(
    "verification_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("requests.id"), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("locked_at", DateTime(timezone=True), nullable=True),
)

request_exports = Table(
    "request_exports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("requests.id"), nullable=False, index=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("filename", String(200), nullable=False),
    Column("path", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("purge_after", DateTime(timezone=True), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=True),
    Column("downloads", Integer, nullable=False, default=0),
)

art19_notices = Table(
    "art19_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("requests.id"), nullable=False, index=True),
    Column("recipient", String(120), nullable=False),
    Column("channel", String(20), nullable=False),  # webhook | email
    Column("status", String(20), nullable=False),  # sent | failed
    Column("error", Text, nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("acked_at", DateTime(timezone=True), nullable=True),
)
