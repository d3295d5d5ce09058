"""Rate-limit counters (``pledge.ratelimit``) when no Redis is configured.

One row per counted key: the hits of its current fixed window, which runs from
``window_start`` to ``window_end`` (epoch milliseconds of the engine's clock). Keys hold
keyed HMACs of emails, never an email in clear. Expired rows are swept now and then.
"""

from sqlalchemy import BigInteger, Column, Integer, String, Table

from pledge.store.tables.meta import metadata

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("hits", Integer, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False, index=True),
)
