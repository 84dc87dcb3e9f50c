"""Encryption at rest for message texts, notes and names (Fernet, rotatable keys).

The column type lives here, beside the tables, because `models/` imports nothing else of ours.
The service installs its keys once at start with `use_keys()`; the first key encrypts, all decrypt,
which is what key rotation needs.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

_fernet: MultiFernet | None = None


def use_keys(keys: list[str]) -> None:
    """Install the data keys; the first one encrypts new values."""
    global _fernet
    _fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def new_key() -> str:
    return Fernet.generate_key().decode()


def _require() -> MultiFernet:
    if _fernet is None:
        raise RuntimeError("no data key installed: call models.crypto.use_keys() first")
    return _fernet


def encrypt(value: str) -> str:
    return _require().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _require().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise RuntimeError("a stored value cannot be decrypted with the configured TETTPA_DATA_KEY") from exc


def rotate(token: str) -> str:
    """Re-encrypt a stored value with the first (newest) key."""
    return _require().rotate(token.encode("ascii")).decode("ascii")


class EncryptedText(TypeDecorator):
    """A text column stored as a Fernet token; None stays None."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)
