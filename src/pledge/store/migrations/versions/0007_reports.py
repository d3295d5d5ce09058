"""reports: notice versions, notification campaigns and their recipients

Revision ID: 0007_reports
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_reports"
down_revision = "0001_core"
branch_labels = ("reports",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(60), nullable=False),
        sa.Column("policy_hash", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("material", sa.Boolean(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notice_versions"),
    )
    op.create_index("ix_notice_versions_policy_hash", "notice_versions", ["policy_hash"])
    op.create_table(
        "notice_campaigns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("notice_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reconsent", sa.Boolean(), nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["notice_version_id"], ["notice_versions.id"],
                                name="fk_notice_campaigns_notice_version_id_notice_versions"),
        sa.PrimaryKeyConstraint("id", name="pk_notice_campaigns"),
    )
    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["notice_campaigns.id"],
                                name="fk_campaign_recipients_campaign_id_notice_campaigns"),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_recipients"),
        sa.UniqueConstraint("campaign_id", "subject_key", name="uq_campaign_recipients_campaign_id"),
    )


def downgrade() -> None:
    op.drop_table("campaign_recipients")
    op.drop_table("notice_campaigns")
    op.drop_index("ix_notice_versions_policy_hash", table_name="notice_versions")
    op.drop_table("notice_versions")
