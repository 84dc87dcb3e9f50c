"""Sign-on for the dashboard with OpenID Connect (authorization code with PKCE), through authlib.

GET /login/oidc sends the browser to the provider with a fresh state, nonce and PKCE verifier, kept in a
signed, short-lived cookie; GET /login/oidc/callback takes the code back, exchanges it, checks the ID token
(signature from the provider's keys, issuer, audience, expiry, nonce) and starts an ordinary dashboard
session for the staff member with that verified e-mail. Network calls are async; database work runs in a
thread, so the event loop never waits on either.
"""

from __future__ import annotations

import logging
import secrets
import time

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot import auth, sso
from handlers.web.dashboard_base import (
    SESSION_COOKIE,
    error_page,
    lang,
    not_found,
    safe_next,
    secure_cookies,
    service,
    set_session_cookie,
)
from models.auth import STAGE_FULL

log = logging.getLogger(__name__)

FLOW_COOKIE = "tettpa_oidc"
FLOW_MAX_AGE = 600  # seconds a person may spend at the provider's login page
METADATA_TTL = 3600.0  # the provider's keys rotate; its metadata is read again after an hour
HTTP_TIMEOUT = 10.0
_metadata: dict[str, tuple[float, dict, KeySet]] = {}


class SignOnError(Exception):
    """The provider could not be asked, or what it answered does not hold."""


def _serializer(svc) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(svc.settings.secret_key, salt="oidc-flow")


def redirect_uri(svc) -> str:
    return f"{svc.settings.public_url}/login/oidc/callback"


async def provider(svc) -> tuple[dict, KeySet]:
    """The provider's metadata and signing keys, from its discovery document (cached)."""
    issuer = svc.settings.oidc_issuer
    cached = _metadata.get(issuer)
    if cached and time.monotonic() - cached[0] < METADATA_TTL:
        return cached[1], cached[2]
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            metadata = (await http.get(f"{issuer}/.well-known/openid-configuration")).raise_for_status().json()
            keys = KeySet.import_key_set((await http.get(metadata["jwks_uri"])).raise_for_status().json())
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise SignOnError(f"the provider's metadata could not be read ({type(exc).__name__})") from None
    if metadata.get("issuer", "").rstrip("/") != issuer:
        raise SignOnError("the provider names another issuer than TETTPA_OIDC_ISSUER")
    _metadata[issuer] = (time.monotonic(), metadata, keys)
    return metadata, keys


def _client(svc, metadata: dict) -> AsyncOAuth2Client:
    methods = metadata.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return AsyncOAuth2Client(
        svc.settings.oidc_client_id, svc.settings.oidc_client_secret, scope="openid email profile",
        redirect_uri=redirect_uri(svc), code_challenge_method="S256", token_endpoint_auth_method=method,
        timeout=HTTP_TIMEOUT,
    )


def _refused(svc, message: str, status: int = 403) -> Response:
    response = error_page(svc, status, message)
    response.delete_cookie(FLOW_COOKIE, path="/login")
    return response


async def start(request: Request) -> Response:
    """Send the browser to the provider's login."""
    svc = service(request)
    if not svc.settings.oidc_enabled:
        return not_found(svc)
    try:
        metadata, _keys = await provider(svc)
    except SignOnError as exc:
        log.warning("sign-on unavailable: %s", exc)
        return _refused(svc, lang(svc)._("Innloggingen med organisasjonskonto svarer ikke nå. Prøv igjen "
                                         "om litt."), status=502)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    async with _client(svc, metadata) as client:
        url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=state, nonce=nonce,
                                                 code_verifier=verifier)
    flow = _serializer(svc).dumps({"state": state, "nonce": nonce, "verifier": verifier,
                                   "next": safe_next(request.query_params.get("next"))})
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(FLOW_COOKIE, flow, max_age=FLOW_MAX_AGE, httponly=True, samesite="lax",
                        secure=secure_cookies(svc), path="/login")
    return response


async def _claims(svc, code: str, flow: dict) -> dict:
    """Exchange the code and check the ID token; its claims."""
    metadata, keys = await provider(svc)
    try:
        async with _client(svc, metadata) as client:
            token = await client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=flow["verifier"])
    except Exception as exc:  # authlib raises its own OAuth errors and httpx's: either way no token
        raise SignOnError(f"the code could not be exchanged ({type(exc).__name__})") from None
    if "id_token" not in token:
        raise SignOnError("the provider gave no ID token")
    try:
        decoded = jwt.decode(token["id_token"], keys)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": svc.settings.oidc_client_id},
            nonce={"essential": True, "value": flow["nonce"]},
            exp={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise SignOnError(f"the ID token does not hold ({type(exc).__name__})") from None
    return dict(decoded.claims)


async def callback(request: Request) -> Response:
    """Back from the provider: check everything, then log the staff member in."""
    svc = service(request)
    if not svc.settings.oidc_enabled:
        return not_found(svc)
    L = lang(svc)
    try:
        flow = _serializer(svc).loads(request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_MAX_AGE)
    except BadSignature:
        return _refused(svc, L._("Innloggingen var utløpt. Prøv å logge inn på nytt."), status=400)
    given_state = request.query_params.get("state", "")
    if not secrets.compare_digest(given_state.encode(), flow["state"].encode()):
        return _refused(svc, L._("Innloggingen var utløpt. Prøv å logge inn på nytt."), status=400)
    code = request.query_params.get("code")
    if not code:  # the person cancelled, or the provider refused them
        return _refused(svc, L._("Innloggingen ble avbrutt."), status=400)
    try:
        claims = await _claims(svc, code, flow)
    except SignOnError as exc:
        log.warning("sign-on refused: %s", exc)
        return _refused(svc, L._("Innloggingen med organisasjonskonto mislyktes. Prøv igjen."))
    return await run_in_threadpool(_log_in, svc, request, claims, flow["next"])


def _log_in(svc, request: Request, claims: dict, target: str) -> Response:
    L = lang(svc)
    with svc.tx() as session:
        found = sso.sign_on(session, claims)
        cookie = None
        if found.person is not None:
            auth.end_session(svc, session, request.cookies.get(SESSION_COOKIE))
            # The provider did the second factor (if the county asks for one); a TOTP here would be a third.
            cookie = auth.start_session(svc, session, found.person, STAGE_FULL)
    if cookie is None:
        message = (L._("Organisasjonskontoen oppga ingen bekreftet e-postadresse.") if found.reason == "unverified"
                   else L._("Det finnes ingen kontaktperson eller koordinator med denne e-postadressen i Tett på. "
                            "Be en koordinator legge deg til."))
        return _refused(svc, message)
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    set_session_cookie(response, svc, cookie)
    response.delete_cookie(FLOW_COOKIE, path="/login")
    return response


routes = [
    Route("/login/oidc", start, methods=["GET"]),
    Route("/login/oidc/callback", callback, methods=["GET"]),
]
