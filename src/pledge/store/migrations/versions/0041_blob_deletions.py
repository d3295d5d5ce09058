"""blobs: pending blob deletions (files deleted after their rows' erasure commits)

Revision ID: 0041_blob_deletions
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0041_blob_deletions"
down_revision = "0001_core"
branch_labels = ("blobs",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_deletions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("store", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("blob_key", sa.Text(), nullable=False),
        sa.Column("is_prefix", sa.Boolean(), nullable=False),
        sa.Column("collection", sa.String(200), nullable=False),
        sa.Column("row_key", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_blob_deletions"),
        sa.UniqueConstraint("reference", "key_hash", name="uq_blob_deletions_reference"),
    )
    op.create_index("ix_blob_deletions_reference", "blob_deletions", ["reference"])
    op.create_index("ix_blob_deletions_status", "blob_deletions", ["status"])


def downgrade() -> None:
    op.drop_index("ix_blob_deletions_status", table_name="blob_deletions")
    op.drop_index("ix_blob_deletions_reference", table_name="blob_deletions")
    op.drop_table("blob_deletions")
