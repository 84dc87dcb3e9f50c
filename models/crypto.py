"""Encryption at rest for message texts, notes, names, phone numbers and e-mails (Fernet, rotatable keys),
and keyed hashes (HMAC-SHA256) that find a person by phone number or e-mail without storing either in clear.

The column type lives here, beside the tables, because `models/` imports nothing else of ours.
The service installs its keys once at start with `use_keys()`; the first key encrypts, all decrypt,
which is what key rotation needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import String, Text
from sqlalchemy.types import TypeDecorator

_fernet: MultiFernet | None = None
_hash_keys: list[bytes] = []
HASH_LABEL = b"tettpa lookup hash v1"


def use_keys(keys: list[str]) -> None:
    """Install the data keys; the first one encrypts new values and keys new hashes."""
    global _fernet, _hash_keys
    _fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    _hash_keys = [_hash_key(k) for k in keys]


def _hash_key(key: str | bytes) -> bytes:
    """The lookup-hash key of a data key: derived, never the data key itself, so one cannot give the other."""
    raw = base64.urlsafe_b64decode(key.encode() if isinstance(key, str) else key)
    return hmac.new(raw, HASH_LABEL, hashlib.sha256).digest()


def blind(value: str) -> str:
    """The keyed hash a phone number or e-mail is found by (with the first data key)."""
    return blinds(value)[0]


def blinds(value: str) -> list[str]:
    """The value's keyed hash under every installed data key: during a rotation a row hashed with an older
    key is still found, and `tettpa keys rotate` re-hashes every row with the first."""
    if not _hash_keys:
        raise RuntimeError("no data key installed: call models.crypto.use_keys() first")
    return [hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest() for key in _hash_keys]


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


class EncryptedString(EncryptedText):
    """The same, on a VARCHAR column: a column that was a plain string (phone, e-mail) is encrypted in place,
    with no change of type (on SQLite that would copy the person table that so much refers to)."""

    impl = String
    cache_ok = True
