"""The dashboard's report page: the funder's figures as `tettpa report` gives them, a chart, PDF and CSV."""

from __future__ import annotations

from datetime import date

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from bot import report, report_pdf, status_codes, units
from bot.service import Service
from handlers.web.charts import Series, stacked_bars
from handlers.web.dashboard_base import (
    SECURITY_HEADERS,
    BadQuery,
    Viewer,
    build_url,
    error_page,
    forbidden,
    lang,
    not_found,
    page,
    parse_date,
    render,
)
from handlers.web.dashboard_programme import chosen_unit


def _report_request(svc: Service, request: Request, viewer: Viewer):
    """The report's period and unit from the query, or an error page: only coordinators (their own unit)
    and admins see it."""
    L, params = lang(svc), request.query_params
    if not viewer.coordinator:
        return None, forbidden(svc, viewer)
    today = svc.now().astimezone(svc.settings.tz).date()
    try:
        first = parse_date(L, params.get("from"), L._("Fra")) or date(today.year, 1, 1)
        last = parse_date(L, params.get("until"), L._("Til")) or today
        if last < first:
            raise BadQuery(L._("«Til» kan ikke være før «Fra»."))
        unit_id = int(params["unit"]) if params.get("unit", "").isdigit() else None
    except BadQuery as exc:
        return None, error_page(svc, 400, str(exc), viewer)
    with svc.reading() as session:
        try:
            unit = chosen_unit(session, viewer, unit_id)
        except LookupError:
            return None, not_found(svc, viewer)
        data = report.figures(session, first=first, last=last, tz=svc.settings.tz,
                              unit_id=unit.id if unit else None)
        choices = [(u.id, u.name) for u in units.all_units(session)] \
            if units.sees_every_unit(session, viewer.person) else []
    return (data, unit.name if unit else None, choices), None


@page()
def report_page(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    """The funder's report: the same figures as `tettpa report`, a chart, and the PDF and CSV."""
    found, problem = _report_request(svc, request, viewer)
    if problem is not None:
        return problem
    data, unit_name, choices = found
    L = lang(svc)
    groups = data["status_groups"]
    chart = stacked_bars(
        L._("Hvor ungdommene står ved periodens slutt"), list(groups),
        [Series(L._("ungdommer"), list(groups.values()), "#2f5d50")],
        description="; ".join(f"{name}: {n}" for name, n in groups.items()),
        empty_text=L._("Ingen statuskoder i perioden"), ticks=[str(i + 1) for i in range(len(groups))])
    query = {"from": data["from"], "until": data["until"], "unit": data["unit"]}
    return render(svc, "report.html", viewer=viewer, title=L._("Rapport til tilskuddsgiver"), data=data,
                  words=report.labels(L), channels=report_pdf.channel_words(L), unit_name=unit_name,
                  choices=choices, chart=chart, groups=list(groups), label=status_codes.label,
                  pdf_url=build_url("/dashboard/report.pdf", **query),
                  csv_url=build_url("/dashboard/report.csv", **query),
                  median=L.duration_seconds(data["median_first_answer_seconds"])
                  if data["median_first_answer_seconds"] is not None else "–")


@page()
def report_download(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    found, problem = _report_request(svc, request, viewer)
    if problem is not None:
        return problem
    data, unit_name, _choices = found
    name = f"rapport-{data['from']}-{data['until']}"
    if request.url.path.endswith(".csv"):
        body, media, name = report.as_csv(data).encode("utf-8"), "text/csv; charset=utf-8", f"{name}.csv"
    else:
        try:
            body = report_pdf.render(svc.settings.pdf_font, lang(svc), data, unit_name=unit_name)
        except report_pdf.FontMissing:
            return error_page(svc, 503, lang(svc)._(
                "PDF-eksporten mangler skrifttypen på serveren (TETTPA_PDF_FONT). CSV-eksporten virker."), viewer)
        media, name = "application/pdf", f"{name}.pdf"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media, headers=headers)
