"""rights: restriction and objection records

Revision ID: 0002_rights
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_rights"
down_revision = "0001_core"
branch_labels = ("rights",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restrictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(120), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_restrictions"),
    )
    op.create_index("ix_restrictions_subject_key", "restrictions", ["subject_key"])
    op.create_table(
        "objections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_objections"),
    )
    op.create_index("ix_objections_subject_key", "objections", ["subject_key"])


def downgrade() -> None:
    op.drop_index("ix_objections_subject_key", table_name="objections")
    op.drop_table("objections")
    op.drop_index("ix_restrictions_subject_key", table_name="restrictions")
    op.drop_table("restrictions")
