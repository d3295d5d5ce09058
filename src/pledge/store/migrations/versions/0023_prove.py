"""prove: the history of proof runs on live data

Revision ID: 0023_prove
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_prove"
down_revision = "0001_core"
branch_labels = ("prove",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prove_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("config", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prove_runs"),
    )
    op.create_index("ix_prove_runs_at", "prove_runs", ["at"])


def downgrade() -> None:
    op.drop_index("ix_prove_runs_at", table_name="prove_runs")
    op.drop_table("prove_runs")
