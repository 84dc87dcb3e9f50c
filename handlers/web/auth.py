"""Login, second factor, logout and the account page (setting up TOTP)."""

from __future__ import annotations

from datetime import datetime

import segno
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot import auth
from handlers.web.dashboard_base import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Viewer,
    clear_session_cookie,
    current_viewer,
    lang,
    page,
    read_form,
    render,
    safe_next,
    secure_cookies,
    service,
    set_session_cookie,
)
from models.auth import STAGE_ENROL, STAGE_FULL, STAGE_TOTP
from models.people import Person


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def _login_page(svc, request: Request, *, status: int = 200, error: str | None = None, email: str = "") -> Response:
    """The form, with a fresh nonce cookie and the CSRF token bound to it."""
    nonce = auth.new_login_nonce()
    settings = svc.settings
    response = render(
        svc, "login.html", status=status, csrf=auth.login_csrf(svc, nonce), error=error, email=email,
        next=safe_next(request.query_params.get("next")), title=lang(svc)._("Logg inn"),
        oidc_label=sign_on_label(svc) if settings.oidc_enabled else None,
        password_login=settings.password_login or not settings.oidc_enabled,
    )
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="lax", secure=secure_cookies(svc),
                        path="/login", max_age=3600)
    return response


def _client(svc, request: Request) -> str:
    """Where the attempt came from, for the per-client lock-out (X-Forwarded-For only from trusted proxies)."""
    peer = request.client.host if request.client else None
    return auth.client_address(peer, request.headers.get("x-forwarded-for"), svc.settings.trusted_networks)


def sign_on_label(svc) -> str:
    """The sign-on button: the configured label, or the default one in the page's language."""
    label = svc.settings.oidc_label
    default = type(svc.settings).model_fields["oidc_label"].default
    return lang(svc)._("Logg inn med organisasjonskonto") if label == default else label


def _locked_text(svc, until: datetime) -> str:
    L = lang(svc)
    return L._("For mange mislykkede forsøk. Prøv igjen {when}.", when=L.when(until, svc.now()))


async def login(request: Request) -> Response:
    svc = service(request)
    if request.method == "GET":
        viewer = await run_in_threadpool(current_viewer, svc, request)
        if viewer is not None and viewer.stage == STAGE_FULL:
            return _redirect(safe_next(request.query_params.get("next")))
        return await run_in_threadpool(_login_page, svc, request)
    form = await read_form(request)
    return await run_in_threadpool(_login_post, svc, request, form)


def _login_post(svc, request: Request, form: FormData) -> Response:
    L = lang(svc)
    if not svc.settings.password_login and svc.settings.oidc_enabled:
        # TETTPA_PASSWORD_LOGIN=0: a password, even a right one, opens nothing; sign-on is the way in.
        return _login_page(svc, request, status=403, error=L._("Innlogging med passord er slått av. Bruk "
                                                              "organisasjonskontoen."))
    email = str(form.get("email") or "")[:320]
    password = str(form.get("password") or "")[:1024]
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or not auth.csrf_ok(auth.login_csrf(svc, nonce), form.get("csrf")):
        return _login_page(svc, request, status=400, email=email,
                           error=L._("Skjemaet var utløpt. Prøv å logge inn på nytt."))
    with svc.tx() as session:
        check = auth.check_password(svc, session, email, password, client=_client(svc, request))
        cookie = None
        if check.person is not None:
            auth.end_session(svc, session, request.cookies.get(SESSION_COOKIE))
            cookie = auth.start_session(svc, session, check.person, check.stage)
    if check.locked_until is not None:
        return _login_page(svc, request, status=429, email=email, error=_locked_text(svc, check.locked_until))
    if cookie is None:
        return _login_page(svc, request, status=401, email=email, error=L._("Feil e-post eller passord."))
    target = {STAGE_TOTP: "/login/totp", STAGE_ENROL: "/account/2fa"}.get(check.stage)
    response = _redirect(target or safe_next(str(form.get("next") or "")))
    set_session_cookie(response, svc, cookie)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@page(STAGE_TOTP)
def totp(svc, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    L = lang(svc)
    if form is None:
        return render(svc, "totp.html", viewer=viewer, title=L._("Engangskode"))
    with svc.tx() as session:
        person = session.get(Person, viewer.person.id)
        result = auth.check_second_factor(svc, session, person, str(form.get("code") or ""),
                                          client=_client(svc, request))
        cookie = None
        if result is True:
            auth.end_session(svc, session, request.cookies.get(SESSION_COOKIE))
            cookie = auth.start_session(svc, session, person, auth.next_stage(svc, session, person))
        elif isinstance(result, datetime):
            auth.end_session(svc, session, request.cookies.get(SESSION_COOKIE))
    if isinstance(result, datetime):
        response = _login_page(svc, request, status=429, error=_locked_text(svc, result))
        clear_session_cookie(response, svc)
        return response
    if cookie is None:
        return render(svc, "totp.html", status=401, viewer=viewer, title=L._("Engangskode"),
                      error=L._("Feil kode. Prøv igjen med koden som står i appen nå."))
    response = _redirect("/dashboard")
    set_session_cookie(response, svc, cookie)
    return response


async def logout(request: Request) -> Response:
    svc = service(request)
    form = await read_form(request)
    return await run_in_threadpool(_logout, svc, request, form)


def _logout(svc, request: Request, form: FormData) -> Response:
    viewer = current_viewer(svc, request)
    if viewer is not None and auth.csrf_ok(viewer.csrf, form.get("csrf")):
        with svc.tx() as session:
            auth.end_session(svc, session, request.cookies.get(SESSION_COOKIE))
    elif viewer is not None:
        # A logout posted from elsewhere is ignored: it would only be a nuisance, but it is not ours.
        return _redirect("/dashboard")
    response = _redirect("/login")
    clear_session_cookie(response, svc)
    return response


def _qr(uri: str) -> Markup:
    # segno writes the SVG itself from the URI's modules; the URI's text is not in it.
    return Markup(segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#222", light="#fff"))


@page(STAGE_FULL, STAGE_ENROL)
def account(svc, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    L = lang(svc)
    error = None
    enabled_now = False
    with svc.tx() as session:
        person = session.get(Person, viewer.person.id)
        if form is not None:
            action = form.get("action")
            code = str(form.get("code") or "")
            if action == "enable" and auth.enable_totp(svc, session, person, code):
                enabled_now = True
            elif action == "disable" and not svc.settings.require_2fa and auth.disable_totp(svc, session, person, code):
                return _redirect("/account/2fa")
            else:
                error = L._("Feil kode. Sjekk at klokka på telefonen går riktig, og prøv igjen.")
        if enabled_now and viewer.stage == STAGE_ENROL:
            auth.end_session(svc, session, request.cookies.get(SESSION_COOKIE))
            cookie = auth.start_session(svc, session, person, STAGE_FULL)
            response = _redirect("/dashboard")
            set_session_cookie(response, svc, cookie)
            return response
        if enabled_now:
            return _redirect("/account/2fa")
        enabled = auth.has_totp(session, person.id)
        secret = uri = None
        if not enabled:
            pending = auth.pending_totp(svc, session, person)
            secret = pending.secret
            uri = auth.provisioning_uri(secret, person.email or str(person.id))
    return render(
        svc, "account.html", status=400 if error else 200, viewer=viewer, title=L._("Konto og innlogging"),
        enabled=enabled, secret=secret, uri=uri, qr=_qr(uri) if uri else None, error=error,
        required=svc.settings.require_2fa, must_enrol=viewer.stage == STAGE_ENROL,
    )


routes = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/login/totp", totp, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/account/2fa", account, methods=["GET", "POST"]),
]
