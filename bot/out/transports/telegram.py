"""Telegram through python-telegram-bot; PTB's errors mapped to TransportError."""

from __future__ import annotations

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError

from bot.out.transports.base import Outgoing, Receipt, TransportError

# What PTB raises when a 2xx answer is not JSON (telegram/request/_baserequest.py, parse_json_payload).
UNREADABLE = "Invalid server response"


def _markup(out: Outgoing) -> InlineKeyboardMarkup | None:
    if not out.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in out.buttons]
    )


NOT_MODIFIED = "message is not modified"  # Telegram's answer to an edit that changes nothing


class TelegramTransport:
    def __init__(self, bot: Bot):
        self.bot = bot

    async def send(self, out: Outgoing) -> Receipt:
        reply = ReplyParameters(int(out.reply_to), allow_sending_without_reply=True) if out.reply_to else None
        # Built before the request, so a bad value fails here and not as an "unreadable answer" below.
        chat_id, edit, markup = int(out.address), out.extra.get("edit"), _markup(out)
        try:
            if edit:
                # Update a message shown before (the other worker's copy says who took it).
                try:
                    await self.bot.edit_message_text(
                        chat_id=chat_id, message_id=int(edit), text=out.text, reply_markup=markup,
                    )
                except BadRequest as exc:
                    # An edit tried again (the process was killed after Telegram took it, before the outbox
                    # recorded it) finds the message as it should be: done, not a failure to report.
                    if NOT_MODIFIED not in exc.message.lower():
                        raise
                return Receipt(str(edit))
            if out.copy:
                sent = await self.bot.copy_message(
                    chat_id=chat_id, from_chat_id=out.copy["chat_id"],
                    message_id=out.copy["message_id"], reply_markup=markup, reply_parameters=reply,
                )
            else:
                sent = await self.bot.send_message(
                    chat_id=chat_id, text=out.text, reply_markup=markup, reply_parameters=reply,
                )
            return Receipt(str(sent.message_id))
        except RetryAfter as exc:
            retry = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else exc.retry_after
            raise TransportError("telegram flood control", retry_after=float(retry)) from None
        except Forbidden as exc:
            # The person blocked the bot or deleted their account: no retry will get through.
            raise TransportError(f"telegram refused: {exc.message}", permanent=True) from None
        except (BadRequest, ChatMigrated) as exc:
            # A malformed request fails the same way every time (chat not found, message too long).
            raise TransportError(f"telegram bad request: {exc.message}", permanent=True) from None
        except InvalidToken:
            raise TransportError("telegram token refused") from None
        except TelegramError as exc:  # NetworkError, TimedOut: passing
            if exc.message == UNREADABLE:
                return Receipt(None)  # Telegram answered 2xx with a body PTB could not parse: it has the message
            raise TransportError(f"telegram: {type(exc).__name__}") from None
        except Exception:
            # PTB turns every failure of the request itself into a TelegramError; anything else came from
            # reading a 2xx answer, so Telegram took the message and sending it again would be a second copy.
            return Receipt(None)
