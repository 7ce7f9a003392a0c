"""The backup and log folders under attack, through `session-import run`.

Another process swaps a folder for a symbolic link to a folder elsewhere and back, in
a loop, atomically (renameat2 with RENAME_EXCHANGE: at every instant the name is
either the real folder or the link), while a run backs up and logs 91 files. The
consolidators open each folder once, without following links, and write relative to
that descriptor: a file lands in the real folder (whatever its name at that instant)
or its consolidator reports that the folder now leads elsewhere; nothing lands outside.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import rows

FILES = 91

CONFIG = """
<import-config><import id="nightly">
  <providers><fileSystemSourceProvider><fileName>sessions_*.csv</fileName><path>drop</path></fileSystemSourceProvider></providers>
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionGuid><mandatory>no</mandatory></sessionGuid>
      <sessionId/><sessionStatus/><sessionStartDate/><sessionEndDate/><teacherLogin/><groupName/><groupGuid/></fields>
  </createOrUpdateSessionAction></actions>
  <consolidators>
    <timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>
    <moveToBackupConsolidator><backupFolder>backup</backupFolder><timestamp>yes</timestamp></moveToBackupConsolidator>
  </consolidators>
</import></import-config>
"""

# once the first file is backed up (the run has read its configuration), swaps each folder
# with the link named like it + ".link", back and forth, until told to stop; it always
# stops with the real folders in place
SWAPPER = textwrap.dedent("""
    import ctypes, os, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2

    def exchange(a, b):
        if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), a)

    stop, folders = sys.argv[1], sys.argv[2:]
    print("ready", flush=True)
    while not os.listdir(folders[-1]):  # the run read its configuration and backed up a file
        time.sleep(0.001)
    swaps = 0
    while not os.path.exists(stop):
        for folder in folders:
            exchange(folder, folder + ".link")
        time.sleep(0.0005)
        for folder in folders:
            exchange(folder, folder + ".link")
        swaps += 1
        time.sleep(0.0005)
    print(swaps, flush=True)
""")


@pytest.fixture
def swapped_folders(ws):
    """The workspace seeded, 91 data files, real `logs` and `backup` folders, and a process
    that swaps both for links to `outside/` while the test runs."""
    ws.seed()
    conf = ws.root / "etc"
    outside = ws.root / "outside"
    for name in ("logs", "backup"):
        (conf / name).mkdir(parents=True)
        (outside / name).mkdir(parents=True)
        (conf / f"{name}.link").symlink_to(outside / name, target_is_directory=True)
    originals = {}
    for n in range(FILES):
        path = ws.write(
            f"etc/drop/sessions_{n:03d}.csv",
            rows(
                f"M;TP-001;Session {n:03d};;;open;;;jdupont;;",
                f"M;TP-001;Rejected {n:03d};;;open;;;nobody;;",  # so that every file has a log
            ),
        )
        originals[path.name] = path.read_bytes()
    config = ws.write("etc/nightly.xml", CONFIG)
    stop = ws.root / "stop"
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(stop), str(conf / "logs"), str(conf / "backup")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert swapper.stdout.readline() == "ready\n"

    def stop_swapping() -> int:
        stop.touch()
        out, _ = swapper.communicate(timeout=30)
        assert swapper.returncode == 0
        return int(out)

    try:
        yield config, conf, outside, originals, stop_swapping
    finally:
        if swapper.poll() is None:
            stop_swapping()


@pytest.mark.slow
def test_folders_swapped_for_links_during_a_run_receive_nothing_outside(ws, swapped_folders):
    config, conf, outside, originals, stop_swapping = swapped_folders
    report_path = ws.root / "r.json"
    result = ws.run("run", "--report", report_path, config)
    assert stop_swapping() > 0  # it really swapped; the real folders are back in place
    assert result.exit_code == 1, result.stderr
    report = json.loads(report_path.read_text())
    assert len(report["files"]) == FILES

    # nothing landed outside
    assert sorted(p.name for p in (outside / "logs").iterdir()) == []
    assert sorted(p.name for p in (outside / "backup").iterdir()) == []

    failed: dict[str, set[str]] = {
        "timeStampedFileErrorLogger": set(),
        "moveToBackupConsolidator": set(),
    }
    for failure in report["consolidators"]:
        folder = conf / ("logs" if failure["name"] == "timeStampedFileErrorLogger" else "backup")
        assert failure["error"] == (
            f"The folder {folder} now leads to {outside / folder.name} (a symbolic link made after "
            "the configuration was read); nothing was written there."
        )
        failed[failure["name"]].add(Path(failure["file"]).name)

    # the real folders (the swapper put them back) hold every log and backup that did not fail
    logs = sorted(p.name for p in (conf / "logs").iterdir())
    logged = {name.split("_", 1)[1].removesuffix(".log") for name in logs}
    assert len(logs) == len(logged) == FILES - len(failed["timeStampedFileErrorLogger"])
    assert logged.isdisjoint(failed["timeStampedFileErrorLogger"])
    backups = {p.name.split("_", 1)[1]: p for p in (conf / "backup").iterdir()}
    assert len(backups) == FILES - len(failed["moveToBackupConsolidator"])
    assert set(backups).isdisjoint(failed["moveToBackupConsolidator"])

    # and no data file is lost: each one is backed up whole, or still in the drop folder
    left = {p.name: p for p in (conf / "drop").iterdir()}
    assert set(left) == failed["moveToBackupConsolidator"]
    for name, content in originals.items():
        assert (backups.get(name) or left[name]).read_bytes() == content
