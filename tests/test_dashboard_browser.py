"""The dashboard in a real browser (Debian's headless Chromium under Playwright) against `tettpa serve`,
with messages that came in through the Telegram stand-in. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot import auth
from standins.server import BackgroundServer
from standins.telegram import TelegramStandIn
from tests.browser import PASSWORD, PHONE, chromium, fits_width, screenshot
from tests.e2e import Deployment

KARI, OLA, LISE = 901, 902, 903
SCRIPT = "<script>alert(1)</script>"
NORWAY = {"locale": "nb-NO", "timezone_id": "Europe/Oslo"}


@dataclass
class Site:
    d: Deployment
    url: str
    ids: dict[str, int]


@pytest.fixture
def telegram():
    stand_in = TelegramStandIn(token="424244:BROWSER-TOKEN", strict=True, bot_username="TettPaTestBot")
    for user_id, name in ((KARI, "Kari"), (OLA, "Ola"), (LISE, "Lise")):
        stand_in.add_user(user_id, name, language_code="nb")
    with BackgroundServer(stand_in.app) as server:
        stand_in.url = server.url
        yield stand_in


def _site(tmp_path, database_url, telegram, **settings) -> Site:
    d = Deployment(tmp_path, database_url, telegram, telegram.url, **settings)
    cora = d.add("worker", "add", "--name", "Cora Koordinator", "--email", "cora@ot.example", "--role", "coordinator")
    kari = d.add("worker", "add", "--name", "Kari Nordmann", "--email", "kari@ot.example")
    per = d.add("worker", "add", "--name", "Per Hansen", "--email", "per@ot.example")
    otto = d.add("worker", "add", "--name", "Otto Utenfor", "--email", "otto@ot.example")
    ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]), "--secondary", str(per["id"]))
    lise = d.add("parent", "add", "--youth", str(ola["id"]), "--name", "Lise Berg")
    nina = d.add("youth", "add", "--name", "Nina Nilsen", "--primary", str(otto["id"]))
    for person in (cora, kari, otto):
        d.cli("worker", "set-password", str(person["id"]), stdin=PASSWORD + "\n")
    d.start()
    for user_id, person in ((KARI, kari), (OLA, ola), (LISE, lise)):
        telegram.user_sends(user_id, f"/start {person['invite_code']}")
        telegram.wait_sent(user_id, 1)
    telegram.user_sends(OLA, SCRIPT)
    relayed = telegram.wait_sent(KARI, 2)[1]
    telegram.user_sends(KARI, "Hei Ola! Vi snakkes i morgen.", reply_to_message_id=relayed["message_id"])
    telegram.wait_sent(OLA, 2)
    telegram.user_sends(LISE, "Ola er syk i dag, æøå")
    telegram.wait_sent(KARI, 3)
    ids = {k: v["id"] for k, v in (("cora", cora), ("kari", kari), ("otto", otto), ("ola", ola), ("nina", nina))}
    return Site(d, d.url, ids)


@pytest.fixture
def site(tmp_path, database_url, telegram):
    s = _site(tmp_path, database_url, telegram)
    yield s
    s.d.stop()


def _log_in(page, url: str, email: str, password: str = PASSWORD, then: str = "/dashboard") -> None:
    page.goto(f"{url}{then}")
    assert "/login" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Logg inn").click()
    page.wait_for_load_state()


def _log_out(page) -> None:
    page.get_by_role("button", name="Logg ut").click()
    page.wait_for_url("**/login")


def _watch_dialogs(page) -> list[str]:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return dialogs


def test_it_lets_a_coordinator_follow_the_pages_in_a_browser(site):
    ola = site.ids["ola"]
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, **NORWAY)
        page = context.new_page()
        dialogs = _watch_dialogs(page)
        _log_in(page, site.url, "cora@ot.example")
        assert page.url == f"{site.url}/dashboard"
        for name in ("Kari Nordmann", "Per Hansen", "Otto Utenfor"):
            assert page.locator("section.worker h3", has_text=name).count() == 1
        assert page.locator("section.worker", has_text="Kari Nordmann").locator("[data-figure=open]").inner_text() == "1"
        screenshot(page, "coordinator-overview")

        page.locator("section.worker", has_text="Kari Nordmann").locator("[data-figure=contacts]").click()
        page.wait_for_url("**/dashboard/entries?*")
        assert page.locator(".entry .text").all_inner_texts() == [
            "Ola er syk i dag, æøå", "Hei Ola! Vi snakkes i morgen.", SCRIPT]
        screenshot(page, "coordinator-entries")

        page.goto(f"{site.url}/dashboard")
        page.get_by_role("link", name="Ola Berg").click()
        page.wait_for_url(f"**/dashboard/youth/{ola}")
        texts = page.locator(".entry .text").all_inner_texts()
        assert SCRIPT in texts and dialogs == []
        assert page.locator("svg.chart").count() == 2
        screenshot(page, "coordinator-youth")

        page.select_option("select[name=kind]", "message")
        page.select_option("select[name=channel]", "telegram")
        page.get_by_role("button", name="Vis").click()
        page.wait_for_url("**kind=message**")
        assert set(page.locator(".entry .badge.kind").all_inner_texts()) == {"Melding"}

        page.fill("textarea[name=text]", "Snakket med skolen om fraværet. <b>ikke fet</b>")
        page.select_option("form.stack select[name=channel]", "meeting")
        page.get_by_role("button", name="Lagre notat").click()
        page.wait_for_url("**saved=1**")
        assert page.get_by_text("Notatet er lagret.").is_visible()
        assert "Snakket med skolen om fraværet. <b>ikke fet</b>" in page.locator(".entry .text").all_inner_texts()

        with page.expect_download() as download:
            page.locator("[data-export=csv]").click()
        csv_text = open(download.value.path(), encoding="utf-8").read()
        assert download.value.suggested_filename == f"kontaktlogg-{ola}-alt.csv"
        assert csv_text == site.d.cli("log", "export", "--format", "csv", "--youth", str(ola)).stdout
        assert SCRIPT in csv_text and "Snakket med skolen" in csv_text
        with page.expect_download() as download:
            page.locator("[data-export=pdf]").click()
        assert open(download.value.path(), "rb").read(5) == b"%PDF-"

        page.get_by_role("link", name="Tilgangslogg").click()
        page.wait_for_url("**/dashboard/audit")
        actions = page.locator("table.audit tbody tr td:nth-child(3)").all_inner_texts()
        assert {"Så ungdommens side", "Så kontaktliste", "Eksporterte CSV", "Eksporterte PDF"} <= set(actions)
        screenshot(page, "coordinator-audit")
        _log_out(page)
        page.goto(f"{site.url}/dashboard")
        assert "/login" in page.url


def test_it_keeps_a_worker_to_their_own_youths_in_a_browser(site):
    ola, nina = site.ids["ola"], site.ids["nina"]
    with chromium() as browser:
        page = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, **NORWAY).new_page()
        dialogs = _watch_dialogs(page)
        _log_in(page, site.url, "otto@ot.example")
        assert page.get_by_role("link", name="Nina Nilsen").count() == 1
        assert page.get_by_text("Ola Berg").count() == 0 and page.get_by_text("Kari Nordmann").count() == 0
        assert fits_width(page)
        screenshot(page, "outsider-overview-phone")
        for path, status in ((f"/dashboard/youth/{ola}", 404), (f"/dashboard/youth/{ola}/export.csv", 404),
                             (f"/dashboard/youth/{ola}/export.pdf", 404), (f"/dashboard/entries?youth={ola}", 404),
                             (f"/dashboard/entries?worker={site.ids['kari']}", 403), ("/dashboard/audit", 403)):
            response = page.goto(f"{site.url}{path}")
            assert response.status == status, path
            assert page.locator("body.error-page").count() == 1 and "Ola" not in page.inner_text("body")
        page.goto(f"{site.url}/dashboard/youth/{nina}")
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        refused = page.request.post(f"{site.url}/dashboard/youth/{ola}/notes", form={"csrf": csrf, "text": "snoker"})
        assert refused.status == 404
        _log_out(page)

        _log_in(page, site.url, "kari@ot.example", then=f"/dashboard/youth/{ola}")
        assert page.url == f"{site.url}/dashboard/youth/{ola}"
        assert SCRIPT in page.locator(".entry .text").all_inner_texts() and dialogs == []
        assert fits_width(page)
        screenshot(page, "worker-youth-phone")
        page.goto(f"{site.url}/dashboard")
        assert fits_width(page)
        screenshot(page, "worker-overview-phone")
        assert page.goto(f"{site.url}/dashboard/youth/{nina}").status == 404


def test_it_sets_up_and_asks_for_a_second_factor_in_a_browser(tmp_path, database_url, telegram):
    s = _site(tmp_path, database_url, telegram, require_2fa="true")
    try:
        with chromium() as browser:
            page = browser.new_context(viewport=PHONE, is_mobile=True, **NORWAY).new_page()
            _log_in(page, s.url, "cora@ot.example")
            assert page.url == f"{s.url}/account/2fa"
            assert page.locator(".qr svg").count() == 1
            screenshot(page, "enrol-2fa-phone")
            secret = page.locator("code.secret").inner_text()
            step = auth.totp_step(datetime.now(UTC))
            page.fill("input[name=code]", auth.totp_code(secret, step))
            page.get_by_role("button", name="Slå på").click()
            page.wait_for_url("**/dashboard")
            _log_out(page)

            _log_in(page, s.url, "cora@ot.example")
            assert page.url == f"{s.url}/login/totp"
            page.fill("input[name=code]", "000000")
            page.get_by_role("button", name="Bekreft").click()
            assert page.get_by_text("Feil kode").is_visible()
            page.fill("input[name=code]", auth.totp_code(secret, step + 1))
            page.get_by_role("button", name="Bekreft").click()
            page.wait_for_url("**/dashboard")
            screenshot(page, "after-2fa-overview-phone")
    finally:
        s.d.stop()
