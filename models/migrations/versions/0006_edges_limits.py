"""edges: purged log texts are marked, invites carry their issue time, login attempts their client, and
inbound items that can never be handled are parked

Revision ID: 0006_edges
Revises: 0005_inbound_lease
"""

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0006_edges"
down_revision = "0006_relay"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_log") as batch:
        batch.add_column(sa.Column("text_purged", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("invite_issued_at", models.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table("login_attempt") as batch:
        batch.add_column(sa.Column("client", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.create_index("ix_login_attempt_client_at", ["client", "at"])
    with op.batch_alter_table("inbound") as batch:
        batch.add_column(sa.Column("parked_at", models.types.UTCDateTime(), nullable=True))
    # Codes handed out before invites expired count from the upgrade: nobody's code dies at once.
    now = datetime.now(UTC).replace(tzinfo=None)  # stored naive UTC, as models.types.UTCDateTime does
    op.get_bind().execute(sa.text("UPDATE person SET invite_issued_at = :now "
                                  "WHERE invite_hash IS NOT NULL AND invite_used_at IS NULL"), {"now": now})


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.drop_column("parked_at")
    with op.batch_alter_table("login_attempt") as batch:
        batch.drop_index("ix_login_attempt_client_at")
        batch.drop_column("client")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("invite_issued_at")
    with op.batch_alter_table("contact_log") as batch:
        batch.drop_column("text_purged")
