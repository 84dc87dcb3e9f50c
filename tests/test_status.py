"""OT status codes: Udir's whole list, the history kept, shown on the youth's page and the overview."""

from __future__ import annotations

import json

import pytest

from bot import status_codes
from tests.browser import logged_in, staff_cast
from tests.programme import tettpa, tettpa_json


def test_it_knows_udirs_whole_list_with_norwegian_labels():
    for code in ("OTUK", "OTOV", "OTOA", "OTAP", "OTKO", "OTAR", "OTEV", "OTVF", "OTLL", "OTNO", "OTMI", "OTBA",
                 "OTSY", "OTIF", "ELGS_IM", "ELVG_IM", "OTFA_IM", "OTFU_IM", "OTAR_IM", "OTEV_IM", "OTVF_IM",
                 "OTLL_IM"):
        assert status_codes.CODES[code]
    assert status_codes.CODES["OTUK"] == "Ukjent aktivitet" and status_codes.CODES["OTOV"] == "Oppfølging og veiledning"
    assert sorted(c for group in status_codes.GROUPS.values() for c in group) == sorted(status_codes.CODES)
    assert status_codes.normalize("otar-im") == "OTAR_IM"


def test_it_keeps_the_history_and_logs_each_change(service):
    s = staff_cast(service)
    assert tettpa_json(service, "youth", "status", str(s.youth), "OTUK", "--from", "2026-04-01") == \
        {"id": s.youth, "status": "OTUK"}
    tettpa_json(service, "youth", "status", str(s.youth), "otov", "--from", "2026-04-15")
    tettpa_json(service, "youth", "status", str(s.youth), "OTEV", "--from", "2026-09-01")
    with service.tx() as session:
        assert [c.code for c in status_codes.history(session, s.youth)] == ["OTUK", "OTOV", "OTEV"]
    log = json.loads(tettpa(service, "log", "export", "--format", "json", "--youth", str(s.youth)).stdout)["entries"]
    assert [e["text"] for e in log if e["kind"] == "status"][:2] == [
        "Statuskode OTUK Ukjent aktivitet fra 2026-04-01", "Statuskode OTOV Oppfølging og veiledning fra 2026-04-15"]
    page = logged_in(service, "coordinator").get(f"/dashboard/youth/{s.youth}").text
    assert 'data-field="status">OTEV Elev' in page and "OTOV Oppfølging og veiledning" in page
    assert '>OTEV</span>' in logged_in(service, "coordinator").get("/dashboard").text


@pytest.mark.parametrize(("args", "field"), [
    (["youth", "status", "3", "OTXX"], "code"),
    (["youth", "status", "99", "OTOV"], "youth"),
    (["youth", "status", "3", "OTOV", "--from", "tomorrow"], "from"),
])
def test_it_refuses_a_bad_code_naming_the_field(service, args, field):
    staff_cast(service)
    result = tettpa(service, *args, ok=False)
    assert result.exit_code != 0 and result.stderr.startswith(f"error: {field}:"), result.stderr
