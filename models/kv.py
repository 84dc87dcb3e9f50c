"""Small named values the service keeps between runs (the Telegram update offset, the bot's username)."""

from __future__ import annotations

from sqlmodel import Field, Session, SQLModel


class KeyValue(SQLModel, table=True):
    __tablename__ = "kv"
    key: str = Field(primary_key=True)
    value: str


def get(session: Session, key: str, default: str | None = None) -> str | None:
    row = session.get(KeyValue, key)
    return row.value if row else default


def put(session: Session, key: str, value: str) -> None:
    row = session.get(KeyValue, key)
    if row is None:
        session.add(KeyValue(key=key, value=value))
    else:
        row.value = value
