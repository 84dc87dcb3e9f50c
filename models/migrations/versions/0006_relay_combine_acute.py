"""messages past a burst are combined into one relay at a due time; an acute message nobody takes repeats

Revision ID: 0006_relay
Revises: 0005_inbound_lease
"""

import sqlalchemy as sa
from alembic import op

import models.types

revision = "0006_relay"
down_revision = "0005_inbound_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("combine_at", models.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("carried_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("acute_repeat_at", models.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("acute_step", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_message_combine_at", ["combine_at"])
        batch.create_index("ix_message_acute_repeat_at", ["acute_repeat_at"])


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_index("ix_message_acute_repeat_at")
        batch.drop_index("ix_message_combine_at")
        batch.drop_column("acute_step")
        batch.drop_column("acute_repeat_at")
        batch.drop_column("carried_by")
        batch.drop_column("combine_at")
