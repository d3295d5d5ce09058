"""outbox: every email is queued in the store and sent by a background sender

Revision ID: 0031_outbox
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_outbox"
down_revision = "0001_core"
branch_labels = ("outbox",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("recipient_key", sa.String(64), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("reference", "recipient_key", name="uq_outbox_reference"),
    )
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status_next", table_name="outbox")
    op.drop_table("outbox")
