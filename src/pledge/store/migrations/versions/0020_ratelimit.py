"""ratelimit: fixed-window counters of the rate limits, when no Redis is configured

Revision ID: 0020_ratelimit
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_ratelimit"
down_revision = "0001_core"
branch_labels = ("ratelimit",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_limits"),
    )
    op.create_index("ix_rate_limits_window_end", "rate_limits", ["window_end"])


def downgrade() -> None:
    op.drop_index("ix_rate_limits_window_end", table_name="rate_limits")
    op.drop_table("rate_limits")
