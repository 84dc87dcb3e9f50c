"""outbox rows count failed lookups; phone numbers and e-mails encrypted, with keyed hashes to find people

Revision ID: 0006_outbox
Revises: 0005_inbound_lease
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.crypto
from models import crypto

revision = "0006_outbox"
down_revision = "0005_inbound_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lookups_failed", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column("email_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.alter_column("phone", type_=models.crypto.EncryptedText(), existing_nullable=True)
        batch.alter_column("email", type_=models.crypto.EncryptedText(), existing_nullable=True)
        batch.create_index("ix_person_phone_hash", ["phone_hash"], unique=False)
        batch.create_index("ix_person_email_hash", ["email_hash"], unique=True)
    _convert(lambda phone, email: (crypto.encrypt(phone) if phone else None,
                                   crypto.encrypt(email.strip().lower()) if email else None,
                                   crypto.blind(phone) if phone else None,
                                   crypto.blind(email.strip().lower()) if email else None))


def downgrade() -> None:
    _convert(lambda phone, email: (crypto.decrypt(phone) if phone else None,
                                   crypto.decrypt(email) if email else None, None, None))
    with op.batch_alter_table("person") as batch:
        batch.drop_index("ix_person_email_hash")
        batch.drop_index("ix_person_phone_hash")
        batch.alter_column("email", type_=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=True)
        batch.alter_column("phone", type_=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=True)
        batch.drop_column("email_hash")
        batch.drop_column("phone_hash")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lookups_failed")


def _convert(change) -> None:
    """Rewrite every person's phone and e-mail (and their hashes) in plain SQL, as they are stored."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, phone, email FROM person WHERE phone IS NOT NULL OR email IS NOT NULL")).all()
    for person_id, phone, email in rows:
        phone, email, phone_hash, email_hash = change(phone, email)
        conn.execute(sa.text("UPDATE person SET phone = :phone, email = :email, phone_hash = :ph, "
                             "email_hash = :eh WHERE id = :id"),
                     {"phone": phone, "email": email, "ph": phone_hash, "eh": email_hash, "id": person_id})
