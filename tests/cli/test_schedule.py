"""The schedule as shipped: the README's crontab line run the way cron runs it, and the
systemd units of contrib/ checked by systemd-analyze and their ExecStart run as systemd would."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Workspace
from emulators.healthchecks import PingService
from prometheus_client.parser import text_string_to_metric_families
from test_cli_store import DROP_CONFIG

# the paths the README and the units name, and what each becomes in a test
INSTALLED = "/opt/session-import/.venv/bin/session-import"
STORE = "/var/lib/session-import/store.db"
METRICS = "/var/lib/node_exporter/textfile/session_import.prom"
CONFIG = "/etc/session-import/nightly.xml"
PING = "https://hc-ping.com/YOUR-CHECK-UUID"
CLI = Path(sys.executable).parent / "session-import"  # this checkout's installed command


def crontab_line() -> str:
    block = re.search(r"```crontab\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README has no ```crontab block"
    (line,) = block.group(1).splitlines()
    return line


@pytest.fixture
def night(tmp_path):
    """A store (made by init), a nightly configuration with a drop folder holding tonight's
    file, a ping endpoint: what the README's paths stand for."""
    (tmp_path / "var").mkdir()
    ws = Workspace(tmp_path / "var")
    ws.seed()
    drop, backup = tmp_path / "drop", tmp_path / "backup"
    drop.mkdir()
    (drop / "night1.csv").write_text(
        "sessionAction;trainingPathCode;sessionTitle;teacherLogin\nM;TP-001;S;jdupont\n"
    )
    config = tmp_path / "etc" / "nightly.xml"
    config.parent.mkdir()
    config.write_text(DROP_CONFIG.format(drop=drop, backup=backup))
    pings = PingService()
    yield ws, config, drop, backup, pings, tmp_path / "textfile" / "session_import.prom"
    pings.stop()


def localise(command: str, ws, config, pings, prom) -> str:
    prom.parent.mkdir(exist_ok=True)
    for shipped, here in (
        (INSTALLED, CLI),
        (STORE, ws.db),
        (METRICS, prom),
        (CONFIG, config),
        (PING, pings.url),
    ):
        assert shipped in command, shipped
        command = command.replace(shipped, str(here))
    return command


def check_the_night(ws, drop, backup, pings, prom, result) -> None:
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")  # --quiet, a clean night: no cron mail
    assert ws.query("SELECT title FROM sessions") == [("S",)]
    assert not (drop / "night1.csv").exists() and (backup / "night1.csv").exists()
    assert pings.paths() == ["/start", "/0"]
    samples = {
        (s.name, tuple(s.labels.items())): s.value
        for family in text_string_to_metric_families(prom.read_text())
        for s in family.samples
    }
    assert samples[("session_import_last_run_exit_code", (("import", "nightly"),))] == 0


def test_the_readme_crontab_line_runs_as_cron_runs_it(night, tmp_path):
    ws, config, drop, backup, pings, prom = night
    line = crontab_line()
    assert "%" not in line  # cron would cut the command there
    minute, hour, day, month, weekday, command = line.split(None, 5)
    assert (minute, hour, day, month, weekday) == ("15", "2", "*", "*", "*")
    for option in ("--db", "--quiet", "--ping-url", "--metrics-file"):
        assert option in shlex.split(command)
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [
            "env",
            "-i",
            f"HOME={home}",
            "LOGNAME=root",
            "SHELL=/bin/sh",
            "PATH=/usr/bin:/bin",
            "/bin/sh",
            "-c",
            localise(command, ws, config, pings, prom),
        ],
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    check_the_night(ws, drop, backup, pings, prom, result)
    assert list(home.iterdir()) == []  # nothing created in cron's working folder


UNITS = ROOT / "contrib"


def unit_setting(name: str, key: str) -> str:
    values = [
        line.split("=", 1)[1]
        for line in (UNITS / name).read_text().splitlines()
        if line.startswith(f"{key}=")
    ]
    assert len(values) == 1, (name, key)
    return values[0]


def test_the_timer_catches_up_a_missed_night():
    assert unit_setting("session-import.timer", "Persistent") == "true"
    assert unit_setting("session-import.timer", "Unit") == "session-import.service"
    exec_start = shlex.split(unit_setting("session-import.service", "ExecStart"))
    assert exec_start[0] == INSTALLED and exec_start[1] == "run"
    for option in ("--db", "--quiet", "--ping-url", "--metrics-file"):
        assert option in exec_start
    assert all(arg.startswith("/") for arg in (exec_start[0], exec_start[-1]))


def test_systemd_analyze_accepts_the_units(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here: the units are not verified")
    for unit in UNITS.glob("session-import.*"):
        text = unit.read_text().replace(INSTALLED, str(CLI))  # verify checks the command exists
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            str(tmp_path / "session-import.service"),
            str(tmp_path / "session-import.timer"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "session-import" not in result.stderr, result.stderr  # no warning about our units


def test_the_service_command_runs_as_systemd_runs_it(night, tmp_path):
    """ExecStart with the unit's environment file setting the heartbeat URL, no shell, no
    terminal, the unit's working folder."""
    ws, config, drop, backup, pings, prom = night
    command = unit_setting("session-import.service", "ExecStart")
    command = command.replace("${SESSION_IMPORT_PING_URL}", PING)  # what systemd substitutes
    argv = shlex.split(localise(command, ws, config, pings, prom))
    result = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", *argv],
        cwd=ws.root,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    check_the_night(ws, drop, backup, pings, prom, result)
