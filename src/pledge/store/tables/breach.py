"""The breach register (``pledge.breach``): GDPR Art. 33(5) documentation of every breach.

``breaches`` holds what happened, when it became known, what was exposed (data-map
collections and fields), the exposure window, the risk assessment, the measures and the
notification decision with its reason. ``breach_people`` names each affected person only
by keyed HMACs of their identities (``pledge.retention.ledger.subject_key``); addresses
are looked up in the platform at send time. ``breach_phases`` holds the authority report
as sent in each phase (Art. 33(4)).
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from pledge.store.tables.meta import metadata

breaches = Table(
    "breaches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    #: when the controller became aware: the Art. 33(1) clock starts here
    Column("aware_at", DateTime(timezone=True), nullable=False, index=True),
    #: the exposure window over the time field of the exposed rows
    Column("window_from", DateTime(timezone=True), nullable=False),
    Column("window_to", DateTime(timezone=True), nullable=False),
    Column("time_field", String(120), nullable=False, default="created_at"),
    #: db.collection names and db.collection.field names, checked against the data map
    Column("collections", JSON, nullable=False),
    Column("fields", JSON, nullable=False),
    #: fideslang data categories of what was exposed
    Column("categories", JSON, nullable=False),
    Column("people_count", Integer, nullable=False, default=0),
    Column("records_count", Integer, nullable=False, default=0),
    #: people found with no email to write to (e.g. people in images)
    Column("unreachable_count", Integer, nullable=False, default=0),
    Column("likelihood", String(10), nullable=True),  # low | medium | high
    Column("severity", String(10), nullable=True),  # low | medium | high
    Column("risk", String(10), nullable=True),  # low | medium | high
    Column("encrypted", Boolean, nullable=False, default=False),
    Column("measures", Text, nullable=False, default=""),
    Column("consequences", Text, nullable=False, default=""),
    Column("notify_authority", Boolean, nullable=True),
    Column("authority_reason", Text, nullable=True),
    Column("notify_people", Boolean, nullable=True),
    Column("people_reason", Text, nullable=True),
    #: an exemption recorded instead of telling people, e.g. art34_3_a
    Column("exemption", String(40), nullable=True),
    Column("status", String(20), nullable=False, default="open"),  # open | assessed | notified | closed
    Column("authority_notified_at", DateTime(timezone=True), nullable=True),
    Column("people_notified_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)

breach_people = Table(
    "breach_people",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("breach_id", Integer, ForeignKey("breaches.id"), nullable=False, index=True),
    #: the person's stable key: HMAC of their user id when they have one, else of their email
    Column("subject_key", String(64), nullable=False),
    #: every identity's keyed HMAC, by kind ({"email": ..., "user_id": ...})
    Column("identity_keys", JSON, nullable=False),
    Column("records", Integer, nullable=False, default=0),
    Column("notified_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("breach_id", "subject_key"),
)

breach_phases = Table(
    "breach_phases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("breach_id", Integer, ForeignKey("breaches.id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(20), nullable=False),  # initial | supplementary | final
    Column("note", Text, nullable=False, default=""),
    #: the report as it was sent in this phase (JSON form)
    Column("content", JSON, nullable=False),
    Column("actor", String(200), nullable=False),
)
