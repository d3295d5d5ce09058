"""consent_versions: a counter per person, bumped with every consent, restriction or objection write

Revision ID: 0040_consent_versions
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0040_consent_versions"
down_revision = "0001_core"
branch_labels = ("consent_versions",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_versions",
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject_key", name="pk_consent_versions"),
    )


def downgrade() -> None:
    op.drop_table("consent_versions")
