"""The case-record export of one youth's contact log for a period: CSV exactly as `tettpa log export`
prints it, and a PDF that reads as a case record (Norwegian headings, names, local dates, channels in words).
Every export is recorded in the access log."""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import pickle
import re
import threading
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from urllib.parse import urlencode

from fpdf import FPDF
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.contactlog import FIELDS, export
from bot.i18n import Lang
from bot.service import Service
from handlers.web.dashboard_base import (
    SECURITY_HEADERS,
    BadQuery,
    Period,
    Viewer,
    error_page,
    lang,
    not_found,
    page,
    period_of,
    visible_youth,
)
from models import audit
from models.contact_log import entries
from models.people import Person

log = logging.getLogger(__name__)

# Widths in mm on landscape A4 (277 mm inside the margins), in the order of FIELDS; the text takes the rest.
WIDTHS = (44, 15, 16, 17, 17, 16, 21, 19, 112)
MARGIN, FONT_SIZE, LINE, PAD = 10, 8, 3.8, 1.0
BASELINE = 2.9  # from the top of a line to where text() puts the letters' foot, at FONT_SIZE
# Scripts that need shaping (joined letters, right to left); the shaping engine is slow, so it is only
# switched on for the lines that contain them.
COMPLEX = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


class FontMissing(Exception):
    pass


def _filename(youth_id: int, period: Period, suffix: str) -> str:
    span = "-".join(d.isoformat() for d in (period.first, period.last) if d) or "alt"
    return f"kontaktlogg-{youth_id}-{span}.{suffix}"


def _download(body: bytes, media_type: str, filename: str) -> Response:
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)


def _printable(text: str) -> str:
    # Control characters other than line breaks have no glyph and would break the PDF's text layout.
    if text.isprintable():  # nearly every text, checked at C speed (a month's PDF has half a million characters)
        return text
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")


def _wrap(pdf: FPDF, text: str, width: float, widths: dict[str, float]) -> list[str]:
    """Lines of `text` that fit `width` mm, broken at spaces (and inside words longer than a line).

    fpdf2's own cell layout measures every line character by character again and again; with a few
    thousand rows that took minutes, so the words are measured once each here."""
    def measure(s: str) -> float:
        if s not in widths:
            widths[s] = pdf.get_string_width(s)
        return widths[s]

    lines: list[str] = []
    space = measure(" ")
    for paragraph in text.split("\n"):
        line, line_width = "", 0.0
        for word in paragraph.split(" "):
            w = measure(word)
            while w > width:  # a word longer than the column: cut it where it fills a line
                cut = max(1, int(len(word) * width / w))
                while cut > 1 and measure(word[:cut]) > width:
                    cut -= 1
                if line:
                    lines.append(line)
                lines.append(word[:cut])
                line, line_width, word = "", 0.0, word[cut:]
                w = measure(word)
            if line and line_width + space + w > width:
                lines.append(line)
                line, line_width = word, w
            else:
                line, line_width = (f"{line} {word}", line_width + space + w) if line else (word, w)
        lines.append(line)
    return lines


def put_lines(pdf: FPDF, lines: list[tuple[float, float, str]], codes: dict[tuple[str, str], str]) -> None:
    """Write each (x, y, text) as `pdf.text(x, y, text)` would, all in one piece of the page.

    What text() writes is BT x y Td (glyphs) Tj ET, in the text colour when it is not the fill colour;
    a month's PDF has ~29,000 lines, and text()'s checks around that were half its rendering time. Each
    distinct text is encoded once (`codes`, by font). tests/test_case_record.py compares the result with
    text()'s, line by line."""
    if not pdf.current_font_is_set_on_page:
        pdf.text(lines[0][0], lines[0][1], "")  # text() itself puts the font on a new page
    font, k, h = pdf.current_font, pdf.k, pdf.h
    ops = []
    for x, y, text in lines:
        code = codes.get((font.fontkey, text))
        if code is None:
            code = codes[font.fontkey, text] = font.encode_text(text)
        ops.append(f"BT {x * k:.2f} {(h - y) * k:.2f} Td {code} ET")
    if pdf.fill_color != pdf.text_color:
        ops = ["q", pdf.text_color.serialize().lower(), *ops, "Q"]
    pdf._out(" ".join(ops))


class _Pdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-8)
        self.set_font("body", size=7)
        self.cell(0, 4, self.footer_text.replace("{page}", str(self.page_no())), align="R")


def render_pdf(font: str, L: Lang, *, title: str, lines: list[str], rows: list[dict],
               columns: tuple[tuple[str, str, float], ...] | None = None) -> bytes:
    """A table of `rows`; `columns` are (key, heading, width in mm), by default the contract's fields."""
    columns = columns or tuple((name, name, width) for name, width in zip(FIELDS, WIDTHS, strict=True))
    keys, widths = [c[0] for c in columns], [c[2] for c in columns]
    if not Path(font).is_file():
        raise FontMissing(font)
    pdf = _Pdf(orientation="L", format="A4")
    pdf.footer_text = L._("{title} – side {page} av {pages}", title=title, page="{page}", pages="{nb}")
    pdf.set_title(title)
    pdf.set_creator("Tett på")
    pdf.add_font("body", "", font)
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.add_page()
    pdf.set_font("body", size=14)
    shaping = bool(COMPLEX.search(title))
    pdf.set_text_shaping(shaping)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_shaping(False)
    pdf.set_font("body", size=9)
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("body", size=FONT_SIZE)
    measured: dict[str, float] = {}  # widths of words, for _wrap
    codes: dict[tuple[str, str], str] = {}  # encoded lines, for put_lines
    bottom = pdf.h - MARGIN
    right = MARGIN + sum(widths)
    edges = [MARGIN + sum(widths[:i]) for i in range(len(widths) + 1)]
    body = {"top": None, "bottom": None}  # the rows drawn on this page below its header

    def rule_columns() -> None:
        # The body's cell borders as one line per row and one per column and page, not a rectangle per
        # cell: the same grid, and a month's PDF of 4,000 rows draws 25,000 shapes fewer.
        if body["top"] is not None:
            for x_edge in edges:
                pdf.line(x_edge, body["top"], x_edge, body["bottom"])
        body["top"] = body["bottom"] = None

    def draw(cells: list[list[str]], fill: bool) -> None:
        height = max(len(c) for c in cells) * LINE + 2 * PAD
        if pdf.get_y() + height > bottom:
            rule_columns()
            pdf.add_page()
            draw(header, True)
        x, y = MARGIN, pdf.get_y()
        if fill:
            for width in widths:
                pdf.rect(x, y, width, height, style="DF")
                x += width
            x = MARGIN
        else:
            pdf.line(MARGIN, y + height, right, y + height)
            body["top"] = y if body["top"] is None else body["top"]
            body["bottom"] = y + height
        plain: list[tuple[float, float, str]] = []
        for width, cell_lines in zip(widths, cells, strict=True):
            for i, line in enumerate(cell_lines):
                if COMPLEX.search(line):
                    # Joined letters and right-to-left text need the shaping engine; it is slow, so only here.
                    pdf.set_text_shaping(True)
                    pdf.set_xy(x + PAD, y + PAD + i * LINE)
                    pdf.cell(width - 2 * PAD, LINE, line)
                    pdf.set_text_shaping(False)
                elif line:
                    plain.append((x + PAD, y + PAD + i * LINE + BASELINE, line))
            x += width
        if plain:
            put_lines(pdf, plain, codes)
        pdf.set_xy(MARGIN, y + height)

    pdf.set_fill_color(230, 236, 233)
    pdf.set_draw_color(150, 150, 150)
    header = [_wrap(pdf, heading, width - 2 * PAD, measured) for _key, heading, width in columns]
    draw(header, True)
    for row in rows:
        cells = []
        for width, name in zip(widths, keys, strict=True):
            value = row[name]
            if isinstance(value, bool):
                value = "true" if value else "false"
            text = _printable("" if value is None else str(value))
            complex_script = bool(COMPLEX.search(text))
            if complex_script:
                pdf.set_text_shaping(True)
            cells.append(_wrap(pdf, text, width - 2 * PAD, measured))
            if complex_script:
                pdf.set_text_shaping(False)
        draw(cells, False)
    rule_columns()
    if not rows:
        pdf.ln(2)
        pdf.cell(0, 6, L._("Ingen oppføringer i perioden."))
    return bytes(pdf.output())


def case_record_columns(L: Lang) -> tuple[tuple[str, str, float], ...]:
    """The case record's columns on landscape A4 (277 mm): it reads as a journal, not as the CSV's fields."""
    return (("when", L._("Tidspunkt"), 42), ("who", L._("Hvem"), 44), ("channel", L._("Kanal"), 26),
            ("kind", L._("Type"), 30), ("after_hours", L._("Etter arbeidstid"), 22), ("text", L._("Tekst"), 113))


def case_record_rows(session, L: Lang, youth, log_entries) -> list[dict]:
    """Each entry with local time in words, who acted by name, the channel in words and after-hours marked."""
    from handlers.web.dashboard import (
        describe,  # the timeline's own words (dashboard.py does not import this)
    )

    rows = []
    for row in describe(session, L, log_entries, {youth.id: youth.name}):
        who = row["who"] or (row["party_label"] if row["party"] == "system" else "")
        channel = f"{row['channel']} {row['direction']}".strip()
        rows.append({"when": L.day_and_time(row["at"], "EEE d. MMM y", " kl. ", "HH.mm"),
                     "who": f"{who} ({row['party_label']})" if who and row["party"] != "system" else who,
                     "channel": channel, "kind": row["kind_label"],
                     "after_hours": L._("ja") if row["after_hours"] else "", "text": row["text"]})
    return rows


def _span(L: Lang, period: Period) -> str:
    if period.first and period.last:
        return L._("Periode: {first}–{last}", first=period.first.isoformat(), last=period.last.isoformat())
    if period.first:
        return L._("Periode: fra {first}", first=period.first.isoformat())
    if period.last:
        return L._("Periode: til og med {last}", last=period.last.isoformat())
    return L._("Periode: hele kontaktloggen")


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def export_elsewhere(settings, youth_id: int, start, end, fmt: str, title: str, lines: list[str]) -> tuple[bytes, int]:
    """`export_body` in a process of its own: reading and rendering a month (4,000 entries) is seconds of
    Python, and in a thread of the service it would hold the GIL, so the event loop, for a quarter of a
    second at a time (bench/export_loop_lag.py). If the process cannot be used, it runs here."""
    global _pool
    if settings.database_url in ("sqlite://", "sqlite:///:memory:"):  # no other process can see it
        return export_body(settings, youth_id, start, end, fmt, title, lines, own_process=False)
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        pool = _pool
    try:
        return pool.submit(export_body, settings, youth_id, start, end, fmt, title, lines).result()
    except (BrokenProcessPool, pickle.PicklingError, OSError) as exc:
        log.warning("export process unavailable (%s); exporting in this process", type(exc).__name__)
        with _pool_lock:
            if _pool is pool:
                _pool = None
        return export_body(settings, youth_id, start, end, fmt, title, lines, own_process=False)


def export_body(settings, youth_id: int, start, end, fmt: str, title: str, lines: list[str],
                own_process: bool = True) -> tuple[bytes, int]:
    """The export's bytes and its number of entries: read in a read transaction (never the write lock),
    rendered outside any transaction."""
    from models.db import make_engine, read_transaction

    if own_process:
        from models import crypto

        # TETTPA_DATA_KEY, newest first, as bot.run.bootstrap reads it (the edge may not import the root).
        crypto.use_keys([key.strip() for key in settings.data_key.split(",") if key.strip()])
    engine = make_engine(settings.database_url)
    L = Lang("nb", settings.tz)
    try:
        with read_transaction(engine) as session:
            if fmt == "csv":
                body = export(session, settings, fmt="csv", youth_id=youth_id, start=start, end=end).encode("utf-8")
                return body, sum(1 for _ in csv.reader(io.StringIO(body.decode("utf-8")))) - 1
            # The case record: local times in words, who by name, the channel in words (the dashboard's words).
            youth = session.get(Person, youth_id)
            rows = case_record_rows(session, L, youth, entries(session, youth_id=youth_id, start=start, end=end))
    finally:
        engine.dispose()
    count = len(rows)
    lines = [*lines, L.n_("{n} oppføring.", "{n} oppføringer.", count)]
    return render_pdf(settings.pdf_font, L, title=title, lines=lines, rows=rows,
                      columns=case_record_columns(L)), count


def _export(svc: Service, request: Request, viewer: Viewer, fmt: str) -> Response:
    L, tz = lang(svc), svc.settings.tz
    try:
        period = period_of(L, request.query_params, tz)
    except BadQuery as exc:
        return error_page(svc, 400, str(exc), viewer)
    youth_id = request.path_params["youth_id"]
    with svc.reading() as session:
        youth = visible_youth(session, viewer, youth_id)
    if youth is None:
        return not_found(svc, viewer)
    title = L._("Kontaktlogg for {name} (id {id})", name=youth.name, id=youth.id)
    made = L._("Eksportert {when} av {name}", when=L.datetime(svc.now(), "d. MMMM y 'kl.' HH:mm"),
               name=viewer.person.name)
    job = (svc.settings, youth.id, period.start, period.end, fmt, title, [_span(L, period), made])
    try:
        body, count = export_elsewhere(*job)
    except FontMissing as exc:
        log.error("PDF export needs a TrueType font at TETTPA_PDF_FONT=%s", exc)
        return error_page(svc, 503, L._(
            "PDF-eksporten mangler skrifttypen på serveren (TETTPA_PDF_FONT). CSV-eksporten virker."
        ), viewer)
    # The export leaves only after its trace is committed: no export without its trace.
    with svc.tx() as session:
        audit.record(session, at=svc.now(), actor_id=viewer.person.id,
                     action=audit.EXPORT_CSV if fmt == "csv" else audit.EXPORT_PDF, youth_id=youth.id,
                     detail=urlencode([(k, v) for k, v in (("from", period.first), ("until", period.last),
                                                           ("entries", count)) if v is not None]))
    if fmt == "csv":
        return _download(body, "text/csv; charset=utf-8", _filename(youth.id, period, "csv"))
    return _download(body, "application/pdf", _filename(youth.id, period, "pdf"))


@page()
def csv_export(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    return _export(svc, request, viewer, "csv")


@page()
def pdf_export(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    return _export(svc, request, viewer, "pdf")


routes = [
    Route("/dashboard/youth/{youth_id:int}/export.csv", csv_export),
    Route("/dashboard/youth/{youth_id:int}/export.pdf", pdf_export),
]
