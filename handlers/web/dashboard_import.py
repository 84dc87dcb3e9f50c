"""Importing a roster from the dashboard: upload, see what would happen, confirm. The same all-or-nothing
import as `tettpa import people` (bot/importer.py); coordinators only."""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import importer
from bot.service import Service
from handlers.web.dashboard_base import Viewer, forbidden, lang, page, render

MAX_BYTES = 2 * 1024 * 1024  # a few thousand rows are well under this


def _uploaded(form: FormData) -> bytes | None:
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        data = upload.file.read(MAX_BYTES + 1)
    else:  # the confirm step carries the checked file back, so what is created is what was shown
        try:
            data = base64.b64decode(str(form.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            return None
    return data if 0 < len(data) <= MAX_BYTES else None


@page(upload=MAX_BYTES + 64 * 1024)  # the file and the form around it
def import_page(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    L = lang(svc)
    if not viewer.coordinator:
        return forbidden(svc, viewer)
    title = L._("Importer personer")
    if form is None:
        return render(svc, "import.html", viewer=viewer, title=title, step="upload")
    data = _uploaded(form)
    if data is None:
        return render(svc, "import.html", status=400, viewer=viewer, title=title, step="upload",
                      error=L._("Velg en CSV-fil på høyst 2 MB."))
    confirm = form.get("action") == "confirm"
    with svc.tx() as session:
        result = importer.import_people(svc, session, data, dry_run=not confirm)
    step = "done" if confirm and not result.errors else "preview"
    return render(svc, "import.html", status=400 if result.errors else 200, viewer=viewer, title=title, step=step,
                  result=result, data=base64.b64encode(data).decode())


routes = [Route("/dashboard/import", import_page, methods=["GET", "POST"])]
