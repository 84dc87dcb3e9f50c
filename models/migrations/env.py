"""Alembic environment: migrations run on the engine the service hands over."""

from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables)

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
