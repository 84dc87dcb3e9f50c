"""group activities with each youth's invitation and answer, and one-way notices

Revision ID: 0008_activities
Revises: 0007_programme
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.crypto
import models.types

revision = "0008_activities"
down_revision = "0007_programme"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", models.crypto.EncryptedText(), nullable=False),
        sa.Column("at", models.types.UTCDateTime(), nullable=False),
        sa.Column("place", models.crypto.EncryptedText(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("respond_by", models.types.UTCDateTime(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("remind_at", models.types.UTCDateTime(), nullable=True),
        sa.Column("nudge_at", models.types.UTCDateTime(), nullable=True),
        sa.Column("digest_at", models.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activity") as batch:
        for column in ("at", "status", "remind_at", "nudge_at", "digest_at"):
            batch.create_index(batch.f(f"ix_activity_{column}"), [column], unique=False)
    op.create_table(
        "activity_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("youth_id", sa.Integer(), nullable=False),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("answered_at", models.types.UTCDateTime(), nullable=True),
        sa.Column("answer_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("told", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"]),
        sa.ForeignKeyConstraint(["youth_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("activity_id", "youth_id"),
    )
    with op.batch_alter_table("activity_invite") as batch:
        for column in ("activity_id", "youth_id", "answer_source"):
            batch.create_index(batch.f(f"ix_activity_invite_{column}"), [column], unique=False)
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("sent_to", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("notice")
    op.drop_table("activity_invite")
    op.drop_table("activity")
