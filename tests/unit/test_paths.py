"""Configured paths cannot escape (SPEC §3), through `session-import check` and `run`, with real links.

The rule: `..` is refused in every path and file name, whatever its spelling; an
absolute folder is the administrator's explicit choice and is kept; a relative
folder (`path`, `location`, `backupFolder`) resolves against the configuration's
folder and must stay inside it once every symbolic link is followed; a file that
the provider's glob lists must really be inside the provider's folder; a folder
that a link made after the configuration was read sends elsewhere is not used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import rows

from session_import.config import load_config
from session_import.paths import leads_outside
from session_import.pipeline import RunOptions, run_import
from session_import.store import Store

# The run-time half of the rule lives in pipeline.py and consolidators.py (issue 6).

FIELDS = """
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionGuid><mandatory>no</mandatory></sessionGuid>
      <sessionId/><sessionStatus/><sessionStartDate/><sessionEndDate/><teacherLogin/><groupName/><groupGuid/></fields>
  </createOrUpdateSessionAction></actions>
"""


def config_text(
    path: str = "<path>drop</path>", file_name: str = "sessions_*.csv", consolidators: str = ""
) -> str:
    """A full configuration; the provider's <path> is on line 3."""
    return (
        '<import-config><import id="nightly">\n'
        "<providers><fileSystemSourceProvider><fileName>"
        + file_name
        + "</fileName>\n"
        + path
        + "\n"
        "</fileSystemSourceProvider></providers>\n"
        + FIELDS
        + (f"<consolidators>\n{consolidators}\n</consolidators>\n" if consolidators else "")
        + "</import></import-config>\n"
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the workspace: what no relative path of the configuration may reach."""
    folder = tmp_path.parent / (tmp_path.name + "-outside")
    folder.mkdir()
    (folder / "sessions_secret.csv").write_text(rows("M;TP-001;Secret;;;open;;;jdupont;;"))
    return folder


@pytest.fixture
def conf(ws):
    """The workspace's configuration folder (a sub-folder, so that the root can hold other things)."""
    folder = ws.root / "etc"
    folder.mkdir()
    return folder


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def write_config(conf: Path, text: str, name: str = "nightly.xml") -> Path:
    path = conf / name
    path.write_text(text)
    return path


# ---- check: `..` in every form ----


@pytest.mark.parametrize(
    "option",
    [
        "<path>../elsewhere</path>",
        "<path>drop/..</path>",
        "<path>..</path>",
        "<path>&#46;&#46;/elsewhere</path>",  # an entity spelling is the same text once parsed
        "<path>drop\\..\\..\\x</path>",
        "<path>/srv/imports/../../etc</path>",  # absolute paths too
    ],
)
def test_dot_dot_is_refused_in_every_spelling(ws, conf, option):
    config = write_config(conf, config_text(option))
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert f"{config}:3: String '..' is forbidden in file path; " in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "consolidator",
    [
        "<moveToBackupConsolidator><backupFolder>done/../../x</backupFolder></moveToBackupConsolidator>",
        "<timeStampedFileErrorLogger><location>..</location></timeStampedFileErrorLogger>",
    ],
)
def test_dot_dot_is_refused_in_consolidator_folders(ws, conf, consolidator):
    text = config_text(consolidators=consolidator)
    line = line_of(text, "<consolidators>") + 1
    config = write_config(conf, text)
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert f"{config}:{line}: String '..' is forbidden in file path; " in result.stderr


@pytest.mark.parametrize("file_name", ["../sessions_*.csv", "drop/../../*.csv", "*..csv"])
def test_dot_dot_is_refused_in_the_file_name_glob(ws, conf, file_name):
    config = write_config(conf, config_text(file_name=file_name))
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert result.stderr.strip() == (
        f"{config}:2: String '..' is forbidden in file path; name the folder in <path>."
    )


# ---- check: symbolic links, ~, control characters, NUL ----


@pytest.mark.parametrize("tag", ["path", "location", "backupFolder"])
def test_a_relative_folder_that_a_link_leads_outside_is_refused(ws, conf, outside, tag):
    (conf / "drop").symlink_to(outside, target_is_directory=True)
    if tag == "path":
        text = config_text("<path>drop</path>")
        line = 3
    else:
        consolidator = (
            "timeStampedFileErrorLogger" if tag == "location" else "moveToBackupConsolidator"
        )
        text = config_text(
            "", consolidators=f"<{consolidator}><{tag}>drop/sub</{tag}></{consolidator}>"
        )
        line = line_of(text, "<consolidators>") + 1
    config = write_config(conf, text)
    result = ws.run("check", config)
    assert result.exit_code == 4, result.stdout
    assert result.stderr.strip() == (
        f"{config}:{line}: <{tag}> drop{'' if tag == 'path' else '/sub'} leads to "
        f"{outside}{'' if tag == 'path' else '/sub'} through a symbolic link, outside the "
        f"configuration's folder {conf}; write {outside}{'' if tag == 'path' else '/sub'} as an "
        "absolute path if that folder is meant, or remove the link."
    )


def test_a_link_further_down_is_followed_too(ws, conf, outside):
    (conf / "a").mkdir()
    (conf / "a" / "b").symlink_to(
        "../../" + os.path.relpath(outside, conf.parent)
    )  # a relative link
    config = write_config(conf, config_text("<path>a/b/c</path>"))
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert (
        f"{config}:3: <path> a/b/c leads to {outside / 'c'} through a symbolic link"
        in result.stderr
    )


def test_a_link_that_stays_inside_is_accepted(ws, conf):
    (conf / "data" / "incoming").mkdir(parents=True)
    (conf / "drop").symlink_to(conf / "data" / "incoming", target_is_directory=True)
    config = write_config(conf, config_text("<path>drop</path>"))
    result = ws.run("check", config)
    assert result.exit_code == 0, result.stderr
    assert f"reads: sessions_*.csv in {conf / 'data' / 'incoming'} (in name order)" in result.stdout


def test_an_absolute_folder_is_the_administrators_choice(ws, conf, outside):
    link = ws.root / "link-to-outside"
    link.symlink_to(outside, target_is_directory=True)
    consolidators = (
        f"<timeStampedFileErrorLogger><location>{outside}/logs</location></timeStampedFileErrorLogger>"
        f"<moveToBackupConsolidator><backupFolder>{link}/done</backupFolder></moveToBackupConsolidator>"
    )
    config = write_config(conf, config_text(f"<path>{outside}</path>", consolidators=consolidators))
    result = ws.run("check", config)
    assert result.exit_code == 0, result.stderr
    assert f"reads: sessions_*.csv in {outside} (in name order)" in result.stdout
    assert f"location {outside / 'logs'}" in result.stdout
    assert f"backupFolder {outside / 'done'}" in result.stdout  # resolved once, when read


@pytest.mark.parametrize("text", ["~", "~/imports", "~root/imports"])
def test_a_tilde_is_not_expanded_and_is_refused(ws, conf, text):
    config = write_config(conf, config_text(f"<path>{text}</path>"))
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert result.stderr.strip() == (
        f"{config}:3: <path> {text} starts with ~, which is not expanded (a cron job has another "
        "home); write the absolute path, or a folder relative to the configuration's folder."
    )


@pytest.mark.parametrize("text", ["in&#10;coming", "in&#9;coming", "in&#13;coming"])
def test_a_line_break_or_tab_inside_a_path_is_refused(ws, conf, text):
    config = write_config(conf, config_text(f"<path>{text}</path>"))
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert (
        result.stderr.strip()
        == f"{config}:3: <path> holds a line break or a tab; write the path on one line."
    )


@pytest.mark.parametrize("text", ["in&#0;coming", "in\0coming", "in&#1;coming"])
def test_a_nul_cannot_reach_a_path(ws, conf, text):
    """XML 1.0 cannot carry a NUL or a C0 control: the document is refused as not well-formed."""
    config = write_config(conf, config_text(f"<path>{text}</path>"))
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert result.stderr.startswith(f"{config}:3: the XML is not well-formed: ")


def test_a_link_loop_is_refused(ws, conf):
    (conf / "a").symlink_to(conf / "b")
    (conf / "b").symlink_to(conf / "a")
    config = write_config(conf, config_text("<path>a/drop</path>"))
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert result.stderr.startswith(f"{config}:3: <path> a/drop cannot be followed: ")
    assert result.stderr.rstrip().endswith("; fix or remove the symbolic link.")


def test_the_configuration_reached_through_a_link_uses_its_real_folder(ws, conf, outside):
    """The configuration's folder is where the file really is: a link to the file changes nothing."""
    (conf / "drop").mkdir()
    config = write_config(conf, config_text("<path>drop</path>"))
    link = outside / "nightly.xml"
    link.symlink_to(config)
    result = ws.run("check", link)
    assert result.exit_code == 0, result.stderr
    assert f"in {conf / 'drop'} (in name order)" in result.stdout


# ---- run ----


@pytest.fixture
def seeded(ws):
    ws.seed()
    return ws


def test_run_refuses_a_folder_that_leads_outside_and_reads_nothing(seeded, conf, outside):
    (conf / "drop").symlink_to(outside, target_is_directory=True)
    config = write_config(conf, config_text("<path>drop</path>"))
    result = seeded.run("run", config)
    assert result.exit_code == 4
    assert f"{config}:3: <path> drop leads to {outside}" in result.stderr
    assert seeded.query("select count(*) from sessions") == [(0,)]


def test_run_reads_a_linked_file_that_stays_inside(seeded, conf):
    (conf / "drop" / "archive").mkdir(parents=True)
    real = conf / "drop" / "archive" / "real.csv"
    real.write_text(rows("M;TP-001;Paris;;;open;;;jdupont;;"))
    (conf / "drop" / "sessions_1.csv").symlink_to(real)
    config = write_config(conf, config_text("<path>drop</path>"))
    result = seeded.run("run", config)
    assert result.exit_code == 0, result.stderr
    assert [s["title"] for s in seeded.export()] == ["Paris"]


def test_a_data_file_given_on_the_command_line_may_be_anywhere(seeded, conf, outside):
    """DATA on the command line is the caller's explicit choice, like an absolute path."""
    config = write_config(conf, config_text("<path>drop</path>"))
    link = conf / "given.csv"
    link.symlink_to(outside / "sessions_secret.csv")
    result = seeded.run("run", config, link)
    assert result.exit_code == 0, result.stderr
    assert [s["title"] for s in seeded.export()] == ["Secret"]


def _assert_secret_untouched(outside: Path, report: dict, result) -> None:
    assert (outside / "sessions_secret.csv").read_text() == rows(
        "M;TP-001;Secret;;;open;;;jdupont;;"
    )
    assert "Secret" not in json.dumps(report) and "Secret" not in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["file link", "glob through a linked sub-folder"])
def test_a_listed_file_that_leads_outside_the_folder_is_refused(seeded, conf, outside, how):
    """The drop folder is where others put files: a link there must not make the import read
    (and then echo in its rejects, logs and e-mails) a file of the machine."""
    drop = conf / "drop"
    drop.mkdir()
    if how == "file link":
        (drop / "sessions_1.csv").symlink_to(outside / "sessions_secret.csv")
        file_name, listed = "sessions_*.csv", drop / "sessions_1.csv"
    else:
        (drop / "sub").symlink_to(outside, target_is_directory=True)
        file_name, listed = "sub/sessions_*.csv", drop / "sub" / "sessions_secret.csv"
    consolidators = (
        "<timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>"
        "<moveToBackupConsolidator><backupFolder>done</backupFolder></moveToBackupConsolidator>"
    )
    config = write_config(
        conf, config_text("<path>drop</path>", file_name=file_name, consolidators=consolidators)
    )
    report_path = seeded.root / "r.json"
    result = seeded.run("run", "--report", report_path, config)
    report = json.loads(report_path.read_text())
    assert result.exit_code == 3, result.stderr
    (file_report,) = report["files"]
    assert file_report["error"] == (
        f"{listed}: is a symbolic link to {outside / 'sessions_secret.csv'}, outside the provider's "
        f"folder {drop}; it was not read. Put the file itself in {drop}."
    )
    assert file_report["counts"]["rows"] == 0
    assert seeded.query("select count(*) from sessions") == [(0,)]
    assert (
        listed.exists() and not (conf / "done").exists()
    )  # a file that failed as a whole is never moved
    _assert_secret_untouched(outside, report, result)


def test_a_drop_folder_swapped_for_a_link_after_the_config_was_read_is_refused(
    seeded, conf, outside
):
    drop = conf / "drop"
    drop.mkdir()
    config = load_config(write_config(conf, config_text("<path>drop</path>")))
    drop.rmdir()
    drop.symlink_to(outside, target_is_directory=True)  # between `check` (or the load) and the run
    store = Store(seeded.db)
    try:
        report = run_import(config, store, [], RunOptions())
    finally:
        store.close()
    (file_report,) = report.files
    assert int(report.exit_code) == 3
    assert file_report.error.startswith(f"{drop / 'sessions_secret.csv'}: is a symbolic link to ")
    assert seeded.query("select count(*) from sessions") == [(0,)]


@pytest.mark.parametrize("tag", ["location", "backupFolder"])
def test_an_output_folder_swapped_for_a_link_after_the_config_was_read_is_not_used(
    seeded, conf, outside, tag
):
    consolidator = "timeStampedFileErrorLogger" if tag == "location" else "moveToBackupConsolidator"
    (conf / "drop").mkdir()
    data = conf / "drop" / "sessions_1.csv"
    data.write_text(rows("M;TP-001;Paris;;;open;;;jdupont;;", "M;TP-001;Berlin;;;open;;;nobody;;"))
    config = load_config(
        write_config(
            conf,
            config_text(
                "<path>drop</path>",
                consolidators=f"<{consolidator}><{tag}>out</{tag}></{consolidator}>",
            ),
        )
    )
    (conf / "out").symlink_to(outside, target_is_directory=True)  # the folder did not exist yet
    store = Store(seeded.db)
    try:
        report = run_import(config, store, [], RunOptions())
    finally:
        store.close()
    assert sorted(p.name for p in outside.iterdir()) == [
        "sessions_secret.csv"
    ]  # nothing written there
    (failure,) = report.consolidators
    assert failure.error == (
        f"The folder {conf / 'out'} now leads to {outside} (a symbolic link made after the "
        "configuration was read); nothing was written there."
    )
    assert data.exists()  # not moved


# ---- the run-time helper itself ----


def test_leads_outside(tmp_path, outside):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "in.csv").write_text("x")
    (folder / "alias.csv").symlink_to(folder / "in.csv")
    (folder / "out.csv").symlink_to(outside / "sessions_secret.csv")
    (folder / "loop").symlink_to(folder / "loop")
    assert leads_outside(folder / "in.csv", folder) is None
    assert leads_outside(folder / "alias.csv", folder) is None
    assert leads_outside(folder, folder) is None
    assert leads_outside(folder / "not-yet" / "made", folder) is None
    assert leads_outside(folder / "out.csv", folder) == outside / "sessions_secret.csv"
    assert leads_outside(folder / "loop" / "x", folder) == folder / "loop" / "x"
    assert (
        leads_outside(tmp_path / "drop-other", folder) == tmp_path / "drop-other"
    )  # not a prefix match


def test_the_error_log_never_writes_through_a_link_planted_under_its_name(seeded, conf, outside):
    """The log's name is predictable (the run's time and the file's name): a link planted under
    it must not make the run overwrite another file."""
    from datetime import datetime, timezone

    (conf / "drop").mkdir()
    (conf / "drop" / "sessions_1.csv").write_text(rows("M;TP-001;Berlin;;;open;;;nobody;;"))
    (conf / "logs").mkdir()
    victim = outside / "victim.txt"
    victim.write_text("keep me")
    planted = conf / "logs" / "20261201-020000-000_sessions_1.csv.log"
    planted.symlink_to(victim)
    config = load_config(
        write_config(
            conf,
            config_text(
                "<path>drop</path>",
                consolidators="<timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>",
            ),
        )
    )
    clock = lambda: datetime(2026, 12, 1, 2, 0, 0, tzinfo=timezone.utc)  # noqa: E731
    store = Store(seeded.db)
    try:
        report = run_import(config, store, [], RunOptions(clock=clock))
    finally:
        store.close()
    assert victim.read_text() == "keep me"
    assert planted.is_symlink()  # a log never replaces what has its name: it takes the next one
    assert report.consolidators == []
    assert (
        (conf / "logs" / "20261201-020000-000_sessions_1.csv-2.log")
        .read_text()
        .startswith("Line number:2,")
    )
