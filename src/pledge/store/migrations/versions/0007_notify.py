"""notify: one row per email delivery

Revision ID: 0007_notify
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_notify"
down_revision = "0001_core"
branch_labels = ("notify",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("recipient_key", sa.String(64), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_email_deliveries"),
        sa.UniqueConstraint("reference", "recipient_key", name="uq_email_deliveries_reference"),
    )
    op.create_index("ix_email_deliveries_reference", "email_deliveries", ["reference"])


def downgrade() -> None:
    op.drop_index("ix_email_deliveries_reference", table_name="email_deliveries")
    op.drop_table("email_deliveries")
