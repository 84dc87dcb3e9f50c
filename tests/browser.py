"""Helpers for the dashboard's tests: the staff cast, the web app over HTTP, and headless Chromium.

Chromium is Debian's (`make test` installs it); Playwright drives it by `executable_path` and never
downloads a browser of its own.
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlmodel import select
from starlette.applications import Starlette

with warnings.catch_warnings():
    # Starlette asks for `httpx2` behind its TestClient; plain httpx works the same for these tests.
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from bot import roster
from bot.service import Service
from handlers.web import auth as web_auth
from handlers.web import dashboard, dashboard_export, dashboard_import
from handlers.web import oidc as web_oidc
from models.people import Person
from tests.personas import cast

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "riktig-hest-batteri-stift"
PHONE = {"width": 390, "height": 844}


@dataclass
class Staff:
    """The cast of tests/personas.py, with logins, a coordinator, and an outsider worker with a youth of
    her own: Kari (primary for Ola), Per (secondary), Cora (coordinator), Otto (outsider, primary for Nina)."""

    coordinator: int
    primary: int
    secondary: int
    outsider: int
    youth: int
    parent: int
    other_youth: int


EMAILS = {"coordinator": "cora@ot.example", "primary": "kari@ot.example", "secondary": "per@ot.example",
          "outsider": "otto@ot.example"}


@lru_cache
def password_hash() -> str:
    """PASSWORD hashed as `tettpa worker set-password` hashes it; once, since argon2 is slow on purpose."""
    return roster.passwords.hash(PASSWORD)


def staff_cast(service: Service) -> Staff:
    c = cast(service)
    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        cora = roster.add_worker(session, name="Cora Koordinator", email=EMAILS["coordinator"], role="coordinator",
                                 **kw).person
        otto = roster.add_worker(session, name="Otto Utenfor", email=EMAILS["outsider"], **kw).person
        nina = roster.add_youth(session, name="Nina Nilsen", primary=otto.id, **kw).person
        session.get(Person, c.secondary).email = EMAILS["secondary"]
        for person_id in (cora.id, c.primary, c.secondary, otto.id):
            session.get(Person, person_id).password_hash = password_hash()
        return Staff(cora.id, c.primary, c.secondary, otto.id, c.youth, c.parent, nina.id)


def web_app(service: Service) -> Starlette:
    """The dashboard's routes as `tettpa serve` mounts them, over the test's service."""
    app = Starlette(routes=dashboard.routes + dashboard_export.routes + dashboard_import.routes + web_auth.routes + web_oidc.routes)
    app.state.runtime = SimpleNamespace(service=service)
    return app


def client(service: Service) -> TestClient:
    # Over https when the service says so: a browser sends Secure cookies only there.
    base = "https://testserver" if service.settings.public_url.startswith("https") else "http://testserver"
    return TestClient(web_app(service), base_url=base, follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def log_in(http: TestClient, email: str, password: str = PASSWORD, **extra):
    form = http.get("/login")
    return http.post("/login", data={"email": email, "password": password, "csrf": csrf_of(form.text), **extra})


def logged_in(service: Service, who: str) -> TestClient:
    http = client(service)
    response = log_in(http, EMAILS[who])
    assert response.status_code == 303, response.text
    return http


def person(service: Service, person_id: int) -> Person:
    with service.tx() as session:
        return session.exec(select(Person).where(Person.id == person_id)).one()


# --- the browser ---

@contextmanager
def chromium():
    """A headless Debian Chromium under Playwright; skipped where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def colours(path: Path) -> int:
    """How many colours the PNG has: a blank page has one or two, a rendered one has many."""
    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is not a PNG"
        return len(image.convert("RGB").getcolors(maxcolors=1 << 24))


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/ and check it shows a rendered page: a real PNG,
    not blank, and not one of the dashboard's error pages."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        width, height = image.size
    assert width >= 300 and height >= 300 and path.stat().st_size > 5_000, f"{path}: {width}x{height}"
    assert colours(path) > 20, f"{path} looks blank"
    assert page.locator("body.error-page").count() == 0, f"{name} is an error page: {page.inner_text('main')}"
    return path


def fits_width(page) -> bool:
    """No sideways scrolling: the page is as wide as the screen."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
