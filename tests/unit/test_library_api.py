"""The library API works without the command line: what a script or another tool calls."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import session_import
from session_import import (
    ExitCode,
    SessionImportError,
    Store,
    init_store,
    load_config,
    revert_run,
    run_import,
)

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("trainings", "teachers", "groups", "sessions")


def test_the_api_names_what_it_exports_and_never_loads_click():
    for name in session_import.__all__:
        assert getattr(session_import, name) is not None
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, session_import; print('click' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout == "False\n"


def test_the_sample_night_through_the_library(tmp_path):
    db = tmp_path / "store.db"
    init_store(db)
    with Store(db, create=False) as store:
        reports = {
            step: run_import(
                load_config(ROOT / "sample_configs" / f"{step}.xml"),
                store,
                [ROOT / "sample_data" / f"{step}.csv"],
            )
            for step in STEPS
        }
        sessions = reports["sessions"]
        (night,) = sessions.files
        assert sessions.exit_code == ExitCode.PARTIAL  # the sample's five deliberate mistakes
        assert night.counts["rejected"] == 5
        assert night.counts["created"] > 0
        result = revert_run(store, night.run_id, dry_run=False, now=datetime.now().astimezone())
        assert result.run_id != night.run_id
        assert store.runs()[0]["id"] == result.run_id


def test_a_fatal_problem_is_one_error_type_with_its_exit_code(tmp_path):
    with pytest.raises(SessionImportError) as missing:
        Store(tmp_path / "absent.db", create=False)
    assert missing.value.exit_code == ExitCode.STORE_UNAVAILABLE
    assert "session-import init" in missing.value.explain()
    bad = tmp_path / "bad.xml"
    bad.write_text(
        "<import-config><import id='x'><actions><nope/></actions></import></import-config>"
    )
    with pytest.raises(SessionImportError) as invalid:
        load_config(bad)
    assert invalid.value.exit_code == ExitCode.CONFIG_INVALID
    assert "nope" in invalid.value.explain()


@pytest.mark.parametrize("collector_on", [True, False])
def test_a_run_leaves_the_callers_garbage_collector_as_it_found_it(tmp_path, collector_on):
    """A run pauses the collector while it works out each chunk; the caller's setting
    (on, or off for their own reasons) is what they have afterwards."""
    import gc

    db = tmp_path / "store.db"
    init_store(db)
    was = gc.isenabled()
    (gc.enable if collector_on else gc.disable)()
    try:
        with Store(db, create=False) as store:
            for step in STEPS:
                run_import(
                    load_config(ROOT / "sample_configs" / f"{step}.xml"),
                    store,
                    [ROOT / "sample_data" / f"{step}.csv"],
                )
            assert store.runs()[0]["counts"]["created"] > 0
        assert gc.isenabled() is collector_on
    finally:
        (gc.enable if was else gc.disable)()
