"""PDFs as the tests check them: rendered to PNG with pdftoppm (poppler-utils) into tests/artifacts/."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from pypdf import PdfReader

from tests.browser import ARTIFACTS, colours


def pdf_text(body: bytes) -> tuple[int, str]:
    """The page count and all the text."""
    reader = PdfReader(io.BytesIO(body))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def render_pages(body: bytes, name: str) -> list:
    """Each page as a PNG under tests/artifacts/NAME-N.png, checked not to be blank."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("no pdftoppm: `make chromium` installs poppler-utils")
    ARTIFACTS.mkdir(exist_ok=True)
    source = ARTIFACTS / f"{name}.pdf"
    source.write_bytes(body)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(source), str(ARTIFACTS / name)], check=True, timeout=60)
    pages = sorted(ARTIFACTS.glob(f"{name}-*.png"))
    assert pages, f"pdftoppm made no image of {source}"
    for png in pages:
        assert png.stat().st_size > 2_000 and colours(png) > 3, f"{png} looks blank"
    return pages
