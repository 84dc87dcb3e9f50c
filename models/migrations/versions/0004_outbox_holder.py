"""outbox rows know their holder, when a request for them went out, and whether they are bulk; one line again

Revision ID: 0004_outbox_holder
Revises: 0002_dashboard, 0002_schedules, 0003_lease
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0004_outbox_holder"
# Merges the branches that grew side by side, so from here on `upgrade head` has one head to reach.
down_revision = ("0002_dashboard", "0002_schedules", "0003_lease")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column("tried_at", models.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("bulk", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("bulk")
        batch.drop_column("tried_at")
        batch.drop_column("holder")
