"""inbound items know the process handling them, so two processes never handle one item at once

Revision ID: 0005_inbound_lease
Revises: 0004_outbox_holder
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0005_inbound_lease"
down_revision = "0004_outbox_holder"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.add_column(sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column("lease_until", models.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("holder")
