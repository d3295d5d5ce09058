"""Notice versions and notification campaigns (``pledge.reports``).

No personal data: a campaign recipient is a keyed HMAC of their email
(``pledge.retention.ledger.subject_key``); addresses are looked up in the platform
at send time and never stored here.
"""

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Integer, String, Table, UniqueConstraint

from pledge.store.tables.meta import metadata

notice_versions = Table(
    "notice_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(60), nullable=False),
    Column("policy_hash", String(64), nullable=False, index=True),
    Column("published_at", DateTime(timezone=True), nullable=False),
    #: the change from the version before is material (people must be told)
    Column("material", Boolean, nullable=False, default=False),
    Column("changes", JSON, nullable=False),
    #: the policy itself, so the next version can be compared with it
    Column("policy", JSON, nullable=False),
)

notice_campaigns = Table(
    "notice_campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),  # policy_change | business_transfer | custom
    Column("notice_version_id", Integer, ForeignKey("notice_versions.id"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    #: when the change applies: never earlier than created_at + the policy's notice period
    Column("effective_at", DateTime(timezone=True), nullable=False),
    Column("reconsent", Boolean, nullable=False, default=False),
    Column("lang", String(5), nullable=False, default="en"),
    Column("status", String(20), nullable=False, default="open"),  # open | sent
    #: data categories the change touches ("*" = everyone)
    Column("categories", JSON, nullable=False),
    Column("details", JSON, nullable=False),
)

campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("notice_campaigns.id"), nullable=False),
    Column("subject_key", String(64), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("accepted_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("campaign_id", "subject_key"),
)
