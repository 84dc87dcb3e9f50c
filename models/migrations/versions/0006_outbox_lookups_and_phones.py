"""outbox rows count failed lookups; phone numbers and e-mails encrypted, with keyed hashes to find people

Revision ID: 0006_outbox
Revises: 0005_inbound_lease
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_outbox"
down_revision = "0005_inbound_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lookups_failed", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lookups_failed")
