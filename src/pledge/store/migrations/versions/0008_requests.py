"""requests: data-subject requests, verification codes, exports, Art. 19 notices

Revision ID: 0008_requests
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_requests"
down_revision = "0001_core"
branch_labels = ("requests",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("regime", sa.String(10), nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("identity_key", sa.String(64), nullable=False),
        sa.Column("payload_enc", sa.LargeBinary(), nullable=False),
        sa.Column("initiative_ground", sa.String(60), nullable=True),
        sa.Column("initiative_note", sa.Text(), nullable=True),
        sa.Column("denial_ground", sa.String(60), nullable=True),
        sa.Column("denial_note", sa.Text(), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("assurance", sa.String(20), nullable=False),
        sa.Column("approval_needed", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirm_by", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("extended_due_on", sa.Date(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
        sa.UniqueConstraint("public_id", name="uq_requests_public_id"),
    )
    op.create_index("ix_requests_state", "requests", ["state"])
    op.create_index("ix_requests_identity_key", "requests", ["identity_key"])
    op.create_index("ix_requests_due_on", "requests", ["due_on"])
    op.create_table(
        "verification_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"],
                                name="fk_verification_codes_request_id_requests"),
        sa.PrimaryKeyConstraint("id", name="pk_verification_codes"),
    )
    op.create_index("ix_verification_codes_request_id", "verification_codes", ["request_id"])
    op.create_table(
        "request_exports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(40), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purge_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"],
                                name="fk_request_exports_request_id_requests"),
        sa.PrimaryKeyConstraint("id", name="pk_request_exports"),
        sa.UniqueConstraint("token", name="uq_request_exports_token"),
    )
    op.create_index("ix_request_exports_request_id", "request_exports", ["request_id"])
    op.create_table(
        "art19_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(120), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"],
                                name="fk_art19_notices_request_id_requests"),
        sa.PrimaryKeyConstraint("id", name="pk_art19_notices"),
    )
    op.create_index("ix_art19_notices_request_id", "art19_notices", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_art19_notices_request_id", table_name="art19_notices")
    op.drop_table("art19_notices")
    op.drop_index("ix_request_exports_request_id", table_name="request_exports")
    op.drop_table("request_exports")
    op.drop_index("ix_verification_codes_request_id", table_name="verification_codes")
    op.drop_table("verification_codes")
    op.drop_index("ix_requests_due_on", table_name="requests")
    op.drop_index("ix_requests_identity_key", table_name="requests")
    op.drop_index("ix_requests_state", table_name="requests")
    op.drop_table("requests")
