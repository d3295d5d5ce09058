"""outbox: the deliveries recorded before the outbox become its sent rows

Before the outbox, each email sent was recorded in ``email_deliveries``. Those rows are
copied into the outbox as ``sent`` (reference, keyed recipient, template, language, message
id, when), and an outbox copy still waiting or failed for a message the old record shows as
sent is marked sent, as the code treated it. The outbox is then the one record that says
whether a message went out, so queueing one needs no second read (#19).

Revision ID: 0042_outbox_legacy
Revises: 0031_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0042_outbox_legacy"
down_revision = "0031_outbox"
branch_labels = None
depends_on = None  # not on 0007_notify: that would leave the heads alembic lists unequal to the store's

_SENT_BEFORE = ("SELECT 1 FROM email_deliveries d WHERE d.reference = outbox.reference "
                "AND d.recipient_key = outbox.recipient_key AND d.status = 'sent'")


def upgrade() -> None:
    if op.get_context().as_sql or not sa.inspect(op.get_bind()).has_table("email_deliveries"):
        return  # offline SQL starts from an empty store, and so does a store without the table: nothing to copy
    op.execute("UPDATE outbox SET status = 'sent', message = NULL, claimed_until = NULL, next_attempt_at = NULL, "
               f"sent_at = COALESCE(sent_at, created_at) WHERE status <> 'sent' AND EXISTS ({_SENT_BEFORE})")
    op.execute("INSERT INTO outbox (reference, recipient_key, template, lang, status, message, message_id, "
               "attempts, created_at, sent_at) "
               "SELECT d.reference, d.recipient_key, d.template, d.lang, 'sent', NULL, d.message_id, 1, d.at, d.at "
               "FROM email_deliveries d WHERE d.status = 'sent' AND NOT EXISTS (SELECT 1 FROM outbox o "
               "WHERE o.reference = d.reference AND o.recipient_key = d.recipient_key)")


def downgrade() -> None:
    """Nothing to undo: the copied rows record messages that were sent."""
