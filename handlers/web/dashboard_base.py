"""What every dashboard page shares: templates, the logged-in viewer, guards, CSRF and safe headers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from time import perf_counter
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot import auth, notes, timespec
from bot.i18n import Lang
from bot.service import Service
from handlers.limits import DASHBOARD_FORM_BYTES, capped_form, capped_upload, db_int, sane_day
from models.auth import STAGE_ENROL, STAGE_FULL, STAGE_TOTP
from models.people import Person, Role, get_person

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
SESSION_COOKIE = "tettpa_session"
LOGIN_COOKIE = "tettpa_login"

# No script runs on these pages, so none is allowed: an injected <script> could not run even if it
# slipped past the escaping. Styles come from our own stylesheet; charts are inline SVG.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def service(request: Request) -> Service:
    return request.app.state.runtime.service


def lang(svc: Service) -> Lang:
    return Lang("nb", svc.settings.tz)


@dataclass
class Viewer:
    person: Person
    stage: str
    csrf: str

    @property
    def coordinator(self) -> bool:
        return self.person.role in (Role.coordinator, Role.admin)


def secure_cookies(svc: Service) -> bool:
    return svc.settings.public_url.startswith("https://")


def set_session_cookie(response: Response, svc: Service, value: str) -> None:
    response.set_cookie(SESSION_COOKIE, value, httponly=True, samesite="lax", secure=secure_cookies(svc), path="/")


def clear_session_cookie(response: Response, svc: Service) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(svc))


def render(svc: Service, name: str, *, status: int = 200, viewer: Viewer | None = None, **context) -> HTMLResponse:
    L = lang(svc)
    html = TEMPLATES.get_template(f"dashboard/{name}").render(
        _=L._, n_=L.n_, L=L, viewer=viewer, csrf=viewer.csrf if viewer else context.pop("csrf", ""),
        url=build_url, **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(svc: Service, status: int, message: str, viewer: Viewer | None = None) -> HTMLResponse:
    return render(svc, "error.html", status=status, viewer=viewer, status_code=status, message=message)


def not_found(svc: Service, viewer: Viewer | None = None) -> HTMLResponse:
    return error_page(svc, 404, lang(svc)._("Fant ikke siden, eller du har ikke tilgang til den."), viewer)


def forbidden(svc: Service, viewer: Viewer | None = None) -> HTMLResponse:
    return error_page(svc, 403, lang(svc)._("Du har ikke tilgang til denne siden."), viewer)


def build_url(path: str, **params) -> str:
    """A local URL with the non-empty parameters; lists repeat the parameter."""
    pairs = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(key, str(v)) for v in values if v is not None and v != ""]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def safe_next(value: str | None) -> str:
    """Only a path on this site: a crafted ?next= must not send a person elsewhere after login."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        if value.startswith(("/dashboard", "/account")):
            return value
    return "/dashboard"


def current_viewer(svc: Service, request: Request) -> Viewer | None:
    """Who is asking: read in a read transaction, and in a write only when the session is to be ended or
    marked as seen (once a minute)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        with svc.reading() as session:
            found = auth.load_session(svc, session, cookie, write=False)
    except auth.NeedsWrite:
        with svc.tx() as session:
            found = auth.load_session(svc, session, cookie)
    if found is None:
        return None
    row, person = found
    return Viewer(person=person, stage=row.stage, csrf=row.csrf)


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def _guard(svc: Service, request: Request, viewer: Viewer | None, stages: tuple[str, ...]) -> Response | None:
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _redirect(f"/login?next={quote(target, safe='')}" if request.method == "GET" else "/login")
    if viewer.stage in stages:
        return None
    if viewer.stage == STAGE_TOTP:
        return _redirect("/login/totp")
    if viewer.stage == STAGE_ENROL:
        return _redirect("/account/2fa")
    return _redirect("/dashboard")


class BadQuery(Exception):
    pass


@dataclass
class Period:
    start: datetime | None
    end: datetime | None
    first: date | None
    last: date | None


async def read_upload(request: Request, limit: int) -> FormData:
    """A posted form with a file, read with a byte cap (413); a malformed one is empty, so its CSRF check fails."""
    try:
        return await capped_upload(request, limit)
    except ValueError:
        return FormData()


async def read_form(request: Request) -> FormData:
    """A posted form, read with a byte cap (413, also for multipart); a malformed one is empty, so its CSRF
    check fails."""
    try:
        return await capped_form(request, DASHBOARD_FORM_BYTES)
    except ValueError:
        return FormData()


def parse_date(L: Lang, value: str | None, label: str) -> date | None:
    if not value:
        return None
    try:
        day = timespec.parse_date(value)
    except timespec.SpecError:
        raise BadQuery(L._("{field}: «{value}» er ikke en dato (ÅÅÅÅ-MM-DD).", field=label, value=value)) from None
    if not sane_day(day):
        # Weeks and periods around year 1 or 9999 overflow Python's dates and the database's columns.
        raise BadQuery(L._("{field}: «{value}» er utenfor årene 1900–2999.", field=label, value=value))
    return day


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return timespec.start_of_day(day, tz)


def period_of(L: Lang, params, tz: ZoneInfo) -> Period:
    """`from` and `until` as local dates, both days included, as the CLI's export reads them."""
    first = parse_date(L, params.get("from"), L._("Fra"))
    last = parse_date(L, params.get("until"), L._("Til"))
    if first and last and last < first:
        raise BadQuery(L._("«Til» kan ikke være før «Fra»."))
    return Period(
        start=local_midnight(first, tz) if first else None,
        end=local_midnight(last + timedelta(days=1), tz) if last else None,
        first=first, last=last,
    )


def visible_youth(session: Session, viewer: Viewer, youth_id: int) -> Person | None:
    youth = get_person(session, person_id=youth_id)
    return youth if notes.may_see(viewer.person, youth) else None


PageFn = Callable[[Service, Request, Viewer, FormData | None], Response]


def page(*stages: str, upload: int | None = None) -> Callable[[PageFn], Callable]:
    """A route for logged-in people at one of `stages` (default: a complete login). Forms must carry the
    session's CSRF token. The body runs in a worker thread: database work never blocks the event loop.
    `upload`: the page takes a file (multipart) of up to that many bytes; other pages refuse multipart."""
    allowed = stages or (STAGE_FULL,)

    def wrap(fn: PageFn):
        def run(request: Request, form: FormData | None) -> Response:
            started = perf_counter()
            svc = service(request)
            viewer = current_viewer(svc, request)
            response = _guard(svc, request, viewer, allowed)
            if response is None and form is not None and not auth.csrf_ok(viewer.csrf, form.get("csrf")):
                response = error_page(svc, 403, lang(svc)._(
                    "Skjemaet var utløpt eller kom ikke fra Tett på. Gå tilbake, last siden på nytt og prøv igjen."
                ), viewer)
            if response is None:
                response = fn(svc, request, viewer, form)
            # The server's own time for the page (what bench/dashboard_timeline.py reads).
            response.headers["Server-Timing"] = f"app;dur={(perf_counter() - started) * 1000:.1f}"
            return response

        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            if any(isinstance(v, int) and db_int(v) is None for v in request.path_params.values()):
                return not_found(service(request))  # an id no row can have (and the database cannot hold)
            form = None
            if request.method == "POST":
                form = await read_upload(request, upload) if upload else await read_form(request)
            return await run_in_threadpool(run, request, form)

        return endpoint

    return wrap
