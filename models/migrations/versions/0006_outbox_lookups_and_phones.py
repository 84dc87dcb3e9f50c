"""outbox rows count failed lookups; phone numbers and e-mails encrypted, with keyed hashes to find people

Revision ID: 0006_outbox
Revises: 0005_inbound_lease
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models import crypto

revision = "0006_outbox"
down_revision = "0006_edges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Columns and indexes are only added: phone and e-mail keep their VARCHAR type, and SQLite never copies
    # the person table (a copy would drop the table every other one refers to).
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lookups_failed", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("person", sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column("person", sa.Column("email_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index("ix_person_phone_hash", "person", ["phone_hash"], unique=False)
    op.create_index("ix_person_email_hash", "person", ["email_hash"], unique=True)
    _convert(lambda phone, email: (crypto.encrypt(phone) if phone else None,
                                   crypto.encrypt(email.strip().lower()) if email else None,
                                   crypto.blind(phone) if phone else None,
                                   crypto.blind(email.strip().lower()) if email else None))


def downgrade() -> None:
    _convert(lambda phone, email: (crypto.decrypt(phone) if phone else None,
                                   crypto.decrypt(email) if email else None, None, None))
    op.drop_index("ix_person_email_hash", table_name="person")
    op.drop_index("ix_person_phone_hash", table_name="person")
    op.drop_column("person", "email_hash")
    op.drop_column("person", "phone_hash")
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
