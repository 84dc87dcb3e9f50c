"""The case-record PDF reads like one: Norwegian headings, names, local dates, the channel in words,
after-hours marked, and consent and status changes in place; the CSV keeps the contract's fields."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot import consent, status_codes
from bot.contactlog import record
from tests.browser import logged_in, staff_cast
from tests.pdfs import pdf_text, render_pages

OSLO = ZoneInfo("Europe/Oslo")


def test_it_exports_the_case_record_as_a_journal(service, clock):
    s = staff_cast(service)
    evening = datetime(2026, 12, 1, 20, 47, tzinfo=OSLO).astimezone(UTC)
    with service.tx() as session:
        record(session, service.settings, at=evening, youth_id=s.youth, party="youth", channel="sms",
               direction="in", kind="message", text="Kan vi møtes i morgen?")
        record(session, service.settings, at=evening.replace(minute=55), youth_id=s.youth, party="worker",
               worker_id=s.primary, channel="telegram", direction="out", kind="message", text="Ja, kl. 12.")
        consent.record_consent(session, service.settings, youth_id=s.youth, scope="contact,parents", now=evening)
        status_codes.set_status(session, service.settings, youth_id=s.youth, code="OTOV", now=evening)
    clock.at = datetime(2026, 12, 2, 9, tzinfo=OSLO).astimezone(UTC)
    kari = logged_in(service, "primary")
    response = kari.get(f"/dashboard/youth/{s.youth}/export.pdf")
    assert response.status_code == 200
    pages, text = pdf_text(response.content)
    flat = " ".join(text.split())
    assert pages == 1
    for expected in ("Tidspunkt Hvem Kanal Type Etter arbeidstid Tekst", "tir. 1. des. 2026 kl. 20.47",
                     "Ola Berg (Ungdom)", "Kari Nordmann (Kontaktperson)", "SMS inn", "Telegram ut",
                     "Samtykke registrert (contact, parents)", "Statuskode OTOV Oppfølging og veiledning",
                     "Kontaktlogg for Ola Berg", "4 oppføringer."):
        assert expected in flat, expected
    assert " ja " in flat  # after hours marked in words
    for raw in ("youth_id", "after_hours", "2026-12-01T20:47"):
        assert raw not in flat, raw
    render_pages(response.content, "case-record")
    csv_text = kari.get(f"/dashboard/youth/{s.youth}/export.csv").text
    assert csv_text.splitlines()[0] == "at,youth_id,party,worker_id,channel,direction,kind,after_hours,text"
    assert "2026-12-01T20:47:00+01:00" in csv_text
