"""`tettpa invite send` and `tettpa invite cards`: a coordinator invites a whole roster at the start of the
year, by SMS where a phone is known and with printed cards at the first meeting."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from pypdf import PdfReader
from sqlmodel import select
from typer.testing import CliRunner

from bot import invites, roster
from handlers.cli.main import app
from models.outbox import Outbox
from models.people import Person
from tests.browser import ARTIFACTS, colours
from tests.conftest import TEST_DATA_KEY
from tests.personas import cast

TWILIO = {"TETTPA_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TETTPA_TWILIO_AUTH_TOKEN": "twilio-token",
          "TETTPA_TWILIO_NUMBER": "+4790000000"}


@pytest.fixture
def roster_of_the_year(service, tmp_path, monkeypatch):
    """Kari and Per; Ola (no phone), his mother Lise, Mira (English, a phone) and Ahmed (Arabic, said STOP)."""
    monkeypatch.chdir(tmp_path)
    settings = service.settings
    c = cast(service, link=False)
    kw = {"now": service.now(), "secret_key": settings.secret_key}
    with service.tx() as session:
        mira = roster.add_youth(session, name="Mira Jensen", phone="+4793333333", primary=c.primary, language="en",
                                **kw).person
        ahmed = roster.add_youth(session, name="Ahmed Ali", phone="+4794444444", primary=c.primary, language="ar",
                                 **kw).person
        ahmed.sms_opt_out = True
        ids = {"ola": c.youth, "lise": c.parent, "mira": mira.id, "ahmed": ahmed.id, "kari": c.primary}
    return service, ids


def tettpa(service, *args: str, **env: str):
    base = {"TETTPA_DATABASE_URL": service.settings.database_url, "TETTPA_SECRET_KEY": service.settings.secret_key,
            "TETTPA_DATA_KEY": TEST_DATA_KEY, "TETTPA_TELEGRAM_TOKEN": "123456:TEST-TOKEN"}
    return CliRunner().invoke(app, list(args), env={**base, **env}, catch_exceptions=False)


def sms_to(service, number: str) -> list[str]:
    with service.tx() as session:
        rows = session.exec(select(Outbox).where(Outbox.channel == "sms", Outbox.address == number)).all()
        return [json.loads(row.payload)["text"] for row in rows]


def code_in(text: str) -> str:
    return re.search(r"/start ([A-Z0-9]{8})", text).group(1)


def test_it_sends_everyone_with_a_phone_a_new_code_in_their_language(roster_of_the_year):
    service, ids = roster_of_the_year
    result = tettpa(service, "invite", "send", "--json", **TWILIO)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_id = {person["id"]: person for person in report["people"]}
    assert report["sent"] == 2
    assert by_id[ids["ola"]] == {"id": ids["ola"], "sent": False, "reason": "no phone"}
    assert by_id[ids["ahmed"]]["reason"] == "opted out of SMS (STOP)" and sms_to(service, "+4794444444") == []
    assert ids["kari"] not in by_id, "workers are not invited this way"

    (lise,) = sms_to(service, "+4792222222")
    (mira,) = sms_to(service, "+4793333333")
    assert lise.startswith("Hei Lise! Du er invitert til Tett på") and "https://t.me/TettPaBot?start=" in lise
    assert mira.startswith("Hi Mira! You are invited to Tett på")
    assert "Jensen" not in mira, "the SMS greets by first name only"
    with service.tx() as session:
        stored = session.get(Person, ids["mira"]).invite_hash
    assert stored == invites.code_hash(code_in(mira), service.settings.secret_key), "the SMS's code is the live one"

    # Sent again (a lost SMS): a new code, which ends the first one.
    tettpa(service, "invite", "send", "--people", str(ids["mira"]), **TWILIO)
    first, second = sms_to(service, "+4793333333")
    assert code_in(first) != code_in(second)
    with service.tx() as session:
        assert session.get(Person, ids["mira"]).invite_hash == invites.code_hash(code_in(second),
                                                                                 service.settings.secret_key)


def test_it_refuses_without_twilio_and_for_people_it_cannot_invite(roster_of_the_year):
    service, ids = roster_of_the_year
    no_twilio = tettpa(service, "invite", "send")
    assert no_twilio.exit_code != 0 and "Twilio" in no_twilio.stderr
    worker = tettpa(service, "invite", "send", "--people", f"{ids['mira']},{ids['kari']}", **TWILIO)
    assert worker.exit_code != 0 and f"people: {ids['kari']}" in worker.stderr
    assert tettpa(service, "invite", "send", "--people", "x", **TWILIO).exit_code != 0
    assert sms_to(service, "+4793333333") == [], "a refused command sends nobody anything"


def test_it_prints_cards_with_a_working_code_for_each_person(roster_of_the_year, tmp_path):
    service, ids = roster_of_the_year
    pdf = tmp_path / "cards.pdf"
    result = tettpa(service, "invite", "cards", str(pdf), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cards"] == 4
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for name in ("Ola Berg", "Lise Berg", "Mira Jensen", "Ahmed Ali"):
        assert name in text
    assert "Scan the code with your phone" in text and "Skann koden med mobilen" in text
    assert len(reader.pages[0].images) == 4, "one QR code per card"
    codes = re.findall(r"/start ([A-Z0-9]{8})", text)
    with service.tx() as session:
        live = {session.get(Person, i).invite_hash for i in (ids["ola"], ids["lise"], ids["mira"], ids["ahmed"])}
    assert {invites.code_hash(code, service.settings.secret_key) for code in codes} == live

    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(exist_ok=True)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf), str(ARTIFACTS / "invite-cards")],
                       check=True)
        assert colours(ARTIFACTS / "invite-cards.png") > 2


def test_it_prints_nine_cards_on_two_pages_and_keeps_codes_when_the_file_cannot_be_written(roster_of_the_year,
                                                                                           tmp_path):
    service, ids = roster_of_the_year
    with service.tx() as session:
        for n in range(5):
            roster.add_parent(session, youth=ids["ola"], name=f"Forelder {n}", now=service.now(),
                              secret_key=service.settings.secret_key)
        before = {p.id: p.invite_hash for p in session.exec(select(Person))}
    failed = tettpa(service, "invite", "cards", str(tmp_path / "missing" / "cards.pdf"))
    assert failed.exit_code != 0
    with service.tx() as session:
        assert {p.id: p.invite_hash for p in session.exec(select(Person))} == before, "no card, no new code"
    assert tettpa(service, "invite", "cards", str(tmp_path / "cards.pdf")).exit_code == 0
    assert len(PdfReader(tmp_path / "cards.pdf").pages) == 2
