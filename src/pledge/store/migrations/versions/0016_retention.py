"""retention: legal holds

Revision ID: 0016_retention
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_retention"
down_revision = "0001_core"
branch_labels = ("retention",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_holds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject_kind", sa.String(40), nullable=True),
        sa.Column("subject_key", sa.String(64), nullable=True),
        sa.Column("collection", sa.String(200), nullable=True),
        sa.Column("condition", sa.Text(), nullable=True),
        sa.Column("ids", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retention_holds"),
    )
    op.create_index("ix_retention_holds_subject_key", "retention_holds", ["subject_key"])


def downgrade() -> None:
    op.drop_index("ix_retention_holds_subject_key", table_name="retention_holds")
    op.drop_table("retention_holds")
