"""Sign-on with the county's accounts (OpenID Connect) against a real OpenID provider on 127.0.0.1
(oidc-provider-mock), through the web server and in headless Chromium. Roles stay in Tett på: the provider
only vouches for a verified e-mail."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import pytest

from bot.service import Service
from models import crypto
from models.db import make_engine
from models.migrate import upgrade
from standins.server import BackgroundServer
from tests.browser import EMAILS, PASSWORD, chromium, screenshot, staff_cast, web_app
from tests.conftest import make_settings

CLIENT_ID, CLIENT_SECRET = "tettpa-dashboard", "oidc-client-secret"
USERS = [
    oidc_provider_mock.User(sub="cora", claims={"email": "Cora@ot.example", "email_verified": True,
                                                "name": "Cora Koordinator"}),
    oidc_provider_mock.User(sub="kari", claims={"email": EMAILS["primary"], "email_verified": True}),
    oidc_provider_mock.User(sub="mallory", claims={"email": "mallory@elsewhere.example", "email_verified": True}),
    oidc_provider_mock.User(sub="unverified", claims={"email": EMAILS["coordinator"], "email_verified": False}),
]


@dataclass
class Site:
    url: str
    issuer: str
    service: Service
    ids: object


@pytest.fixture
def provider() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread(user_claims=USERS, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def _site(tmp_path, provider: str, **overrides) -> Iterator[Site]:
    settings = make_settings(f"sqlite:///{tmp_path / 'tettpa.db'}", oidc_issuer=provider, oidc_client_id=CLIENT_ID,
                             oidc_client_secret=CLIENT_SECRET, **overrides)
    crypto.use_keys([settings.data_key])
    engine = make_engine(settings.database_url)
    upgrade(engine)
    service = Service(settings=settings, engine=engine)
    ids = staff_cast(service)
    with BackgroundServer(web_app(service)) as server:
        settings.public_url = server.url  # the redirect URI the provider sends the browser back to
        yield Site(server.url, provider, service, ids)
    engine.dispose()


@pytest.fixture
def site(tmp_path, provider) -> Iterator[Site]:
    yield from _site(tmp_path, provider)


def sign_on(site: Site, sub: str, *, state: str | None = None) -> httpx.Response:
    """The whole round trip as a browser makes it: to the provider, choose the user, and back."""
    http = httpx.Client(base_url=site.url, timeout=10)
    start = http.get("/login/oidc")
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(site.issuer)
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [f"{site.url}/login/oidc/callback"]
    back = httpx.post(authorize, data={"sub": sub}, timeout=10)
    assert back.status_code in (302, 303), back.text
    callback = back.headers["location"]
    if state is not None:
        callback = callback.replace(f"state={query['state'][0]}", f"state={state}")
    response = http.get(callback.removeprefix(site.url))
    response.client = http
    return response


def test_it_signs_a_coordinator_on_by_her_verified_email_with_her_role(site):
    response = sign_on(site, "cora")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    http = response.client
    overview = http.get("/dashboard")
    assert overview.status_code == 200 and "Ola Berg" in overview.text and "Nina Nilsen" in overview.text


def test_it_keeps_a_signed_on_worker_to_her_own_youths(site):
    http = sign_on(site, "kari").client
    assert http.get(f"/dashboard/youth/{site.ids.youth}").status_code == 200
    assert http.get(f"/dashboard/youth/{site.ids.other_youth}").status_code in (403, 404)


def test_it_refuses_an_unknown_email_and_logs_it_without_the_address(site, caplog):
    caplog.set_level(logging.INFO)
    response = sign_on(site, "mallory")
    assert response.status_code == 403
    assert "Be en koordinator legge deg til" in response.text
    assert "tettpa_session" not in response.headers.get("set-cookie", "")
    assert response.client.get("/dashboard").status_code == 303  # still not logged in
    refused = [r.getMessage() for r in caplog.records if "sign-on refused" in r.getMessage()]
    assert refused == ["sign-on refused: no staff member with the e-mail m***@elsewhere.example"]
    assert "mallory@elsewhere.example" not in caplog.text


def test_it_refuses_an_email_the_provider_did_not_verify(site):
    response = sign_on(site, "unverified")
    assert response.status_code == 403 and "bekreftet e-postadresse" in response.text


def test_it_refuses_a_callback_whose_state_is_not_the_one_it_sent(site):
    response = sign_on(site, "cora", state="forged-state")
    assert response.status_code == 400
    assert response.client.get("/dashboard").status_code == 303


def test_it_turns_passwords_off_when_told(tmp_path, provider):
    for site in _site(tmp_path, provider, password_login=False):
        http = httpx.Client(base_url=site.url, timeout=10)
        page = http.get("/login")
        assert 'id="sign-on"' in page.text and 'name="password"' not in page.text
        # The right password, the way the old form posted it: refused before it is even checked.
        response = http.post("/login", data={"email": EMAILS["coordinator"], "password": PASSWORD})
        assert response.status_code == 403 and http.get("/dashboard").status_code == 303
        assert sign_on(site, "cora").status_code == 303


def test_it_signs_on_in_a_browser(site):
    with chromium() as browser:
        page = browser.new_page(locale="nb-NO", timezone_id="Europe/Oslo")
        page.goto(f"{site.url}/login")
        assert page.locator("#sign-on").inner_text() == "Logg inn med organisasjonskonto"
        screenshot(page, "sso-login")
        page.click("#sign-on")
        page.wait_for_url(f"{site.issuer}/**")
        page.click("button[value='cora']")
        page.wait_for_url(f"{site.url}/dashboard")
        assert "Ola Berg" in page.inner_text("main")
        screenshot(page, "sso-dashboard")
