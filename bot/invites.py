"""Single-use invite codes: shown once, stored only as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def code_hash(code: str, secret_key: str) -> str:
    normalized = code.strip().upper().replace("-", "").replace(" ", "")
    return hmac.new(secret_key.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def invite_link(code: str, bot_username: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"
