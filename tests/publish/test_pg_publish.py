"""`publish` on several hosts at once against one PostgreSQL store: each queued change
delivered once, a session's changes in order, and Zoho's limit shared by every worker.
Three real `publish` processes against the Zoho emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import Workspace
from emulators.zoho import ZohoEmulator
from test_publish_zoho import CONFIG, SECRET, data, row

pytestmark = pytest.mark.slow

MAX, WINDOW = 40, 1.0
SESSIONS, UPDATED = 240, 30  # more than one claim page (CLAIM_PAGE)


@pytest.fixture
def zoho():
    emulator = ZohoEmulator(
        max_requests=MAX, window_seconds=WINDOW, lock_seconds=2.0, client_secret=SECRET
    )
    with emulator:
        yield emulator


def test_three_publishers_deliver_each_change_once_in_order_within_one_limit(
    tmp_path, pg_url, zoho
):
    ws = Workspace(tmp_path, db=pg_url)
    ws.seed()
    config = ws.write(
        "nightly.xml",
        CONFIG.format(url=zoho.url, max_requests=MAX, window=WINDOW, lock=2.0, timeout=5),
    )
    env = {
        **os.environ,
        "ZOHO_CLIENT_ID": zoho.client_id,
        "ZOHO_CLIENT_SECRET": SECRET,
        "ZOHO_REFRESH_TOKEN": zoho.refresh_token,
    }
    for name, rows in (
        ("first.csv", [row(n) for n in range(SESSIONS)]),
        (
            "second.csv",
            [row(n, title=f"Session {n:03d}").replace("14:30", "16:00") for n in range(UPDATED)],
        ),
    ):
        queued = subprocess.run(
            [
                sys.executable,
                "-m",
                "session_import",
                "run",
                "--db",
                pg_url,
                "--publish-timeout",
                "0",
                str(config),
                str(ws.write(name, data(*rows))),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert queued.returncode == 6, queued.stderr  # applied, all still to deliver
    assert zoho.api_calls() == []
    publishers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "session_import",
                "publish",
                "--db",
                pg_url,
                "--report",
                str(tmp_path / f"publish{i}.json"),
                str(config),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for i in range(3)
    ]
    outs = [p.communicate(timeout=600) for p in publishers]
    assert [p.returncode for p in publishers] == [0, 0, 0], outs
    calls = zoho.api_calls()
    posts = [c for c in calls if c.method == "POST"]
    patches = [c for c in calls if c.method == "PATCH"]
    assert len(posts) == SESSIONS and len(zoho.sessions) == SESSIONS  # each create once
    assert len(patches) == UPDATED  # each update once
    assert not [c for c in calls if c.locked]
    assert zoho.busiest_window() <= MAX  # whatever the number of workers
    created_at = {}
    for call in posts:
        created_at[json.loads(call.body)["name"]] = call.time
    for call in patches:
        session_id = call.path.rstrip("/").rsplit("/", 1)[-1]
        name = zoho.sessions[session_id]["name"]
        assert created_at[name] < call.time  # a session's update after its create
        assert zoho.sessions[session_id]["endTime"] == "04:00 PM"
    delivered = [json.loads((tmp_path / f"publish{i}.json").read_text()) for i in range(3)]
    published = sum(f["publishers"]["zoho"]["published"] for d in delivered for f in d["files"])
    assert published == SESSIONS + UPDATED
    assert (
        sum(1 for d in delivered if any(f["publishers"]["zoho"]["published"] for f in d["files"]))
        >= 2
    )  # the work was shared
    assert ws.query("SELECT count(*) FROM outbox WHERE state = 'pending'") == [(0,)]
