"""The dashboard over HTTP: who sees what, the overview's figures and the entries behind them, a youth's
timeline and charts, exports for the case record, and the access log."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from pypdf import PdfReader
from sqlmodel import select

from bot import roster, staff
from bot.contactlog import export, record
from models.audit import AuditEvent
from models.contact_log import ContactLog
from models.conversations import Message
from models.people import Person
from tests.browser import csrf_of, logged_in, staff_cast
from tests.personas import PARENT_TG, YOUTH_TG, tg, writes


def _entry(service, youth_id: int, at: datetime, *, kind: str = "message", channel: str = "telegram",
           party: str = "youth", direction: str = "in", text: str = "hei", worker_id: int | None = None) -> int:
    with service.tx() as session:
        entry = record(session, service.settings, at=at, youth_id=youth_id, party=party, channel=channel,
                       direction=direction, kind=kind, text=text, worker_id=worker_id)
        session.flush()
        return entry.id


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="entry[^"]*" id="e(\d+)"', html)]


def _figure(html: str, name: str) -> tuple[str, str]:
    """(link, text) of one figure on the overview; the first card's when there are several."""
    match = re.search(rf'<a href="([^"]+)" data-figure="{name}">([^<]+)</a>', html)
    return match.group(1).replace("&amp;", "&"), match.group(2)


def _card(html: str, name: str) -> str:
    start = html.index(f"<h3>{name}")
    return html[start:html.index("</section>", start)]


def _week_of_traffic(service, clock, s):
    """Monday: Ola writes at 10:00 and Kari takes it at 10:10; Ola writes again at 20:00, it escalates to
    Per at 20:15; Lise writes at 20:16. Returns the entry id of Ola's unanswered evening message."""
    writes(service, tg(YOUTH_TG, "Hei, jeg er syk i dag"))
    clock.advance(minutes=10)
    with service.tx() as session:
        first = session.exec(select(Message).order_by(Message.id)).first()
        staff.take_message(service, session, session.get(Person, s.primary), first.id)
    clock.advance(hours=9, minutes=50)
    writes(service, tg(YOUTH_TG, "Er du der?"))
    clock.advance(minutes=16)
    assert staff.escalate_due(service) == 1
    writes(service, tg(PARENT_TG, "Ola sover ikke"))
    with service.tx() as session:
        evening = session.exec(select(ContactLog).where(ContactLog.kind == "message").order_by(ContactLog.id)).all()[1]
        return evening.id


def test_it_shows_a_coordinator_every_youth_and_worker(service):
    staff_cast(service)
    page = logged_in(service, "coordinator").get("/dashboard")
    assert page.status_code == 200
    for name in ("Ola Berg", "Nina Nilsen", "<h3>Kari Nordmann", "<h3>Per Hansen", "<h3>Otto Utenfor"):
        assert name in page.text
    assert 'href="/dashboard/audit"' in page.text


def test_it_shows_a_worker_only_the_youths_they_are_primary_or_secondary_for(service):
    s = staff_cast(service)
    kari = logged_in(service, "primary").get("/dashboard").text
    assert "Ola Berg" in kari and "Nina Nilsen" not in kari
    assert "<h3>Kari Nordmann" in kari and "<h3>Otto Utenfor" not in kari and "<h3>Per Hansen" not in kari
    assert 'href="/dashboard/audit"' not in kari
    per = logged_in(service, "secondary")
    assert "Ola Berg" in per.get("/dashboard").text
    assert per.get(f"/dashboard/youth/{s.youth}").status_code == 200
    otto = logged_in(service, "outsider").get("/dashboard").text
    assert "Nina Nilsen" in otto and "Ola Berg" not in otto


def test_it_refuses_an_outsider_the_youth_page_exports_notes_and_entries_of_others(service):
    s = staff_cast(service)
    ola_entry = _entry(service, s.youth, service.now())
    nina_entry = _entry(service, s.other_youth, service.now(), text="Ninas melding")
    otto = logged_in(service, "outsider")
    for path in (f"/dashboard/youth/{s.youth}", f"/dashboard/youth/{s.youth}/export.csv",
                 f"/dashboard/youth/{s.youth}/export.pdf", f"/dashboard/entries?youth={s.youth}",
                 f"/dashboard/entries/{ola_entry}", f"/dashboard/youth/{s.youth}?at={ola_entry}",
                 f"/dashboard/youth/{s.parent}", "/dashboard/youth/999"):
        response = otto.get(path)
        assert response.status_code == 404, path
        assert "error-page" in response.text and "Ola" not in response.text
    assert otto.get(f"/dashboard/entries?worker={s.primary}").status_code == 403
    assert otto.get("/dashboard/audit").status_code == 403
    note = otto.post(f"/dashboard/youth/{s.youth}/notes",
                     data={"text": "snoker", "csrf": csrf_of(otto.get("/dashboard").text)})
    assert note.status_code == 404
    everything = otto.get("/dashboard/entries").text
    assert _ids(everything) == [nina_entry]
    with service.tx() as session:
        assert session.exec(select(ContactLog).where(ContactLog.kind == "note")).all() == []


def test_it_counts_each_workers_week_and_links_the_entries_behind_the_numbers(service, clock):
    s = staff_cast(service)
    evening = _week_of_traffic(service, clock, s)
    http = logged_in(service, "coordinator")
    page = http.get("/dashboard").text
    kari = _card(page, "Kari Nordmann")
    assert _figure(kari, "open")[1] == "2"
    assert _figure(kari, "oldest")[1] == "venter i 16 minutter"
    assert _figure(kari, "contacts")[1] == "3"
    assert _figure(kari, "after-hours")[1] == "67 % (2)"
    assert _figure(kari, "escalations")[1] == "1"
    assert _figure(kari, "median")[1] == "10 minutter"
    assert _figure(_card(page, "Per Hansen"), "contacts")[1] == "0"

    def behind(name: str) -> list[str]:
        html = http.get(_figure(kari, name)[0]).text
        return re.findall(r'<p class="text">([^<]*)</p>', html)

    assert behind("open") == ["Ola sover ikke", "Er du der?"]
    assert behind("contacts") == ["Ola sover ikke", "Er du der?", "Hei, jeg er syk i dag"]
    assert behind("after-hours") == ["Ola sover ikke", "Er du der?"]
    assert behind("escalations") == ["Ubesvart etter 15 minutter, sendt til Per Hansen"]
    assert behind("median") == ["Ola sover ikke", "Er du der?", "Hei, jeg er syk i dag"]
    oldest = http.get(_figure(kari, "oldest")[0])
    assert oldest.status_code == 303 and oldest.headers["location"] == f"/dashboard/youth/{s.youth}?at={evening}#e{evening}"
    assert _ids(http.get(oldest.headers["location"]).text)[0] == evening


def test_it_shows_a_worker_only_their_own_figures(service, clock):
    s = staff_cast(service)
    _week_of_traffic(service, clock, s)
    per = logged_in(service, "secondary")
    page = per.get("/dashboard").text
    assert _figure(page, "contacts")[1] == "0"  # Per is Ola's secondary: Ola counts for Kari
    assert per.get(f"/dashboard/entries?worker={s.primary}").status_code == 403
    assert per.get(f"/dashboard/entries?worker={s.secondary}").status_code == 200


def test_it_pages_back_through_the_weeks(service, clock):
    s = staff_cast(service)
    writes(service, tg(YOUTH_TG, "forrige uke"))
    clock.advance(days=7)
    http = logged_in(service, "primary")
    now = http.get("/dashboard").text
    assert "Uke 49" in now and _figure(now, "contacts")[1] == "0"
    before = http.get("/dashboard?week=2026-11-25").text
    assert "Uke 48" in before and _figure(before, "contacts")[1] == "1"
    assert http.get("/dashboard?week=neste").status_code == 400
    assert s


def test_it_lists_youths_whose_wakeups_were_not_confirmed_this_week(service):
    s = staff_cast(service)
    monday_0645 = datetime(2026, 11, 23, 5, 45, tzinfo=UTC)
    _entry(service, s.youth, monday_0645, kind="wakeup", party="system", direction="out", text="Vekking 06:45")
    _entry(service, s.youth, monday_0645 + timedelta(minutes=10), kind="wakeup", party="system", direction="none",
           text="Ikke bekreftet")
    _entry(service, s.other_youth, monday_0645, kind="wakeup", party="youth", direction="in", text="Jeg er oppe")
    http = logged_in(service, "coordinator")
    page = http.get("/dashboard").text
    link, text = _figure(page, "missed")
    assert text == "Ola Berg: 1 vekking ikke bekreftet" and "Nina" not in text
    assert re.findall(r'<p class="text">([^<]*)</p>', http.get(link).text) == ["Ikke bekreftet"]
    timeline = http.get(f"/dashboard/youth/{s.youth}?kind=wakeup").text
    assert re.findall(r'<p class="text">([^<]*)</p>', timeline) == ["Ikke bekreftet", "Vekking 06:45"]
    chart = re.search(r'<svg class="chart".*?</svg>', timeline, re.S).group(0)
    assert "uke 48: 0 bekreftet, 1 ikke bekreftet" in chart and "0 %" in chart
    assert "Ola" not in logged_in(service, "outsider").get("/dashboard").text


def test_it_shows_the_timeline_newest_first_a_page_at_a_time(service):
    s = staff_cast(service)
    start = service.now() - timedelta(days=30)
    ids = [_entry(service, s.youth, start + timedelta(hours=i), text=f"melding {i}") for i in range(120)]
    http = logged_in(service, "primary")
    first = http.get(f"/dashboard/youth/{s.youth}").text
    assert _ids(first) == ids[::-1][:50]
    older = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = http.get(older).text
    assert _ids(second) == ids[::-1][50:100]
    third = http.get(re.search(r'<a href="([^"]+)" rel="next">', second).group(1).replace("&amp;", "&")).text
    assert _ids(third) == ids[::-1][100:] and 'rel="next"' not in third


def test_it_filters_the_timeline_by_period_channel_and_kind(service):
    s = staff_cast(service)
    day = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    message = _entry(service, s.youth, day)
    sms = _entry(service, s.youth, day + timedelta(days=1), channel="sms")
    note = _entry(service, s.youth, day + timedelta(days=2), kind="note", channel="meeting", party="worker",
                  direction="none", worker_id=s.primary, text="Møte i bilen")
    late = _entry(service, s.youth, day + timedelta(days=5))
    http = logged_in(service, "primary")
    base = f"/dashboard/youth/{s.youth}"
    assert _ids(http.get(f"{base}?from=2026-11-11&until=2026-11-12").text) == [note, sms]
    assert _ids(http.get(f"{base}?channel=sms").text) == [sms]
    assert _ids(http.get(f"{base}?kind=note").text) == [note]
    assert _ids(http.get(f"{base}?kind=message&until=2026-11-11").text) == [sms, message]
    assert _ids(http.get(f"{base}?channel=").text) == [late, note, sms, message]
    assert http.get(f"{base}?kind=drop").status_code == 400
    assert http.get(f"{base}?from=2026-11-12&until=2026-11-11").status_code == 400
    assert "Møte i bilen" in http.get(f"{base}?kind=note").text


def test_it_shows_what_a_youth_wrote_as_text(service):
    s = staff_cast(service)
    writes(service, tg(YOUTH_TG, "<script>alert(1)</script> & <b>fet</b>"))
    for who in ("primary", "coordinator"):
        http = logged_in(service, who)
        for path in (f"/dashboard/youth/{s.youth}", "/dashboard/entries"):
            html = http.get(path).text
            assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;fet&lt;/b&gt;" in html
            assert "<script>" not in html and "<b>fet" not in html


def test_it_escapes_names_too(service):
    s = staff_cast(service)
    with service.tx() as session:
        session.get(Person, s.youth).name = '<img src=x onerror="alert(1)">'
    html = logged_in(service, "primary").get("/dashboard").text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html and "<img" not in html


def test_it_draws_the_charts_on_the_server(service):
    s = staff_cast(service)
    _entry(service, s.youth, datetime(2026, 11, 23, 20, 0, tzinfo=UTC))
    _entry(service, s.youth, datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    html = logged_in(service, "primary").get(f"/dashboard/youth/{s.youth}").text
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(charts) == 2 and all('role="img"' in c and "<title" in c for c in charts)
    assert "uke 48: 1 i arbeidstid, 1 etter arbeidstid" in charts[1]
    assert ">37</text>" in charts[1]  # twelve weeks back


def test_it_exports_csv_exactly_as_the_command_line_does(service):
    s = staff_cast(service)
    writes(service, tg(YOUTH_TG, 'Hei, "Kari"; kan vi møtes?\nI morgen'))
    _entry(service, s.youth, datetime(2026, 10, 1, 8, 0, tzinfo=UTC), text="før perioden")
    http = logged_in(service, "primary")
    response = http.get(f"/dashboard/youth/{s.youth}/export.csv?from=2026-11-01&until=2026-11-30")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="kontaktlogg-{s.youth}-2026-11-01-2026-11-30.csv"'
    tz = service.settings.tz
    with service.tx() as session:
        expected = export(session, service.settings, fmt="csv", youth_id=s.youth,
                          start=datetime(2026, 11, 1, tzinfo=tz), end=datetime(2026, 12, 1, tzinfo=tz))
    assert response.text == expected and "før perioden" not in response.text
    assert response.text.splitlines()[0] == "at,youth_id,party,worker_id,channel,direction,kind,after_hours,text"


def test_it_exports_a_pdf_that_reads_as_a_case_record_in_every_alphabet(service):
    s = staff_cast(service)
    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        olena = roster.add_parent(session, youth=s.youth, name="Олена Шевченко", language="uk", **kw).person
        olena.telegram_user_id = olena.telegram_chat_id = 5301
    writes(service, tg(5301, "Привіт, Оля хворіє"))
    writes(service, tg(YOUTH_TG, "Blåbærsyltetøy og Łódź"))
    writes(service, tg(YOUTH_TG, "مرحبا، أنا مريض اليوم"))
    response = logged_in(service, "primary").get(f"/dashboard/youth/{s.youth}/export.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    for expected in ("Kontaktlogg for Ola Berg", "Tidspunkt Hvem Kanal Type Etter arbeidstid Tekst",
                     "Привіт, Оля хворіє", "Blåbærsyltetøy og Łódź", "Eksportert", "Kari Nordmann"):
        assert expected in " ".join(text.split()), expected


def test_it_records_views_and_exports_and_lists_them_for_coordinators(service):
    s = staff_cast(service)
    writes(service, tg(YOUTH_TG, "hei"))
    kari = logged_in(service, "primary")
    kari.get(f"/dashboard/youth/{s.youth}?kind=message")
    kari.get(f"/dashboard/youth/{s.youth}/export.csv?from=2026-11-01&until=2026-11-30")
    kari.get(f"/dashboard/youth/{s.youth}/export.pdf")
    with service.tx() as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.actor_id, e.action, e.youth_id) for e in events] == [
        (s.primary, "view_youth", s.youth), (s.primary, "export_csv", s.youth), (s.primary, "export_pdf", s.youth),
    ]
    assert events[0].detail == "kind=message"
    assert events[1].detail == "from=2026-11-01&until=2026-11-30&entries=1"

    cora = logged_in(service, "coordinator")
    page = cora.get("/dashboard/audit").text
    for text in ("Så ungdommens side", "Eksporterte CSV", "Eksporterte PDF", "Kari Nordmann", "Ola Berg"):
        assert text in page
    assert kari.get("/dashboard/audit").status_code == 403
    assert "Kari Nordmann" in cora.get(f"/dashboard/audit?actor={s.primary}").text
    assert "Eksporterte" not in cora.get(f"/dashboard/audit?actor={s.coordinator}").text


def test_it_lists_a_countys_youths_a_page_at_a_time(service, monkeypatch):
    """The overview lists YOUTHS_PER_PAGE youths (500) at a time, with links to the pages around; the
    figures above count every youth."""
    from handlers.web import dashboard

    staff_cast(service)  # Ola Berg and Nina Nilsen
    monkeypatch.setattr(dashboard, "YOUTHS_PER_PAGE", 1)
    http = logged_in(service, "coordinator")
    first = http.get("/dashboard")
    assert first.status_code == 200
    youths = first.text[first.text.index('<ul class="youths">'):]
    assert "Ungdom 1–1 av 2" in first.text and "Ola Berg" in youths and "Nina Nilsen" not in youths
    assert 'data-page="previous"' not in first.text
    following = re.search(r'<a href="([^"]+)" rel="next" data-page="next">', first.text).group(1).replace("&amp;", "&")
    second = http.get(following)
    youths = second.text[second.text.index('<ul class="youths">'):]
    assert "Ungdom 2–2 av 2" in second.text and "Nina Nilsen" in youths and "Ola Berg" not in youths
    assert 'data-page="next"' not in second.text and 'data-page="previous"' in second.text
    assert "Ungdom 2–2 av 2" in http.get("/dashboard?page=9").text  # past the end: the last page
    assert http.get("/dashboard?page=tre").status_code == 400
