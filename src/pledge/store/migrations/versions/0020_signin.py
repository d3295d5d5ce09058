"""signin: failed admin sign-ins per account and per address

Revision ID: 0020_signin
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_signin"
down_revision = "0001_core"
branch_labels = ("signin",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_failures",
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("name", sa.String(320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "name", name="pk_signin_failures"),
    )


def downgrade() -> None:
    op.drop_table("signin_failures")
