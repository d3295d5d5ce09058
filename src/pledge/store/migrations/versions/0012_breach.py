"""breach: the register, affected people (keyed HMACs only) and report phases

Revision ID: 0012_breach
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_breach"
down_revision = "0001_core"
branch_labels = ("breach",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "breaches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_field", sa.String(120), nullable=False),
        sa.Column("collections", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("people_count", sa.Integer(), nullable=False),
        sa.Column("records_count", sa.Integer(), nullable=False),
        sa.Column("unreachable_count", sa.Integer(), nullable=False),
        sa.Column("likelihood", sa.String(10), nullable=True),
        sa.Column("severity", sa.String(10), nullable=True),
        sa.Column("risk", sa.String(10), nullable=True),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("consequences", sa.Text(), nullable=False),
        sa.Column("notify_authority", sa.Boolean(), nullable=True),
        sa.Column("authority_reason", sa.Text(), nullable=True),
        sa.Column("notify_people", sa.Boolean(), nullable=True),
        sa.Column("people_reason", sa.Text(), nullable=True),
        sa.Column("exemption", sa.String(40), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("authority_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("people_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_breaches"),
    )
    op.create_index("ix_breaches_aware_at", "breaches", ["aware_at"])
    op.create_table(
        "breach_people",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("breach_id", sa.Integer(), nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("identity_keys", sa.JSON(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["breach_id"], ["breaches.id"], name="fk_breach_people_breach_id_breaches"),
        sa.PrimaryKeyConstraint("id", name="pk_breach_people"),
        sa.UniqueConstraint("breach_id", "subject_key", name="uq_breach_people_breach_id"),
    )
    op.create_index("ix_breach_people_breach_id", "breach_people", ["breach_id"])
    op.create_table(
        "breach_phases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("breach_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["breach_id"], ["breaches.id"], name="fk_breach_phases_breach_id_breaches"),
        sa.PrimaryKeyConstraint("id", name="pk_breach_phases"),
    )
    op.create_index("ix_breach_phases_breach_id", "breach_phases", ["breach_id"])


def downgrade() -> None:
    op.drop_index("ix_breach_phases_breach_id", table_name="breach_phases")
    op.drop_table("breach_phases")
    op.drop_index("ix_breach_people_breach_id", table_name="breach_people")
    op.drop_table("breach_people")
    op.drop_index("ix_breaches_aware_at", table_name="breaches")
    op.drop_table("breaches")
