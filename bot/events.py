"""What the edges hand the core: plain data, no Telegram or Twilio types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Incoming:
    """One message from a person, on any channel."""

    source_key: str  # tg:<update_id> / sms:<MessageSid>: handled once per key
    channel: str  # telegram | sms
    address: str  # telegram chat id, or the sender's E.164 number
    user_id: int | None = None  # telegram user id
    text: str | None = None
    media: dict | None = None  # telegram: {"kind": "photo", "chat_id": .., "message_id": ..}
    reply_to: str | None = None  # the id of the message this answers, on the same channel
    # telegram: the data of the first button under the message answered ("take:12"), if it had one
    reply_to_button: str | None = None
    language_code: str | None = None
    # When the person wrote it, by the channel's clock (Telegram's date, the SMS webhook's arrival); None: now
    sent_at: datetime | None = None
