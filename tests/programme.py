"""The programme's tests share this: the command line in-process over the test's database."""

from __future__ import annotations

import json
import os

from typer.testing import CliRunner

from bot.service import Service
from handlers.cli.main import app
from tests.conftest import TEST_DATA_KEY


def tettpa(service: Service, *args: str, ok: bool = True):
    """Run `tettpa ARGS` against the service's database; the result (exit_code, stdout, stderr)."""
    env = {k: None for k in os.environ if k.startswith("TETTPA_")}
    env.update({"TETTPA_DATABASE_URL": service.settings.database_url, "TETTPA_SECRET_KEY": "cli-secret-key-for-tests",
                "TETTPA_DATA_KEY": TEST_DATA_KEY, "TETTPA_SANDBOX": "0"})
    result = CliRunner().invoke(app, list(args), env=env)
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def tettpa_json(service: Service, *args: str) -> dict:
    return json.loads(tettpa(service, *args, "--json").stdout)
