"""Property-based tests (hypothesis) of every parser that reads outside input: what youths, parents,
workers, Telegram and Twilio send us. Each parser either understands its input or refuses it with the
error its caller expects; none of them raises anything else, and the webhooks answer 2xx/4xx, never 500.

Example counts are kept modest for CI; TETTPA_TEST_EXAMPLES raises them for a local soak."""

from __future__ import annotations

import json
import os
import re
import string
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from bot import acute, roster
from bot.acute import BUILT_IN, is_acute
from bot.errors import InputError
from bot.events import Incoming
from bot.phones import normalize_phone
from bot.relay import TAG, sms_conversation
from bot.sms_text import (
    MAX_PART,
    gsm_safe,
    split_sms,
    split_text,
    utf16_length,
)
from bot.timespec import SpecError, WeeklyHours, parse_days, parse_duration, parse_time
from bot.worker_settings import absence_command, hours_command, parse_absence
from models.conversations import Conversation, RelayLink
from models.outbox import Outbox
from standins.twilio import GSM7_ALPHABET, sms_encoding
from tests.conftest import make_settings

EXAMPLES = int(os.environ.get("TETTPA_TEST_EXAMPLES", "60"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("TETTPA_TEST_EXAMPLES"),
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(PROFILE, max_examples=max(10, EXAMPLES // 3))
OSLO = ZoneInfo("Europe/Oslo")

# Text as people type it on phones: any Unicode, plus the awkward characters spelled out.
AWKWARD = "\u200f\u200e\u202e\u200b\u200d\ufeff\x00\u00ad\u2028\r\n\t 🙂👍🏽❤️"
any_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(AWKWARD), max_size=200)


# -- durations, days, times and weekly hours (bot/timespec.py) ----------------------------------------


@PROFILE
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from("dhms"), st.sampled_from(["", " ", "  "])),
                min_size=1, max_size=4, unique_by=lambda t: t[1]))
def test_it_reads_every_duration_written_with_units_as_their_sum(parts):
    ordered = sorted(parts, key=lambda p: "dhms".index(p[1]))
    text = "".join(f"{n}{space}{unit.upper() if n % 2 else unit}{space}" for n, unit, space in ordered)
    seconds = sum(n * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit] for n, unit, _ in ordered)
    assert parse_duration(text) == timedelta(seconds=seconds)


@PROFILE
@given(any_text)
def test_it_reads_a_duration_setting_or_refuses_it_with_a_settings_error(text):
    from pydantic import ValidationError

    try:
        value = make_settings("sqlite://", escalation_after=text).escalation_after
    except ValidationError:
        return
    assert value >= timedelta(0)


@PROFILE
@given(st.one_of(any_text, st.text(alphabet="monfriatsuwedhlørsøn0123456789:-–,; ", max_size=60)))
def test_it_reads_hours_days_and_times_or_refuses_them_with_a_spec_error(text):
    for parse in (parse_days, parse_time, WeeklyHours.parse):
        try:
            parse(text)
        except SpecError:
            pass
    try:
        hours = WeeklyHours.parse(text)
    except SpecError:
        return
    assert WeeklyHours.parse(str(hours)) == hours


@PROFILE
@given(st.lists(st.sampled_from(["i", "dag", "today", "idag", "5", "1.2", "01.12", "05.12.2026", "2026-12-01",
                                 "31.02", "1.2.3.4", "99.99", "-", ".", "..", "2026-13-01", "0.0.0", "1.1.99999"])
                | any_text.filter(lambda t: t.strip() != ""), min_size=1, max_size=3))
@example(["5"])
@example(["1.2.3.4"])
def test_it_reads_an_absence_or_refuses_it_with_a_value_error(words):
    words = [w for word in words for w in word.split()] or ["x"]
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    try:
        start, end = parse_absence(words, now, OSLO)
    except ValueError:
        return
    assert start >= now and isinstance(end, datetime)


# -- phone numbers (bot/phones.py) --------------------------------------------------------------------


phone_like = st.one_of(
    any_text,
    st.text(alphabet="+0123456789 -()./", max_size=20),
    st.builds(lambda d, sep: sep.join([d[:3], d[3:5], d[5:]]), st.text(alphabet="0123456789", min_size=8,
                                                                       max_size=8), st.sampled_from(["", " ", "-"])),
)


@PROFILE
@given(phone_like)
def test_it_reads_a_phone_number_to_e164_the_same_way_twice_or_refuses_it(text):
    try:
        number = normalize_phone(text)
    except ValueError:
        return
    assert re.fullmatch(r"\+[1-9][0-9]{1,14}", number)
    assert normalize_phone(number) == number


@PROFILE
@given(st.text(alphabet="0123456789", min_size=8, max_size=8).filter(lambda d: d[0] in "2345679"))
def test_it_reads_a_norwegian_eight_digit_number_as_plus_47(digits):
    try:
        national = normalize_phone(digits)
    except ValueError:
        with pytest.raises(ValueError):
            normalize_phone(f"+47{digits}")
        return
    assert national == normalize_phone(f"+47 {digits}") == normalize_phone(f"0047{digits}") == f"+47{digits}"


# -- the acute-word matcher (bot/acute.py) ------------------------------------------------------------


SEPARATORS = st.text(alphabet=" ,.!?;:-–…()\"«»\n\t/*", min_size=1, max_size=4)
phrases = st.sampled_from(sorted({p for words in BUILT_IN.values() for p in words}))


@st.composite
def disguised(draw, phrase: str) -> str:
    """The phrase with its case changed letter by letter and punctuation or spaces between its words."""
    words = []
    for word in phrase.split():
        cased = "".join(ch.upper() if draw(st.booleans()) else ch for ch in word)
        words.append(cased)
    return "".join(w + (draw(SEPARATORS) if i < len(words) - 1 else "") for i, w in enumerate(words))


@PROFILE
@given(phrases.flatmap(lambda p: st.tuples(st.just(p), disguised(p))), any_text, SEPARATORS, SEPARATORS, any_text)
def test_it_finds_every_built_in_phrase_however_it_is_embedded(pair, before, sep1, sep2, after):
    phrase, shown = pair
    assert is_acute(f"{before}{sep1}{shown}{sep2}{after}"), (phrase, shown)


@PROFILE
@given(st.one_of(st.none(), any_text), any_text)
def test_it_never_fails_to_judge_a_text_whatever_the_extra_words(text, extra):
    assert is_acute(text, extra) in (True, False)


@PROFILE
@given(any_text.filter(lambda t: acute._words(t)), any_text, any_text)
def test_it_finds_an_extra_crisis_word_from_the_settings(word, before, after):
    assert is_acute(f"{before} {word} {after}", word)


# -- SMS text (bot/sms_text.py) ---------------------------------------------------------------------


gsm_text = st.text(alphabet=sorted(GSM7_ALPHABET) + ["«", "»", "–", "…", "\u00a0", "’"], max_size=5000)
long_text = st.one_of(
    gsm_text,
    st.text(max_size=5000),
    st.builds(lambda words, sep: sep.join(words), st.lists(st.text(alphabet=string.ascii_letters, min_size=1,
                                                                    max_size=2000), max_size=12),
              st.sampled_from([" ", "\n", "\n\n", ". "])),
)


def _consecutive(parts: list[str], source: str) -> bool:
    """Each part follows the previous one in source, with nothing but whitespace between them."""
    at = 0
    for part in parts:
        if not part:
            continue
        index = source.find(part, at)
        if index < 0 or source[at:index].strip():
            return False
        at = index + len(part)
    return not source[at:].strip()


@PROFILE
@given(long_text, st.sampled_from([MAX_PART, 160, 70, 10]))
def test_it_splits_an_sms_into_parts_within_the_limit_losing_nothing(text, limit):
    parts = split_sms(text, limit)
    assert parts and all(len(p) <= limit for p in parts)
    assert all(p.strip() for p in parts) or parts == [""]
    assert _consecutive(parts, gsm_safe(text))
    if sms_encoding(gsm_safe(text)) == "GSM-7":
        assert all(sms_encoding(p) == "GSM-7" for p in parts)


@PROFILE
@given(st.one_of(long_text, st.text(alphabet="😀👍🏽a ", max_size=9000), st.text(max_size=9000)),
       st.sampled_from([4096, 100, 7]))
def test_it_splits_a_telegram_text_into_parts_telegram_accepts_losing_nothing(text, limit):
    parts = split_text(text, limit, utf16_length)
    assert parts and all(utf16_length(p) <= limit for p in parts)
    assert _consecutive(parts, text)


# -- SMS tags and the conversation of a worker's SMS (bot/relay.py) ----------------------------------


@pytest.fixture
def tagged(service):
    """Kari answers by SMS; she has conversations #1 (Ola) and #2 (Lise), and was last sent #2."""
    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        kari = roster.add_worker(session, name="Kari Nordmann", phone="+4793456789", **kw).person
        ola = roster.add_youth(session, name="Ola Berg", phone="+4741234567", primary=kari.id, **kw).person
        lise = roster.add_parent(session, youth=ola.id, name="Lise Berg", phone="+4792345678", **kw).person
        convs = [Conversation(person_id=p.id, youth_id=ola.id) for p in (ola, lise)]
        session.add_all(convs)
        session.flush()
        session.add(RelayLink(worker_id=kari.id, channel="sms", address=kari.phone, external_id="SMx",
                              conversation_id=convs[1].id, created_at=service.now()))
        return kari.id, [c.id for c in convs]


def _sms_conversation(service, worker_id: int, text: str):
    from models.people import get_person

    with service.tx() as session:
        worker = get_person(session, person_id=worker_id)
        inc = Incoming(source_key="sms:SMprop", channel="sms", address=worker.phone, text=text)
        conv, rest, problem = sms_conversation(service, session, worker, inc)
        return (conv.id if conv else None), rest.text, problem


@FEW
@given(text=any_text)
def test_it_finds_the_conversation_of_any_sms_from_a_worker_or_says_why_not(service, tagged, text):
    worker_id, _ = tagged
    conv, rest, problem = _sms_conversation(service, worker_id, text)
    assert (conv is None) == bool(problem)
    assert isinstance(rest, str)


@FEW
@given(which=st.sampled_from([0, 1]), sep=st.sampled_from([" ", ": ", ", ", " - ", ".\n", "\n"]),
       body=any_text.filter(lambda t: t.strip() and not re.match(r"[\s:,.\-]", t)))
def test_it_reads_a_tagged_answer_as_that_conversation_and_the_rest_as_the_text(service, tagged, which, sep, body):
    worker_id, convs = tagged
    conv, rest, problem = _sms_conversation(service, worker_id, f"#{convs[which]}{sep}{body}")
    assert (conv, rest, problem) == (convs[which], body.strip(), None)


@FEW
@given(which=st.sampled_from([0, 1]), rest=any_text.filter(lambda t: not t[:1].isascii() or not t[:1].isdigit()))
@example(which=0, rest="Hei")
@example(which=0, rest="\u0661 hei")  # an Arabic-Indic digit after the tag
def test_it_never_sends_a_tagged_answer_to_another_conversation(service, tagged, which, rest):
    """"#1Hei" (a missing space) must not go to the conversation last sent (#2): wrong family."""
    worker_id, convs = tagged
    conv, _, _ = _sms_conversation(service, worker_id, f"#{convs[which]}{rest}")
    assert conv in (convs[which], None)


@FEW
@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=30), rest=any_text)
def test_it_never_takes_a_long_tag_for_no_tag(service, tagged, digits, rest):
    """"#12345678901 hei" names no conversation; it must not go to the last one either."""
    worker_id, convs = tagged
    conv, _, _ = _sms_conversation(service, worker_id, f"#{digits} {rest}")
    assert conv is None or str(conv) == digits.lstrip("0")


def test_it_keeps_the_tag_pattern_to_ascii_digits():
    assert TAG.match("#7 hei").group(1) == "7"
    assert TAG.match("#\u0667 hei") is None  # an Arabic-Indic seven is no tag


# -- workers' commands from the chat: /timer and /borte (bot/worker_settings.py) ---------------------


@FEW
@given(args=st.one_of(any_text, st.text(alphabet="manfreonstirlørsøn0123456789:-.,; i dag", max_size=40)))
@example(args="5")
@example(args="1.2.3.4 5")
def test_it_answers_every_hours_or_absence_command_and_never_fails(service, args):
    from models.people import get_person

    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        kari = roster.add_worker(session, name="Kari Nordmann", **kw).person
        kari.telegram_user_id = kari.telegram_chat_id = 50_000 + kari.id
    for n, command in enumerate((hours_command, absence_command)):
        inc = Incoming(source_key=f"tg:prop{kari.id}:{n}", channel="telegram", address=str(kari.telegram_chat_id),
                       user_id=kari.telegram_user_id, text=f"/x {args}")
        with service.tx() as session:
            command(service, session, get_person(session, person_id=kari.id), inc, args)
        with service.tx() as session:
            assert session.get(Outbox, _outbox_id(session, f"reply:{inc.source_key}")) is not None


def _outbox_id(session, key: str) -> int | None:
    from sqlmodel import select

    return session.exec(select(Outbox.id).where(Outbox.key == key)).first()


# -- school holidays imported from CSV and ICS (scheduling/school_holidays.py) --------------------------------


csv_cells = st.one_of(st.sampled_from(["2026-10-05", "05.10.2026", "2026-10-09", "9.10.2026", "31.02.2026",
                                       "Høstferie", "", "navn", "fra", "til", "x;y", '"q"']), any_text)


@FEW
@given(rows=st.lists(st.lists(csv_cells, min_size=0, max_size=4), max_size=6),
       delimiter=st.sampled_from([",", ";"]), header=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_it_imports_holidays_from_any_csv_or_refuses_it_naming_the_file(service, rows, delimiter, header, encoding):
    from scheduling.school_holidays import import_file

    lines = ([["navn", "fra", "til"]] if header else []) + rows
    text = "\n".join(delimiter.join(cells) for cells in lines)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    with service.tx() as session:
        try:
            result = import_file(session, data=data, filename="ferie.csv", now=service.now(), tz=OSLO)
        except InputError as exc:
            assert exc.field in ("file", "name", "until", "from")
            session.rollback()
            return
        assert result.added or result.existing


@st.composite
def ics_files(draw) -> str:
    events = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
        kind = draw(st.sampled_from(["date", "datetime", "utc", "tzid", "none", "junk"]))
        length = draw(st.integers(-3, 130))
        end = start + timedelta(days=length)
        if kind == "date":
            lines = [f"DTSTART;VALUE=DATE:{start:%Y%m%d}", f"DTEND;VALUE=DATE:{end:%Y%m%d}"]
        elif kind == "datetime":
            lines = [f"DTSTART:{start:%Y%m%d}T080000", f"DTEND:{end:%Y%m%d}T000000"]
        elif kind == "utc":
            lines = [f"DTSTART:{start:%Y%m%d}T230000Z", f"DURATION:P{abs(length)}D"]
        elif kind == "tzid":
            lines = [f"DTSTART;TZID=Europe/Oslo:{start:%Y%m%d}T000000", f"DTEND;TZID=Europe/Oslo:{end:%Y%m%d}T000000"]
        elif kind == "none":
            lines = []
        else:
            lines = [f"DTSTART:{draw(any_text.map(lambda t: t.replace(chr(10), ' ')))}"]
        summary = draw(st.one_of(st.just("Høstferie"), any_text.map(lambda t: re.sub(r"[\r\n]", " ", t))))
        events.append(["BEGIN:VEVENT", f"UID:{len(events)}@test", f"SUMMARY:{summary}", *lines, "END:VEVENT"])
    body = [line for event in events for line in event]
    if draw(st.booleans()):
        body.insert(draw(st.integers(0, len(body))), draw(any_text.map(lambda t: t.replace("\n", " "))))
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//", *body, "END:VCALENDAR"])


@FEW
@given(ics=ics_files())
def test_it_imports_holidays_from_any_ics_or_refuses_it_naming_the_file(service, ics):
    from scheduling.school_holidays import import_file

    with service.tx() as session:
        try:
            result = import_file(session, data=ics.encode(), filename="skolerute.ics", now=service.now(), tz=OSLO)
        except InputError as exc:
            assert exc.field in ("file", "name", "until")
            session.rollback()
            return
        assert result.added or result.existing


# -- webhook bodies: Telegram and Twilio (handlers/web/routes.py, handlers/twilio/webhooks.py) -------------------------


PUBLIC = "https://tettpa.example"
TWILIO_SID, TWILIO_TOKEN = "AC" + "7e77a9a5" * 4, "5a4db0c5" * 4
PHONES = ["+4741234567", "+4793456789", "+4799999999", "not a number", "", "+1", "0047 41 23 45 67"]


@pytest.fixture
def edge(migrated_database_url, tmp_path):
    """The real web app of `tettpa serve` (without its loops), over a migrated database with a roster."""
    database_url = migrated_database_url
    from bot.run.app import Runtime, create_app
    from bot.service import Service
    from models import crypto
    from models.db import make_engine

    settings = make_settings(database_url, public_url=PUBLIC, twilio_account_sid=TWILIO_SID,
                             twilio_auth_token=TWILIO_TOKEN, twilio_number="+4790000000")
    crypto.use_keys([settings.data_key])
    engine = make_engine(database_url)
    service = Service(settings=settings, engine=engine)
    kw = {"now": service.now(), "secret_key": settings.secret_key}
    with service.tx() as session:
        kari = roster.add_worker(session, name="Kari Nordmann", phone=PHONES[1], **kw).person
        roster.add_youth(session, name="Ola Berg", phone=PHONES[0], primary=kari.id, **kw)
    runtime = Runtime(service)
    client = TestClient(create_app(runtime), base_url="http://127.0.0.1", raise_server_exceptions=True)
    yield client, runtime
    engine.dispose()


form_values = st.one_of(any_text, st.sampled_from(PHONES), st.sampled_from(["SM" + "1" * 32, "CA" + "2" * 32]),
                        st.sampled_from(["delivered", "undelivered", "failed", "completed", "busy", "30005", "1"]))
form_keys = st.one_of(st.sampled_from(["MessageSid", "SmsSid", "From", "To", "Body", "MessageStatus", "ErrorCode",
                                       "CallSid", "CallStatus", "CallDuration", "DialCallStatus", "Digits",
                                       "DialCallDuration", "NumMedia"]), any_text.filter(bool))
forms = st.dictionaries(form_keys, form_values, max_size=8)
TWILIO_PATHS = ["/twilio/sms", "/twilio/status", "/twilio/voice", "/twilio/voice/dial?call=1&step=0",
                "/twilio/voice/dial?call=x&step=", "/twilio/voice/whisper?call=99999&step=7",
                "/twilio/voice/gather?ref=wake:1", "/twilio/voice/gather?ref=take:zz"]


@FEW
@given(path=st.sampled_from(TWILIO_PATHS), form=forms, signed=st.booleans())
def test_it_answers_any_twilio_webhook_with_twiml_or_a_refusal_never_a_crash(edge, path, form, signed):
    from handlers.twilio import webhooks as twilio_handlers

    client, runtime = edge
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC}{path}", form) if signed else "x"
    response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code in ((200, 400) if signed else (403,))
    if signed and path == "/twilio/sms" and response.status_code == 200:
        # What was stored is later handled by the intake: that never raises either.
        import asyncio

        for dispatcher in (twilio_handlers.sms_dispatcher, twilio_handlers.status_dispatcher):
            assert asyncio.run(dispatcher(runtime.service)(form)) is True


telegram_users = st.fixed_dictionaries({"id": st.integers(-(2**40), 2**40), "is_bot": st.booleans(),
                                        "first_name": any_text})
telegram_chats = st.fixed_dictionaries({"id": st.integers(-(2**40), 2**40),
                                        "type": st.sampled_from(["private", "group", "supergroup", "channel", "x"])})
telegram_messages = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "date": st.integers(0, 2**31), "chat": telegram_chats},
    optional={"from": telegram_users, "text": any_text, "caption": any_text,
              "photo": st.just([{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}])},
)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | any_text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
                           max_leaves=8)
telegram_updates = st.one_of(
    st.builds(lambda uid, kind, msg: {"update_id": uid, kind: msg}, st.integers(0, 2**31),
              st.sampled_from(["message", "edited_message", "channel_post", "my_chat_member", "callback_query"]),
              telegram_messages | json_values),
    st.dictionaries(any_text, json_values, max_size=4),
    json_values,
)


@FEW
@given(update=telegram_updates, secret=st.booleans())
def test_it_answers_any_telegram_webhook_body_with_ok_or_a_refusal_never_a_crash(edge, update, secret):
    client, runtime = edge
    headers = {"X-Telegram-Bot-Api-Secret-Token": runtime.webhook_secret if secret else "nope",
               "Content-Type": "application/json"}
    response = client.post("/telegram/webhook", content=json.dumps(update), headers=headers)
    if not secret:
        assert response.status_code == 403
    elif isinstance(update, dict) and isinstance(update.get("update_id"), int) and not isinstance(
            update.get("update_id"), bool):
        assert response.status_code == 200
    else:
        assert response.status_code in (200, 400)


@FEW
@given(body=st.binary(max_size=3000))
def test_it_refuses_bytes_that_are_no_webhook_without_failing(edge, body):
    client, runtime = edge
    for path, headers in (("/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": runtime.webhook_secret}),
                          ("/twilio/sms", {"Content-Type": "application/x-www-form-urlencoded",
                                           "X-Twilio-Signature": "abc"})):
        response = client.post(path, content=body, headers=headers)
        assert response.status_code in (200, 400, 403, 413), (path, response.status_code)


def test_it_refuses_a_telegram_update_too_large_to_be_one(edge):
    client, runtime = edge
    body = json.dumps({"update_id": 1, "message": {"text": "x" * 1_100_000}})
    response = client.post("/telegram/webhook", content=body,
                           headers={"X-Telegram-Bot-Api-Secret-Token": runtime.webhook_secret})
    assert response.status_code == 413

