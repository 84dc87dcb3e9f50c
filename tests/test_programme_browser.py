"""The programme's dashboard parts in Chromium against `tettpa serve`: a youth's status, period and consent
(recorded from the page), the funder's report page and the people page. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from tests.browser import PASSWORD, chromium, screenshot
from tests.e2e import Deployment
from tests.test_dashboard_browser import NORWAY, _log_in, telegram  # noqa: F401  (the Telegram stand-in fixture)


def test_it_shows_and_records_the_programme_on_the_dashboard(tmp_path, telegram):  # noqa: F811
    d = Deployment(tmp_path, f"sqlite:///{tmp_path / 'programme.db'}", telegram, telegram.url)
    unit = d.add("unit", "add", "--name", "Tett på Vestfold", "--ot-contact", "OT Vestfold")
    cora = d.add("worker", "add", "--name", "Cora Koordinator", "--email", "cora@ot.example", "--role", "coordinator")
    kari = d.add("worker", "add", "--name", "Kari Nordmann", "--email", "kari@ot.example", "--unit", str(unit["id"]))
    ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]), "--period-from", "2026-04-01",
                "--period-until", "2027-10-02")
    d.add("youth", "status", str(ola["id"]), "OTOV", "--from", "2026-04-15")
    d.add("consent", "record", "--youth", str(ola["id"]), "--by", "youth", "--scope", "contact")
    d.cli("worker", "set-password", str(cora["id"]), stdin=PASSWORD + "\n")
    d.start()
    try:
        with chromium() as browser:
            page = browser.new_page(**NORWAY)
            _log_in(page, d.url, "cora@ot.example")
            page.goto(f"{d.url}/dashboard/youth/{ola['id']}")
            assert "OTOV Oppfølging og veiledning" in page.locator("[data-field=status]").inner_text()
            assert "Tett på Vestfold" in page.locator("[data-field=unit]").inner_text()
            page.locator("[data-form=consent] input[value=wakeup]").check()
            page.get_by_role("button", name="Registrer samtykke").click()
            page.wait_for_load_state()
            assert "vekking" in page.locator("[data-field=consent]").inner_text()
            screenshot(page, "programme-youth")
            page.get_by_role("link", name="Rapport").click()
            page.wait_for_url("**/dashboard/report")
            assert page.locator("[data-figure=youths]").inner_text() == "1"
            assert page.locator("svg").count() >= 1
            screenshot(page, "programme-report")
            page.get_by_role("link", name="Personer").click()
            page.wait_for_url("**/dashboard/people")
            page.locator("[data-list=youths] a", has_text="Ola Berg").click()
            page.fill("input[name=name]", "Ola Nordby")
            page.get_by_role("button", name="Lagre").click()
            page.wait_for_url("**/dashboard/people?saved=1")
            assert "Ola Nordby" in page.locator("[data-list=youths]").inner_text()
            screenshot(page, "programme-people")
    finally:
        d.stop()
