"""the programme's year: units, memberships, follow-up periods, OT status codes, consent, deactivation

An existing database gets one unit, and every worker, coordinator and youth in it belongs to that unit,
so a county that ran the service before units existed sees what it saw before.

Revision ID: 0007_programme
Revises: 0005_inbound_lease
"""

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0007_programme"
down_revision = "0006_outbox"
branch_labels = None
depends_on = None

FIRST_UNIT = "Oppfølgingstjenesten"


def upgrade() -> None:
    unit = op.create_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("ot_contact", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "membership",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )
    with op.batch_alter_table("membership") as batch:
        batch.create_index(batch.f("ix_membership_unit_id"), ["unit_id"], unique=False)
    op.create_table(
        "follow_up",
        sa.Column("youth_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Date(), nullable=True),
        sa.Column("end", sa.Date(), nullable=True),
        sa.Column("notice_14_for", sa.Date(), nullable=True),
        sa.Column("notice_2_for", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["youth_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("youth_id"),
    )
    op.create_table(
        "status_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("youth_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("recorded_at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["youth_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("status_change") as batch:
        batch.create_index(batch.f("ix_status_change_youth_id"), ["youth_id"], unique=False)
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("youth_id", sa.Integer(), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("given_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("how", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("recorded_at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["youth_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent") as batch:
        batch.create_index(batch.f("ix_consent_youth_id"), ["youth_id"], unique=False)
    op.create_table(
        "deactivation",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )
    _one_unit_for_everyone(unit)


def _one_unit_for_everyone(unit: sa.Table) -> None:
    """People already there belong to one unit (none is made for an empty database)."""
    bind = op.get_bind()
    person = sa.table("person", sa.column("id", sa.Integer()), sa.column("role", sa.String()))
    ids = [row.id for row in bind.execute(
        sa.select(person.c.id).where(person.c.role.in_(("worker", "coordinator", "youth"))).order_by(person.c.id)
    )]
    if not ids:
        return
    bind.execute(unit.insert().values(name=FIRST_UNIT, ot_contact="", created_at=datetime.now(UTC)))
    unit_id = bind.execute(sa.select(unit.c.id).where(unit.c.name == FIRST_UNIT)).scalar_one()
    membership = sa.table("membership", sa.column("person_id", sa.Integer()), sa.column("unit_id", sa.Integer()))
    bind.execute(membership.insert(), [{"person_id": i, "unit_id": unit_id} for i in ids])


def downgrade() -> None:
    for index, table in (("ix_consent_youth_id", "consent"), ("ix_status_change_youth_id", "status_change"),
                         ("ix_membership_unit_id", "membership")):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(index)
    for table in ("deactivation", "consent", "status_change", "follow_up", "membership", "unit"):
        op.drop_table(table)
