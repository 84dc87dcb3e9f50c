"""The Telegram stand-in, exercised with the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import threading
import time

import httpx
import pytest
import telegram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from standins.server import BackgroundServer
from standins.telegram import TelegramStandIn
from tests.conftest import eventually

YOUTH = 1001
WORKER = 2002


@pytest.fixture
def standin():
    standin = TelegramStandIn()
    standin.add_user(YOUTH, "Ada", username="ada_l", language_code="nb")
    standin.add_user(WORKER, "Kari")
    yield standin
    standin.close()


@pytest.fixture
def server(standin):
    with BackgroundServer(standin.app) as server:
        yield server


@pytest.fixture
async def bot(standin, server):
    bot = telegram.Bot(standin.token, base_url=f"{server.url}/bot", base_file_url=f"{server.url}/file/bot")
    async with bot:
        yield bot


def api_url(server, standin, method):
    return f"{server.url}/bot{standin.token}/{method}"


def retry_after_seconds(exc: telegram.error.RetryAfter) -> float:
    # PTB 22 gives an int (with a deprecation warning) or a timedelta, depending on PTB_TIMEDELTA.
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else value


# --- basics ----------------------------------------------------------------------------------


async def test_it_answers_get_me(bot, standin):
    me = await bot.get_me()
    assert me.is_bot and me.username == "TettPaBot" and me.id == 123456
    assert standin.violations == []


async def test_it_delivers_a_user_message_and_offset_confirms_it(bot, standin):
    queued = standin.user_sends(YOUTH, "/start hei")

    updates = await bot.get_updates(timeout=1)
    assert [u.update_id for u in updates] == [queued["update_id"]]
    message = updates[0].message
    assert message.text == "/start hei" and message.chat.id == YOUTH and message.from_user.first_name == "Ada"
    # Telegram marks commands itself; PTB's CommandHandler depends on it.
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6

    # Not confirmed yet: the same update comes again.
    assert [u.update_id for u in await bot.get_updates()] == [queued["update_id"]]
    # offset confirms every update below it; they are gone.
    assert await bot.get_updates(offset=queued["update_id"] + 1) == ()
    assert standin.pending_updates() == []
    assert standin.violations == []


async def test_it_long_polls_until_an_update_arrives_from_another_thread(bot, standin):
    threading.Timer(0.3, standin.user_sends, args=(YOUTH, "late")).start()
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    assert [u.message.text for u in updates] == ["late"]
    assert 0.2 < time.monotonic() - started < 3


async def test_it_answers_a_waiting_long_poll_as_soon_as_an_update_is_queued(bot, standin, monkeypatch):
    """Telegram answers a waiting getUpdates at once; the stand-in is woken, it does not find it on its next look
    (a look every 20 ms added 10 ms to every relay a benchmark measured)."""
    monkeypatch.setattr(TelegramStandIn, "POLL_STEP", 600.0)  # no next look within the test's life
    threading.Timer(0.3, standin.user_sends, args=(YOUTH, "at once")).start()
    updates = await asyncio.wait_for(bot.get_updates(timeout=300, read_timeout=310), timeout=30)
    assert [u.message.text for u in updates] == ["at once"]


async def test_it_honours_limit_and_negative_offset(bot, standin):
    for text in ("one", "two", "three"):
        standin.user_sends(YOUTH, text)
    assert [u.message.text for u in await bot.get_updates(limit=2)] == ["one", "two"]
    assert [u.message.text for u in await bot.get_updates(offset=-1)] == ["three"]
    assert [u.message.text for u in await bot.get_updates()] == ["three"]


async def test_it_records_sent_messages_in_sent_to_and_history(bot, standin):
    standin.user_sends(YOUTH, "hei")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ja", callback_data="yes")]])
    sent = await bot.send_message(YOUTH, "Hei, <b>Ada</b>!", parse_mode="HTML", reply_markup=keyboard)

    assert sent.text == "Hei, Ada!" and sent.from_user.is_bot
    assert sent.entities[0].type == "bold" and (sent.entities[0].offset, sent.entities[0].length) == (5, 3)
    assert sent.reply_markup == keyboard
    history = standin.history(YOUTH)
    assert [(m["from"]["is_bot"], m.get("text")) for m in history] == [(False, "hei"), (True, "Hei, Ada!")]
    assert [m["message_id"] for m in history] == [1, 2]  # one id sequence per chat
    assert standin.sent_to(YOUTH) == history[1:]
    assert standin.sent_to(WORKER) == []
    assert standin.calls("sendMessage")[0][1]["chat_id"] == YOUTH  # decoded to an int


async def test_it_copies_a_photo_message_to_another_chat(bot, standin):
    update = standin.user_sends(YOUTH, photo=True, caption="se her")
    original = update["message"]
    assert len(original["photo"]) == 3 and original["caption"] == "se her"

    copied = await bot.copy_message(WORKER, YOUTH, original["message_id"])
    recaptioned = await bot.copy_message(WORKER, YOUTH, original["message_id"], caption="Fra Ada: se her")

    worker_view = standin.sent_to(WORKER)
    assert [m["message_id"] for m in worker_view] == [copied.message_id, recaptioned.message_id]
    assert worker_view[0]["photo"] == original["photo"] and worker_view[0]["caption"] == "se her"
    assert worker_view[1]["caption"] == "Fra Ada: se her"
    assert "forward_origin" not in worker_view[0]  # a copy does not say where it came from

    # The file behind it can be fetched like from Telegram.
    file = await bot.get_file(original["photo"][-1]["file_id"])
    assert (await file.download_as_bytearray()).startswith(b"stand-in photo")
    assert standin.violations == []


async def test_it_forwards_with_origin_and_accepts_uploads_and_file_ids(bot, standin):
    voice = standin.user_sends(YOUTH, voice=b"OggS voice")["message"]
    forwarded = await bot.forward_message(WORKER, YOUTH, voice["message_id"])
    assert forwarded.forward_origin.sender_user.id == YOUTH
    assert forwarded.voice.file_unique_id == voice["voice"]["file_unique_id"]

    uploaded = await bot.send_document(WORKER, document=b"%PDF-1.4", filename="plan.pdf", caption="Plan")
    assert uploaded.document.file_name == "plan.pdf" and uploaded.caption == "Plan"
    resent = await bot.send_document(YOUTH, document=uploaded.document.file_id)
    assert resent.document.file_unique_id == uploaded.document.file_unique_id
    file = await bot.get_file(resent.document.file_id)
    assert await file.download_as_bytearray() == b"%PDF-1.4"

    with pytest.raises(telegram.error.BadRequest, match="(?i)wrong file identifier"):
        await bot.send_photo(YOUTH, photo="no-such-file-id")
    with pytest.raises(telegram.error.BadRequest, match="(?i)can't use file of type Voice as Photo"):
        await bot.send_photo(YOUTH, photo=voice["voice"]["file_id"])
    assert standin.violations == []


async def test_it_sets_reply_to_message_from_reply_parameters(bot, standin):
    question = standin.user_sends(YOUTH, "Kan vi møtes i morgen?")["message"]
    reply = await bot.send_message(
        YOUTH, "Ja!", reply_parameters=ReplyParameters(question["message_id"], quote="i morgen")
    )
    assert reply.reply_to_message.message_id == question["message_id"]
    assert reply.reply_to_message.text == "Kan vi møtes i morgen?"
    assert reply.quote.text == "i morgen"
    assert standin.sent_to(YOUTH)[0]["reply_to_message"]["message_id"] == question["message_id"]

    with pytest.raises(telegram.error.BadRequest, match="(?i)message to be replied not found"):
        await bot.send_message(YOUTH, "?", reply_parameters=ReplyParameters(999))
    without = await bot.send_message(
        YOUTH, "ok", reply_parameters=ReplyParameters(999, allow_sending_without_reply=True)
    )
    assert without.reply_to_message is None

    # The user can answer a bot message too.
    answer = standin.user_sends(YOUTH, "Supert", reply_to_message_id=reply.message_id)["message"]
    assert answer["reply_to_message"]["text"] == "Ja!"
    assert "reply_to_message" not in answer["reply_to_message"]  # never nested


async def test_it_edits_messages_and_reports_not_modified(bot, standin):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ja", callback_data="yes")]])
    sent = await bot.send_message(YOUTH, "Møte kl 12?", reply_markup=keyboard)
    edited = await bot.edit_message_text(
        "Møte kl 13?", chat_id=YOUTH, message_id=sent.message_id, reply_markup=keyboard
    )
    assert edited.text == "Møte kl 13?" and edited.edit_date is not None

    with pytest.raises(telegram.error.BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text(
            "Møte kl 13?", chat_id=YOUTH, message_id=sent.message_id, reply_markup=keyboard
        )
    await bot.edit_message_reply_markup(chat_id=YOUTH, message_id=sent.message_id)

    [current] = standin.sent_to(YOUTH)
    assert current["text"] == "Møte kl 13?" and "reply_markup" not in current

    user_message = standin.user_sends(YOUTH, "hei")["message"]
    with pytest.raises(telegram.error.BadRequest, match="(?i)message can't be edited"):
        await bot.edit_message_text("x", chat_id=YOUTH, message_id=user_message["message_id"])
    assert standin.violations == []


async def test_it_delivers_button_presses_and_accepts_one_answer(bot, standin):
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Ja", callback_data="yes"), InlineKeyboardButton("Nei", callback_data="no")]]
    )
    sent = await bot.send_message(YOUTH, "Kommer du?", reply_markup=keyboard)
    with pytest.raises(ValueError, match="no button"):
        standin.user_presses(YOUTH, sent.message_id, "maybe")

    standin.user_presses(YOUTH, sent.message_id, "no")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query.data == "no" and query.message.message_id == sent.message_id and query.from_user.id == YOUTH

    assert await bot.answer_callback_query(query.id, text="Takk")
    with pytest.raises(telegram.error.BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(query.id)
    assert standin.calls("answerCallbackQuery")[0][1] == {"callback_query_id": query.id, "text": "Takk"}


async def test_it_stores_commands_and_chat_actions(bot, standin):
    await bot.set_my_commands([("start", "Start"), ("hjelp", "Hjelp")], language_code="nb")
    assert [c.command for c in await bot.get_my_commands(language_code="nb")] == ["start", "hjelp"]
    assert standin.my_commands(language_code="nb")[1] == {"command": "hjelp", "description": "Hjelp"}
    await bot.delete_my_commands(language_code="nb")
    assert await bot.get_my_commands(language_code="nb") == ()

    with pytest.raises(telegram.error.BadRequest):
        await bot.set_my_commands([("Start-Now", "bad name")])
    assert await bot.send_chat_action(YOUTH, "typing")
    assert standin.violations == ["setMyCommands: Bad Request: BOT_COMMAND_INVALID"]


# --- validation ------------------------------------------------------------------------------


def test_it_refuses_an_unknown_field(standin, server):
    response = httpx.post(
        api_url(server, standin, "sendMessage"), data={"chat_id": YOUTH, "text": "hei", "colour": "red"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error_code": 400,
        "description": 'Bad Request: unknown parameter "colour"',
    }
    assert standin.violations == ['sendMessage: Bad Request: unknown parameter "colour"']
    assert standin.sent_to(YOUTH) == []


def test_it_refuses_a_missing_required_field(standin, server):
    response = httpx.post(
        api_url(server, standin, "copyMessage"), data={"chat_id": WORKER, "from_chat_id": YOUTH}
    )
    assert response.status_code == 400
    assert 'parameter "message_id" is required' in response.json()["description"]
    assert standin.violations == [f"copyMessage: {response.json()['description']}"]


def test_it_refuses_wrong_types_and_malformed_objects(standin, server):
    url = api_url(server, standin, "sendMessage")
    wrong_bool = httpx.post(url, data={"chat_id": YOUTH, "text": "x", "disable_notification": "maybe"})
    assert 'parameter "disable_notification" must be a Boolean' in wrong_bool.json()["description"]

    bad_json = httpx.post(url, data={"chat_id": YOUTH, "text": "x", "reply_markup": "{not json"})
    assert bad_json.status_code == 400

    # JSON-serialized objects are checked against the spec's type definitions.
    button = '{"inline_keyboard": [[{"text": "Ja", "callback_data": "y", "colour": "red"}]]}'
    unknown_nested = httpx.post(url, data={"chat_id": YOUTH, "text": "x", "reply_markup": button})
    assert 'unknown field "colour" in InlineKeyboardButton' in unknown_nested.json()["description"]

    no_action = httpx.post(
        url, data={"chat_id": YOUTH, "text": "x", "reply_markup": '{"inline_keyboard": [[{"text": "Ja"}]]}'}
    )
    assert "Text buttons are unallowed" in no_action.json()["description"]
    assert len(standin.violations) == 4
    assert standin.sent_to(YOUTH) == []


async def test_it_refuses_empty_text_and_broken_markup(bot, standin):
    with pytest.raises(telegram.error.BadRequest, match="(?i)message text is empty"):
        await bot.send_message(YOUTH, "  \n ")
    with pytest.raises(telegram.error.BadRequest, match="(?i)message is too long"):
        await bot.send_message(YOUTH, "x" * 4097)
    with pytest.raises(telegram.error.BadRequest, match="(?i)reserved and must be escaped"):
        await bot.send_message(YOUTH, "Ses kl. 12!", parse_mode="MarkdownV2")
    with pytest.raises(telegram.error.BadRequest, match="(?i)Unsupported start tag"):
        await bot.send_message(YOUTH, "<blink>hei</blink>", parse_mode="HTML")
    with pytest.raises(telegram.error.BadRequest, match="(?i)end tag"):
        await bot.send_message(YOUTH, "<b>hei", parse_mode="HTML")
    assert len(standin.violations) == 5

    ok = await bot.send_message(YOUTH, r"*Ses* kl\. 12\!", parse_mode="MarkdownV2")
    assert ok.text == "Ses kl. 12!" and ok.entities[0].type == "bold"


def test_it_answers_unknown_method_with_404(standin, server):
    response = httpx.post(api_url(server, standin, "sendTelepathy"), data={"chat_id": YOUTH})
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert standin.violations and standin.violations[0].startswith("sendTelepathy: Not Found")


def test_it_answers_a_wrong_token_with_401(standin, server):
    response = httpx.post(f"{server.url}/bot999:WRONG/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


def test_it_accepts_json_bodies_and_query_strings_like_the_real_api(standin, server):
    by_json = httpx.post(
        api_url(server, standin, "sendMessage"),
        json={
            "chat_id": YOUTH,
            "text": "hei",
            "reply_markup": {"inline_keyboard": [[{"text": "Ja", "callback_data": "yes"}]]},
        },
    )
    assert by_json.json()["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "yes"
    by_query = httpx.get(api_url(server, standin, "sendMessage"), params={"chat_id": YOUTH, "text": "hallo"})
    assert by_query.json()["result"]["text"] == "hallo"
    assert httpx.get(api_url(server, standin, "getme")).json()["ok"]  # method names ignore case
    assert standin.violations == []


def test_it_answers_other_spec_methods_with_true(standin, server):
    response = httpx.post(api_url(server, standin, "setMyDescription"), data={"description": "Tett på"})
    assert response.json() == {"ok": True, "result": True}
    assert standin.calls("setMyDescription") == [("setMyDescription", {"description": "Tett på"})]


async def test_it_unknown_chat_is_not_found(bot, standin):
    with pytest.raises(telegram.error.BadRequest, match="(?i)chat not found"):
        await bot.send_message(4242, "hei")
    with pytest.raises(telegram.error.BadRequest, match="(?i)chat not found"):
        await bot.send_message("@ada_l", "hei")
    assert standin.violations == []  # a state error, not a malformed request


async def test_it_produces_objects_that_match_the_spec(bot, standin, server):
    standin.user_sends(YOUTH, "hei")
    for media in ("photo", "voice", "document", "sticker"):
        standin.user_sends(YOUTH, **{media: True})
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ja", callback_data="yes")]])
    sent = await bot.send_message(YOUTH, "svar", reply_markup=keyboard, reply_parameters=ReplyParameters(1))
    standin.user_presses(YOUTH, sent.message_id, "yes")
    standin.block(YOUTH)
    await bot.forward_message(WORKER, YOUTH, 2)

    for message in standin.history(YOUTH) + standin.history(WORKER):
        assert standin.spec_problems(message, "Message") == [], message
    for update in standin.pending_updates():
        assert standin.spec_problems(update, "Update") == [], update
    async with httpx.AsyncClient() as client:
        me = (await client.get(api_url(server, standin, "getMe"))).json()["result"]
        info = (await client.get(api_url(server, standin, "getWebhookInfo"))).json()["result"]
    assert standin.spec_problems(me, "User") == []
    assert standin.spec_problems(info, "WebhookInfo") == []


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
async def test_it_injects_429_as_retry_after(bot, standin):
    standin.fail_next("sendMessage", retry_after=7)
    with pytest.raises(telegram.error.RetryAfter) as caught:
        await bot.send_message(YOUTH, "hei")
    assert retry_after_seconds(caught.value) == 7
    await bot.send_message(YOUTH, "hei")  # only the next call failed
    assert len(standin.sent_to(YOUTH)) == 1


async def test_it_injects_500_as_network_error(bot, standin):
    standin.fail_next("sendMessage", times=2)
    for _ in range(2):
        with pytest.raises(telegram.error.NetworkError) as caught:
            await bot.send_message(YOUTH, "hei")
        assert type(caught.value) is telegram.error.NetworkError  # not BadRequest, its subclass
    assert standin.sent_to(YOUTH) == []
    standin.fail_next("sendMessage", status=400, description="Bad Request: something odd")
    with pytest.raises(telegram.error.BadRequest, match="(?i)something odd"):
        await bot.send_message(YOUTH, "hei")


async def test_it_drops_connections_and_delays_on_request(bot, standin):
    standin.fail_next("sendMessage", drop_connection=True)
    with pytest.raises(telegram.error.NetworkError):
        await bot.send_message(YOUTH, "hei")
    assert standin.sent_to(YOUTH) == []

    standin.fail_next("sendMessage", status=200, delay=0.3)
    started = time.monotonic()
    await bot.send_message(YOUTH, "sent, but slowly")
    assert time.monotonic() - started >= 0.3
    assert [m["text"] for m in standin.sent_to(YOUTH)] == ["sent, but slowly"]


async def test_it_answers_forbidden_when_the_user_blocked_the_bot(bot, standin):
    standin.block(YOUTH)
    with pytest.raises(telegram.error.Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(YOUTH, "hei")
    [update] = await bot.get_updates()
    assert update.my_chat_member.new_chat_member.status == "kicked"

    standin.user_sends(YOUTH, "/start")  # writing again unblocks, like "Restart"
    await bot.send_message(YOUTH, "Velkommen tilbake")
    assert [m["text"] for m in standin.sent_to(YOUTH)] == ["Velkommen tilbake"]


# --- webhook ---------------------------------------------------------------------------------


async def test_it_posts_updates_to_a_webhook_with_the_secret_header(bot, standin):
    received: list[tuple[str | None, dict]] = []
    failures = {"left": 1}  # the first delivery fails, so Telegram-like retrying is exercised

    async def receive(request: Request) -> Response:
        if failures["left"]:
            failures["left"] -= 1
            return Response(status_code=500)
        received.append((request.headers.get("x-telegram-bot-api-secret-token"), await request.json()))
        return Response()

    receiver = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
    with BackgroundServer(receiver) as hook_server:
        assert await bot.set_webhook(f"{hook_server.url}/hook", secret_token="s3cret-Token_1")
        info = await bot.get_webhook_info()
        assert info.url == f"{hook_server.url}/hook"

        queued = standin.user_sends(YOUTH, "hei via webhook")
        await eventually(lambda: received, "the webhook's call")
        assert received == [("s3cret-Token_1", queued)]
        assert failures["left"] == 0

        with pytest.raises(telegram.error.Conflict, match="(?i)webhook is active"):
            await bot.get_updates()

        assert await bot.delete_webhook()
        standin.user_sends(YOUTH, "tilbake til polling")
        assert [u.message.text for u in await bot.get_updates()] == ["tilbake til polling"]
        assert (await bot.get_webhook_info()).url == ""
    assert standin.violations == []


async def test_it_refuses_a_bad_webhook_secret(bot, standin):
    with pytest.raises(telegram.error.BadRequest, match="(?i)secret token"):
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="not allowed!")


async def test_it_keeps_updates_for_polling_when_drop_pending_updates_is_false(bot, standin):
    standin.user_sends(YOUTH, "one")
    await bot.delete_webhook(drop_pending_updates=False)
    assert len(await bot.get_updates()) == 1
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


# --- threads, mounting, a whole PTB application ----------------------------------------------


async def test_it_wait_sent_works_across_threads(bot, standin):
    result: dict = {}

    def waiter():
        try:
            result["sent"] = standin.wait_sent(YOUTH, count=2, timeout=5)
        except AssertionError as exc:  # pragma: no cover - reported below
            result["error"] = exc

    thread = threading.Thread(target=waiter)
    thread.start()
    await bot.send_message(YOUTH, "en")
    await asyncio.sleep(0.1)
    await bot.send_message(YOUTH, "to")
    await asyncio.to_thread(thread.join, 5)
    assert [m["text"] for m in result["sent"]] == ["en", "to"]

    with pytest.raises(AssertionError, match=r"expected at least 3 bot message.*'en', 'to'"):
        await asyncio.to_thread(standin.wait_sent, YOUTH, 3, 0.2)


async def test_it_works_mounted_under_a_prefix(standin):
    outer = Starlette(routes=[Mount("/sandbox/telegram", app=standin.app)])
    with BackgroundServer(outer) as server:
        base = f"{server.url}/sandbox/telegram"
        async with telegram.Bot(
            standin.token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot"
        ) as bot:
            photo = standin.user_sends(YOUTH, photo=b"\xff\xd8 jpeg")["message"]["photo"][-1]
            file = await bot.get_file(photo["file_id"])
            assert await file.download_as_bytearray() == b"\xff\xd8 jpeg"
            await bot.send_message(YOUTH, "hei")
    assert [m["text"] for m in standin.sent_to(YOUTH)] == ["hei"]


async def test_it_serves_a_polling_ptb_application(standin, server):
    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"Hei {update.effective_user.first_name}!")

    application = (
        ApplicationBuilder()
        .token(standin.token)
        .base_url(f"{server.url}/bot")
        .base_file_url(f"{server.url}/file/bot")
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    async with application:
        await application.start()
        await application.updater.start_polling(
            poll_interval=0, timeout=1, allowed_updates=telegram.Update.ALL_TYPES
        )
        standin.user_sends(YOUTH, "/start")
        sent = await standin.wait_sent_async(YOUTH, timeout=10)
        await application.updater.stop()
        await application.stop()
    assert sent[0]["text"] == "Hei Ada!"
    assert standin.pending_updates() == []  # the updater confirmed what it handled
    assert standin.violations == []


def test_it_ignores_unknown_fields_like_telegram_when_not_strict():
    lenient = TelegramStandIn(strict=False)
    lenient.add_user(YOUTH, "Ada")
    with BackgroundServer(lenient.app) as server:
        response = httpx.post(
            api_url(server, lenient, "sendMessage"), data={"chat_id": YOUTH, "text": "hei", "colour": "red"}
        )
        missing = httpx.post(api_url(server, lenient, "sendMessage"), data={"chat_id": YOUTH})
    assert response.json()["result"]["text"] == "hei"
    assert missing.status_code == 400  # required fields and types are still enforced
    assert lenient.violations == ["sendMessage: Bad Request: message text is empty"]


def test_it_updates_an_existing_user_and_keeps_the_chat(standin):
    standin.user_sends(YOUTH, "hei")
    standin.add_user(YOUTH, "Ada", last_name="Lovelace")
    message = standin.user_sends(YOUTH, "igjen")["message"]
    assert message["from"]["last_name"] == "Lovelace" and message["chat"]["last_name"] == "Lovelace"
    assert [m["text"] for m in standin.history(YOUTH)] == ["hei", "igjen"]


async def test_it_refuses_beyond_telegrams_limits_and_counts_which_limit(standin, server):
    """With rate_limits: 30 a second in all, one a second per chat; each refusal is a 429 with retry_after, and
    the benchmarks read how many were refused for a chat's one a second rather than the 30."""
    now = [1000.0]
    standin.rate_clock = lambda: now[0]  # no time passes unless told
    standin.rate_limits = True
    chats = [5000 + n for n in range(31)]
    for chat in chats:
        standin.add_user(chat, f"U{chat}")
    async with httpx.AsyncClient() as http:
        async def send(chat):
            return await http.post(api_url(server, standin, "sendMessage"), json={"chat_id": chat, "text": "Hei"})

        for chat in chats[:30]:
            assert (await send(chat)).status_code == 200
        refused = await send(chats[30])  # the 31st in the same instant: the bucket of 30 is empty
        assert refused.status_code == 429
        assert refused.json()["parameters"]["retry_after"] >= 1
        assert (standin.refused_for_rate, standin.refused_for_chat) == (1, 0)
        now[0] += 0.5  # 15 tokens back; the first chat was written to half a second ago
        assert (await send(chats[0])).status_code == 429
        assert (standin.refused_for_rate, standin.refused_for_chat) == (2, 1)
        assert (await send(chats[30])).status_code == 200
        now[0] += 1.0
        assert (await send(chats[0])).status_code == 200
