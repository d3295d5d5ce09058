"""consent: consent history, current state, one-time link uses

Revision ID: 0005_consent
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_consent"
down_revision = "0001_core"
branch_labels = ("consent",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(120), nullable=False),
        sa.Column("notice_version", sa.String(60), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gpc", sa.Boolean(), nullable=True),
        sa.Column("proof", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_records"),
    )
    op.create_index("ix_consent_records_subject_key", "consent_records", ["subject_key"])
    op.create_table(
        "consent_current",
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(120), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("notice_version", sa.String(60), nullable=False),
        sa.Column("gpc", sa.Boolean(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject_key", "purpose", name="pk_consent_current"),
    )
    op.create_table(
        "consent_link_uses",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name="pk_consent_link_uses"),
    )


def downgrade() -> None:
    op.drop_table("consent_link_uses")
    op.drop_table("consent_current")
    op.drop_index("ix_consent_records_subject_key", table_name="consent_records")
    op.drop_table("consent_records")
