"""jobs: task claims for idempotent at-least-once execution

Revision ID: 0019_jobs
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_jobs"
down_revision = "0001_core"
branch_labels = ("jobs",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("task_id", sa.String(120), nullable=False),
        sa.Column("batch", sa.String(80), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("task_id", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_batch", "job_runs", ["batch"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_batch", table_name="job_runs")
    op.drop_table("job_runs")
