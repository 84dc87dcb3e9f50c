"""Alembic on SQLModel.metadata, configured in code so no alembic.ini has to be found at run time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "heads")  # parallel branches may each add tables


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the difference between the tables and the database."""
    command.revision(alembic_config(engine), message=message, autogenerate=True)
