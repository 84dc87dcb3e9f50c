"""The case-record PDF reads like one: Norwegian headings, names, local dates, the channel in words,
after-hours marked, and consent and status changes in place; the CSV keeps the contract's fields."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pypdf import PdfReader
from pypdf.generic import ContentStream

from bot import consent, status_codes
from bot.contactlog import record
from bot.i18n import Lang
from handlers.web import dashboard_export
from handlers.web.dashboard_export import render_pdf
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


ROWS = [{"when": f"rad {n:03d}", "who": "" if n % 3 else f"Ola Berg {n}", "channel": "SMS inn",
         "kind": "Melding", "after_hours": "ja" if n % 2 else "",
         "text": "مرحبا، هل يمكنك الاتصال؟" if n % 7 == 0 else f"Kan du ringe meg {n}? ✓ " * (1 + n % 4)}
        for n in range(150)]
COLUMNS = (("when", "Tidspunkt", 42), ("who", "Hvem", 44), ("channel", "Kanal", 26), ("kind", "Type", 30),
           ("after_hours", "Etter arbeidstid", 22), ("text", "Tekst", 113))


def _long_record(service) -> bytes:
    return render_pdf(service.settings.pdf_font, Lang("nb", service.settings.tz), title="Kontaktlogg",
                      lines=["150 oppføringer."], rows=ROWS, columns=COLUMNS)


def _placed_texts(body: bytes) -> list[list[tuple]]:
    """Per page, each text drawn: where (Td), in which font (Tf) and colour (g, rg; q and Q keep and restore
    it) and its glyphs (Tj), in order."""
    reader = PdfReader(io.BytesIO(body))
    pages = []
    for page in reader.pages:
        placed, at, font, colour, kept = [], None, None, (0.0, 0.0, 0.0), []
        for operands, op in ContentStream(page.get_contents(), reader).operations:
            if op == b"Tf":
                font = (str(operands[0]), float(operands[1]))
            elif op == b"Td":
                at = tuple(float(v) for v in operands)
            elif op == b"g":
                colour = (float(operands[0]),) * 3
            elif op == b"rg":
                colour = tuple(float(v) for v in operands)
            elif op == b"q":
                kept.append(colour)
            elif op == b"Q":
                colour = kept.pop()
            elif op == b"Tj" and operands[0].get_original_bytes():
                placed.append((at, font, colour, operands[0].get_original_bytes()))
        pages.append(placed)
    return pages


def test_it_writes_every_line_of_a_long_record_with_the_header_on_each_page(service):
    """The rows' lines go onto the page in one piece per row (not text() per line): each one still lands,
    beside lines the shaping engine sets (Arabic) and empty cells, on every page under its header."""
    texts = [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(_long_record(service))).pages]
    assert len(texts) > 2
    for text in texts:
        assert "Tidspunkt Hvem Kanal Type" in text
    flat = " ".join(texts)
    for n in range(150):
        assert f"rad {n:03d}" in flat
        if n % 3 == 0:
            assert f"Ola Berg {n}" in flat
        if n % 7:
            assert f"Kan du ringe meg {n}?" in flat
    assert flat.count("SMS inn") == 150


def test_it_places_each_line_where_fpdfs_own_text_would(service, monkeypatch):
    """put_lines writes what FPDF.text() would for each line: the same place, font and glyphs, page by page."""
    ours = _placed_texts(_long_record(service))

    def one_by_one(pdf, lines, codes):
        for x, y, text in lines:
            pdf.text(x, y, text)

    monkeypatch.setattr(dashboard_export, "put_lines", one_by_one)
    reference = _placed_texts(_long_record(service))
    assert len(ours) == len(reference) > 2
    for page, (mine, theirs) in enumerate(zip(ours, reference, strict=True)):
        assert mine == theirs, f"page {page + 1}"
