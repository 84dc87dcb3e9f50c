"""Telegram through python-telegram-bot; PTB's errors mapped to TransportError."""

from __future__ import annotations

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError

from bot.transports.base import Outgoing, Receipt, TransportError


def _markup(out: Outgoing) -> InlineKeyboardMarkup | None:
    if not out.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in out.buttons]
    )


class TelegramTransport:
    def __init__(self, bot: Bot):
        self.bot = bot

    async def send(self, out: Outgoing) -> Receipt:
        reply = ReplyParameters(int(out.reply_to), allow_sending_without_reply=True) if out.reply_to else None
        try:
            if out.extra.get("edit"):
                # Update a message shown before (the other worker's copy says who took it).
                await self.bot.edit_message_text(
                    chat_id=int(out.address), message_id=int(out.extra["edit"]), text=out.text,
                    reply_markup=_markup(out),
                )
                return Receipt(str(out.extra["edit"]))
            if out.copy:
                sent = await self.bot.copy_message(
                    chat_id=int(out.address), from_chat_id=out.copy["chat_id"],
                    message_id=out.copy["message_id"], reply_markup=_markup(out), reply_parameters=reply,
                )
            else:
                sent = await self.bot.send_message(
                    chat_id=int(out.address), text=out.text, reply_markup=_markup(out), reply_parameters=reply,
                )
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
            raise TransportError(f"telegram: {type(exc).__name__}") from None
        return Receipt(str(sent.message_id))
