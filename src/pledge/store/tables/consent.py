"""Consent records (in the spirit of ISO/IEC TS 27560) and one-time link uses.

``consent_records`` is the immutable history: rows are only ever inserted.
``consent_current`` holds the newest state per person and purpose; it is written in
the same transaction as the history row it points to. A person is named by
``subject_key`` (the keyed HMAC of their email), never the address itself.
"""

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table

from pledge.store.tables.meta import metadata

consent_records = Table(
    "consent_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_key", String(64), nullable=False, index=True),
    Column("purpose", String(120), nullable=False),
    Column("notice_version", String(60), nullable=False),
    Column("state", String(16), nullable=False),  # given | withdrawn | refused
    Column("method", String(40), nullable=False),  # web_form | cookie_banner | unsubscribe_link | api | ...
    Column("channel", String(40), nullable=False),  # web | email | api | in_app | ...
    Column("at", DateTime(timezone=True), nullable=False),
    Column("gpc", Boolean, nullable=True),
    #: keyed HMAC of the IP address and user agent the choice came from
    Column("proof", String(64), nullable=True),
    Column("actor", String(200), nullable=False),
)

consent_current = Table(
    "consent_current",
    metadata,
    Column("subject_key", String(64), primary_key=True),
    Column("purpose", String(120), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("notice_version", String(60), nullable=False),
    Column("gpc", Boolean, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("record_id", Integer, nullable=False),
)

#: A counter per person, bumped in the same transaction as every write to their consent,
#: restrictions or objections (pledge.consent.versions): a process serves a cached decision
#: only while the counter it was made under is still the one here, so a change made by any
#: process counts at once in every other.
consent_versions = Table(
    "consent_versions",
    metadata,
    Column("subject_key", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

#: Signed one-click links that have been used; a link's nonce may appear once.
consent_link_uses = Table(
    "consent_link_uses",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
)
