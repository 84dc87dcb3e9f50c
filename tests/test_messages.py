"""`make messages` (extract and merge, as the catalog test tells a newcomer to run) rewrites nothing it
need not: the catalogs are 100 columns wide and so is what pybabel writes, and the merge keeps the
catalogs' POT-Creation-Date. Run on a copy of the tree, twice: the second run changes nothing."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _catalogs(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted((tree / "locales").rglob("*.po*"))}


def _messages(tree: Path) -> None:
    # -o install: the venv running this test is installed; BIN: its pybabel
    subprocess.run(["make", "-s", "-o", "install", "messages", f"BIN={BIN}"], cwd=tree, check=True,
                   capture_output=True, timeout=120)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_it_leaves_the_catalogs_as_they_are_when_nothing_changed(tmp_path):
    for name in ("Makefile", "babel.cfg"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("bot", "handlers", "scheduling", "models", "locales"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "specs"))
    _messages(tmp_path)
    first = _catalogs(tmp_path)
    _messages(tmp_path)
    assert _catalogs(tmp_path) == first
    same = filecmp.dircmp(ROOT / "locales", tmp_path / "locales")
    assert same.left_only == [] and same.right_only == []
