"""The files in deploy/ run the commands that exist, on the address the service listens on."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.settings import Settings
from handlers.cli.main import app

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text())
    return parser["Service"]


def tettpa_args(command: str) -> list[str]:
    """The arguments after the tettpa executable in an Exec line, wherever it sits in a shell command."""
    words = shlex.split(command)
    if words[0] == "/bin/sh":
        words = shlex.split(words[-1].split(";")[0])
    (index,) = [i for i, word in enumerate(words) if word.endswith("/.venv/bin/tettpa")]
    return [word for word in words[index + 1:] if not word.startswith("/srv/") and not set(word) & set("$()%")]


@pytest.mark.parametrize("name,key", [("tettpa.service", "ExecStartPre"), ("tettpa.service", "ExecStart"),
                                      ("tettpa-backup.service", "ExecStart")])
def test_it_runs_commands_the_cli_has(name, key):
    args = tettpa_args(unit(name)[key])
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"{name} {key}: tettpa {' '.join(args)} is not a command: {result.output}"


def test_it_stops_the_service_gently_and_restarts_it():
    service = unit("tettpa.service")
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "always"
    assert service["UMask"] == "0077", "files the service writes (the database) are its own"


def test_it_proxies_to_the_address_the_service_listens_on_by_default():
    conf = (DEPLOY / "nginx.conf").read_text()
    defaults = Settings.model_fields
    expected = f"http://{defaults['http_host'].default}:{defaults['http_port'].default}"
    assert set(re.findall(r"proxy_pass (\S+);", conf)) == {expected}
    assert "$request_uri" not in conf.split("access_log")[0].split("log_format")[1], "query strings in the log"
