"""The funder's report as a PDF: the figures, contacts by channel, and the status distribution as a chart."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from bot import report, status_codes
from bot.i18n import Lang

MARGIN = 18
BAR_COLOUR = (47, 93, 80)


class FontMissing(Exception):
    pass


def channel_words(L: Lang) -> dict[str, str]:
    return {"telegram": "Telegram", "sms": L._("SMS"), "call": L._("Telefon"), "meeting": L._("Møte"),
            "manual": L._("Manuell")}


def _percent(share: float) -> str:
    return f"{round(100 * share)} %"


def render(font: str, L: Lang, data: dict, *, unit_name: str | None) -> bytes:
    if not Path(font).is_file():
        raise FontMissing(font)
    words = report.labels(L)
    pdf = FPDF(format="A4")
    pdf.add_font("body", "", font)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_title(L._("Rapport til tilskuddsgiver"))
    pdf.set_creator("Tett på")
    pdf.add_page()
    pdf.set_font("body", size=16)
    pdf.cell(0, 10, L._("Rapport til tilskuddsgiver"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=10)
    pdf.cell(0, 6, L._("Periode: {first}–{last}", first=data["from"], last=data["until"]), new_x="LMARGIN",
             new_y="NEXT")
    pdf.cell(0, 6, L._("Enhet: {name}", name=unit_name) if unit_name else L._("Alle enheter"), new_x="LMARGIN",
             new_y="NEXT")
    pdf.ln(4)
    median = data["median_first_answer_seconds"]
    rows = [
        (words["youths"], report.shown(L, data["youths"])),
        (words["contacts"], report.shown(L, data["contacts"])),
        (words["after_hours_share"], _percent(data["after_hours_share"])),
        (words["median"], L.duration_seconds(median) if median is not None else "–"),
        (words["wakeups_sent"], report.shown(L, data["wakeups"]["sent"])),
        (words["wakeups_confirmed"], report.shown(L, data["wakeups"]["confirmed"])),
        (words["meetings_held"], report.shown(L, data["meetings_held"])),
        (words["activities_held"], report.shown(L, data["activities"]["held"])),
        (words["activities_came"], report.shown(L, data["activities"]["came"])),
        (words["in_activity_share"], _percent(data["in_activity_share"])),
    ]
    _table(pdf, L._("Nøkkeltall"), rows)
    channels = channel_words(L)
    _table(pdf, L._("Kontakter etter kanal"),
           [(channels[c], report.shown(L, n)) for c, n in data["by_channel"].items()])
    _chart(pdf, L, data["status_groups"])
    _table(pdf, L._("Statuskoder ved periodens slutt"),
           [(status_codes.label(code), report.shown(L, n)) for code, n in data["status"].items()]
           + [(words["without_status"], report.shown(L, data["without_status"]))])
    pdf.set_font("body", size=8)
    pdf.multi_cell(0, 4, L._("Bare samletall, ingen navn. Tall under 5 vises som «under 5»."))
    return bytes(pdf.output())


def _table(pdf: FPDF, title: str, rows: list[tuple[str, str]]) -> None:
    if pdf.get_y() + 10 + 7 * len(rows) > pdf.h - MARGIN:
        pdf.add_page()
    pdf.set_font("body", size=12)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=10)
    for label, value in rows:
        pdf.cell(130, 6.5, label, border="B")
        pdf.cell(0, 6.5, value, border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _chart(pdf: FPDF, L: Lang, groups: dict[str, int]) -> None:
    """Horizontal bars, one per Udir group, as the project reports draw them; small counts labelled "under 5"."""
    height = 12 + 9 * len(groups)
    if pdf.get_y() + height > pdf.h - MARGIN:
        pdf.add_page()
    pdf.set_font("body", size=12)
    pdf.cell(0, 8, L._("Hvor ungdommene står ved periodens slutt"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=9)
    top = max(groups.values(), default=0) or 1
    width = pdf.w - 2 * MARGIN - 70 - 22
    pdf.set_fill_color(*BAR_COLOUR)
    for name, n in groups.items():
        y = pdf.get_y()
        pdf.cell(70, 7, name)
        if n:
            # Every small count gets the same bar: a bar as long as the count would tell it.
            drawn = report.SMALL / 2 if n < report.SMALL else n
            pdf.rect(MARGIN + 70, y + 1, max(1.5, width * drawn / max(top, report.SMALL)), 5, style="F")
        pdf.set_xy(MARGIN + 70 + width + 2, y)
        pdf.cell(20, 7, report.shown(L, n), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
