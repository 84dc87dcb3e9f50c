"""Importing a roster from the dashboard: a coordinator uploads, sees what would happen, confirms. In headless
Chromium, and over HTTP for what a worker may not do."""

from __future__ import annotations

import re

from sqlmodel import select

from models.people import Person
from standins.server import BackgroundServer
from tests.browser import EMAILS, PASSWORD, chromium, csrf_of, logged_in, screenshot, staff_cast, web_app

ROSTER = ("\ufeffref;role;name;phone;email;language;unit;primary;secondary;youth;period_from;period_until\r\n"
          "s;worker;Siri Sand;;siri@ot.example;nb;;;;;;\r\n"
          "e;youth;Emma Dahl;41 23 45 67;;nb;;siri@ot.example;kari@ot.example;;;\r\n"
          "g;parent;Geir Dahl;;;nb;;;;e;;\r\n")


def names(service) -> set[str]:
    with service.tx() as session:
        return {p.name for p in session.exec(select(Person))}


def test_it_imports_after_a_preview_in_the_browser(service, tmp_path):
    staff_cast(service)
    csv = tmp_path / "roster.csv"
    csv.write_bytes(ROSTER.encode())
    broken = tmp_path / "broken.csv"
    broken.write_bytes(ROSTER.replace("kari@ot.example", "nobody@ot.example").encode())
    with BackgroundServer(web_app(service)) as server, chromium() as browser:
        page = browser.new_page(locale="nb-NO", timezone_id="Europe/Oslo")
        page.goto(f"{server.url}/login")
        page.fill("input[name=email]", EMAILS["coordinator"])
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.click("text=Importer")
        page.set_input_files("input[name=file]", str(broken))
        page.click("button[value=preview]")
        errors = page.inner_text("#errors")
        assert "Feil i fila (2): ingen er lagt til" in errors and "secondary" in errors
        assert "'e' is on row 3, which has an error of its own" in errors
        assert "Emma Dahl" not in names(service)

        page.click("text=Last opp en rettet fil")
        page.set_input_files("input[name=file]", str(csv))
        page.click("button[value=preview]")
        assert "Blir lagt til: 3" in page.inner_text("#people")
        assert "Emma Dahl" not in names(service), "a preview creates nobody"
        screenshot(page, "import-preview")
        page.click("button[value=confirm]")
        done = page.inner_text("#people")
        assert "Lagt til: 3" in done and len(re.findall(r"\b[A-Z2-9]{8}\b", done)) == 3
        screenshot(page, "import-done")
    assert {"Siri Sand", "Emma Dahl", "Geir Dahl"} <= names(service)


def test_it_lets_only_coordinators_import(service):
    staff_cast(service)
    kari = logged_in(service, "primary")
    assert kari.get("/dashboard/import").status_code == 403
    form = logged_in(service, "coordinator").get("/dashboard/import")
    response = kari.post("/dashboard/import", data={"csrf": csrf_of(kari.get("/dashboard").text), "action": "confirm"},
                         files={"file": ("roster.csv", ROSTER.encode(), "text/csv")})
    assert form.status_code == 200 and response.status_code == 403
    assert "Emma Dahl" not in names(service)
