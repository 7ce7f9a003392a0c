"""The configuration: both forms, every provider option, FILE:LINE errors, hostile XML, CK's examples."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from session_import.config import ConfigError, load_config

EXAMPLES = Path(__file__).parent / "fixtures" / "ck-examples"
IN_SCOPE = {
    "createorupdate-session-action-1.xml",
    "createorupdate-session-action-2.xml",
    "data-sessionsearchfield-1.xml",
    "timestamped-file-error-logger-consolidator-1.xml",
    "movetobackup-consolidator-1.xml",
    "delete-processed-files-consolidator-1.xml",
}
# where CrossKnowledge's own malformed examples break (INDEX.md)
NOT_WELL_FORMED = {
    "createorupdate-trainingcourse-action-1.xml": 27,
    "createorupdate-trainingcourse-action-2.xml": 56,
    "createorupdate-trainingcourse-action-3.xml": 59,
    "import-4.xml": 3,
    "import-8.xml": 26,
    "registerlearner-action-1.xml": 29,
    "registerlearner-action-2.xml": 25,
    "time-logger-consolidator-1.xml": 7,
}

SESSION = """
<createOrUpdateSessionAction>
  <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
  <fields><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/></fields>
</createOrUpdateSessionAction>
"""


def write(tmp_path: Path, text: str, name: str = "c.xml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The line of the nth occurrence of ``needle`` in the file."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def errors_of(path: Path, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)
    return info.value.errors


def full(body: str, provider: str = "", extra: str = "") -> str:
    return f"""<import-config><import id="nightly">
{provider}<actions>{SESSION}</actions>{extra}
</import></import-config>"""


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.xml")))
def test_crossknowledge_examples_in_scope_pass_the_others_are_refused_with_file_and_line(name):
    path = EXAMPLES / name
    if name in IN_SCOPE:
        config = load_config(path, fragments=True)
        if name == "createorupdate-session-action-1.xml":
            assert config.warnings == (f"{path}:18: field <sessionID> read as <sessionId>.",)
            assert config.imports[0].actions[0].search_fields == ("sessionTitle", "sessionId", "sessionGuid")
        return
    errors = errors_of(path, fragments=True)
    assert errors
    for error in errors:
        assert re.match(rf"{re.escape(str(path))}:\d+: \S", error), error
    if name in NOT_WELL_FORMED:
        assert errors == [errors[0]]
        assert errors[0].startswith(f"{path}:{NOT_WELL_FORMED[name]}: the XML is not well-formed: ")


def test_reference_page_example_reads_as_written():
    config = load_config(EXAMPLES / "createorupdate-session-action-2.xml")
    (imp,) = config.imports
    assert config.form == "bare" and imp.id == "createorupdate-session-action-2" and imp.provider is None
    (action,) = imp.actions
    assert action.full_access is True
    assert action.search_fields == ("sessionTitle",)
    mandatory = {f.name: f.mandatory for f in action.fields}
    assert mandatory == {
        "sessionAction": True, "trainingPathCode": False, "trainingTitle": False, "sessionTitle": True,
        "sessionStatus": False, "sessionGuid": False, "sessionStartDate": False,
        "sessionEndDate": False, "teacherLogin": False,
    }
    assert action.field("sessionAction").codes == {"m": "createUpdate", "a": "cancel"}


def test_fragments_are_refused_by_run(tmp_path):
    path = EXAMPLES / "movetobackup-consolidator-1.xml"
    assert errors_of(path) == [
        f"{path}:1: <consolidators> is a fragment of an import configuration; a configuration's root "
        "is <import-config> or <actions>."
    ]


def test_misspelt_field_gets_did_you_mean(tmp_path):
    path = write(tmp_path, """
        <actions>
          <createOrUpdateSessionAction>
            <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
            <fields>
              <sessionAction/>
              <sessionTitel/>
              <sessionTitle/>
              <teacherLogin/>
            </fields>
          </createOrUpdateSessionAction>
        </actions>
        """, "sessions.xml")
    assert errors_of(path) == [
        f"{path}:6: unknown field <sessionTitel> in <fields>; did you mean <sessionTitle>?"
    ]


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("<fullAccess>maybe</fullAccess>", ':3: <fullAccess> must be yes or no, not "maybe".'),
        ("<sessionSearchField/>", ":3: <sessionSearchField> is empty;"),
        ("<sessionSearchField><sessionGuid/></sessionSearchField>",
         ":3: search field <sessionGuid> is not in <fields>; add it to <fields>."),
        ("<sessionSearchField><sesionTitle/></sessionSearchField>",
         ":3: unknown field <sesionTitle> in <sessionSearchField>; did you mean <sessionTitle>?"),
        ("", ":3: <createOrUpdateSessionAction> has no <sessionSearchField> in <options>;"),
    ],
)
def test_session_options(tmp_path, fragment, expected):
    path = write(tmp_path, f"""
        <actions>
          <createOrUpdateSessionAction>
            <options>{fragment}</options>
            <fields><sessionAction/><sessionTitle/><teacherLogin/></fields>
          </createOrUpdateSessionAction>
        </actions>
        """)
    assert any(e.startswith(f"{path}{expected}") for e in errors_of(path)), errors_of(path)


def test_option_outside_options_and_unknown_elements(tmp_path):
    path = write(tmp_path, """
        <actions>
          <createOrUpdateSessionAction>
            <fullAccess>yes</fullAccess>
            <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
            <fields><sessionAction/><sessionTitle/><teacherLogin/><sessionAction/></fields>
          </createOrUpdateSessionAction>
          <registerLearnerAction/>
          <createOrUpdateSesionAction/>
        </actions>
        """)
    errors = errors_of(path)
    assert f"{path}:3: <fullAccess> belongs inside <options>; move it there." in errors
    assert any(e.startswith(f"{path}:5: field <sessionAction> is listed twice") for e in errors)
    assert f"{path}:7: <registerLearnerAction> is a CrossKnowledge action that session-import does not support." in errors
    assert (f"{path}:8: unknown action <createOrUpdateSesionAction> in <actions>; "
            "did you mean <createOrUpdateSessionAction>?") in errors


def test_full_form_with_every_provider_option(tmp_path, monkeypatch):
    provider = """<providers><fileSystemSourceProvider>
        <fileName>sessions_*.csv</fileName>
        <path>drop/in</path>
        <skipFirstLine>no</skipFirstLine>
        <autoDetectLineEndings>yes</autoDetectLineEndings>
        <columnsMapping>
          <sessionAction><createUpdate>C</createUpdate></sessionAction>
          <ignoredColumn/>
          <trainingPathCode/><sessionTitle/><teacherLogin/>
        </columnsMapping>
        <fileEncoding>ISO-8859-1</fileEncoding>
        <delimiter>tabulation</delimiter>
        <sheetName>Sessions</sheetName>
        <timezone>Europe/Paris</timezone>
        <dateFormat>DD/MM/YYYY HH:II</dateFormat>
      </fileSystemSourceProvider></providers>"""
    path = write(tmp_path, full("", provider, "<safety><maxRejects>5%</maxRejects><maxCancel>10</maxCancel></safety>"))
    monkeypatch.chdir("/")
    config = load_config(path)
    (imp,) = config.imports
    p = imp.provider
    assert imp.id == "nightly" and config.form == "full"
    assert p.file_name == "sessions_*.csv"
    assert p.path == tmp_path / "drop" / "in"  # against the config's folder, not the cwd
    assert p.skip_first_line is False
    assert [c.name for c in p.columns_mapping] == [
        "sessionAction", None, "trainingPathCode", "sessionTitle", "teacherLogin"
    ]
    assert (p.encoding, p.delimiter, p.sheet_name, p.timezone, p.date_format) == (
        "ISO-8859-1", "\t", "Sessions", "Europe/Paris", "DD/MM/YYYY HH:II"
    )
    # codes of <columnsMapping> replace the default of that meaning only
    assert imp.actions[0].field("sessionAction").codes == {"c": "createUpdate", "a": "cancel"}
    assert (imp.safety.max_rejects, imp.safety.max_cancel) == ("5%", "10")


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("<path>../elsewhere</path>", "String '..' is forbidden in file path"),
        ("<fileName>../x.csv</fileName>", "String '..' is forbidden in file path"),
        ("<delimiter>semicolumn</delimiter>", "unknown delimiter 'semicolumn'; did you mean semicolon?"),
        ("<fileEncoding>latin-42</fileEncoding>", "unknown encoding 'latin-42'"),
        ("<timezone>Europe/Pariss</timezone>", "unknown time zone 'Europe/Pariss' in <timezone>; did you mean Europe/Paris?"),
        ("<dateFormat>DD/MM/YYYY at HH</dateFormat>",
         "the given date format DD/MM/YYYY at HH is not valid. It should only contain the following "
         "characters (case insensitive): 'YMDHIS /_.:;,-'"),
        ("<dateFormat>DD/MM/YYYY hh:mm</dateFormat>", "the date format DD/MM/YYYY hh:mm must contain MM exactly once"),
        ("<dateFormat>YY-MM-DD</dateFormat>", "the date format YY-MM-DD has a stray 'Y'"),
        ("<skipFirstLine>oui</skipFirstLine>", '<skipFirstLine> must be yes or no, not "oui".'),
        ("<sftpPassword>hunter2</sftpPassword>",
         "<sftpPassword> is a CrossKnowledge option that session-import does not support; remove it."),
        ("<columnsMapping><sessionTitle/></columnsMapping>",
         "mandatory field <sessionAction> is not in <columnsMapping>"),
    ],
)
def test_provider_errors(tmp_path, option, expected):
    name = "" if option.startswith("<fileName>") else "<fileName>x.csv</fileName>"
    provider = f"<providers><fileSystemSourceProvider>{name}{option}</fileSystemSourceProvider></providers>"
    path = write(tmp_path, full("", provider))
    errors = errors_of(path)
    assert any(expected in e and e.startswith(f"{path}:") for e in errors), errors
    assert not any("hunter2" in e for e in errors)


def test_missing_file_name_and_duplicate_import_ids(tmp_path):
    path = write(tmp_path, f"""
        <import-config>
          <import id="a"><providers><fileSystemSourceProvider/></providers><actions>{SESSION}</actions></import>
          <import id="a"><actions>{SESSION}</actions></import>
        </import-config>
        """)
    errors = errors_of(path)
    first, second = line_of(path, '<import id="a">'), line_of(path, '<import id="a">', 2)
    assert any(e.startswith(f"{path}:{first}: <fileSystemSourceProvider> has no <fileName>") for e in errors)
    assert f"{path}:{second}: two imports are named a (the other on line {first}); " \
        'give each <import> its own id="...".' in errors


@pytest.mark.parametrize(
    ("consolidator", "expected"),
    [
        ("<timeStampedFileErrorLogger/>", "The location parameter is missing."),
        ("<moveToBackupConsolidator><timestamp>yes</timestamp></moveToBackupConsolidator>",
         "The backupFolder parameter is missing."),
        ("<emailReport/>", "The targetEmail parameter is missing."),
        ("<emailReport><targetEmail>not-an-address</targetEmail></emailReport>",
         "The targetEmail parameter is an invalid email: not-an-address"),
        ("<emailReport><targetEmail>a@b.org</targetEmail><includeDownloadLink>yes</includeDownloadLink></emailReport>",
         "<includeDownloadLink> is a CrossKnowledge option that session-import does not support"),
        ("<timeLogger/>", "<timeLogger> is a CrossKnowledge consolidator that session-import does not support."),
        ("<deleteProcessedFilesConsolidator/><deleteProcessedFilesConsolidator/>",
         "<deleteProcessedFilesConsolidator> appears twice in <consolidators>"),
    ],
)
def test_consolidator_errors(tmp_path, consolidator, expected):
    path = write(tmp_path, full("", "", f"<consolidators>{consolidator}</consolidators>"))
    errors = errors_of(path)
    assert any(expected in e for e in errors), errors


def test_consolidators_run_in_crossknowledge_order_with_resolved_paths(tmp_path):
    consolidators = """<consolidators>
        <deleteProcessedFilesConsolidator><disabled>yes</disabled></deleteProcessedFilesConsolidator>
        <emailReport><targetEmail>a@example.org</targetEmail><targetEmail>b@example.org</targetEmail></emailReport>
        <moveToBackupConsolidator><backupFolder>backup</backupFolder><timestamp>yes</timestamp></moveToBackupConsolidator>
        <timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>
      </consolidators>"""
    (imp,) = load_config(write(tmp_path, full("", "", consolidators))).imports
    assert [c.name for c in imp.consolidators] == [
        "timeStampedFileErrorLogger", "moveToBackupConsolidator", "emailReport",
        "deleteProcessedFilesConsolidator",
    ]
    logger, backup, email, delete = imp.consolidators
    assert logger.options == {"location": (str(tmp_path / "logs"),)}
    assert backup.options == {"backupFolder": (str(tmp_path / "backup"),), "timestamp": ("yes",)}
    assert email.options == {"targetEmail": ("a@example.org", "b@example.org")}
    assert delete.disabled is True


def test_placeholders_publishers_and_pre_process_are_refused(tmp_path):
    path = write(tmp_path, f"""
        <import-config>
          <preProcess><pgpDecryption/></preProcess>
          <import>
            <providers>...</providers>
            <actions>{SESSION}</actions>
            <publishers/>
          </import>
        </import-config>
        """)
    errors = errors_of(path)
    assert any(e.startswith(f"{path}:2: <preProcess> is a CrossKnowledge pre-process") for e in errors)
    assert f"{path}:4: unexpected text '...' in <providers>; remove it." in errors
    assert any(e.startswith(f"{path}:{line_of(path, '<publishers/>')}: <publishers> is not supported")
               for e in errors)


def test_learner_and_entity_actions(tmp_path):
    path = write(tmp_path, """
        <import-config>
          <import id="people"><actions><createOrUpdateLearnerAction>
            <fields><candidateName/><candidateEmail/><candidateRefNumber/></fields>
          </createOrUpdateLearnerAction></actions></import>
          <import id="groups"><actions><createOrUpdateEntityAction>
            <fields><hierarchyEntityName/><hierarchyEntityName/><hierarchyEntityName/></fields>
          </createOrUpdateEntityAction></actions></import>
        </import-config>
        """)
    people, groups = load_config(path).imports
    assert people.actions[0].search_fields == ("candidateRefNumber",)
    assert groups.actions[0].field_names.count("hierarchyEntityName") == 3
    bad = write(tmp_path, """
        <actions><createOrUpdateLearnerAction><fields><candidateName/></fields></createOrUpdateLearnerAction></actions>
        """, "bad.xml")
    assert any("needs at least one of <candidateLogin>" in e for e in errors_of(bad))


def test_hostile_xml_is_never_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for doc in (
        f'<?xml version="1.0"?>\n<!DOCTYPE actions [<!ENTITY x SYSTEM "file://{secret}">]>\n<actions>&x;</actions>',
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        "<actions>&lol2;</actions>",
        '<!doctype actions SYSTEM "http://127.0.0.1:9/x.dtd">\n<actions/>',
    ):
        path = write(tmp_path, doc, "hostile.xml")
        errors = errors_of(path)
        assert errors[0].startswith(f"{path}:")
        assert "<!DOCTYPE> is not allowed" in errors[0]
        assert not any("TOP-SECRET" in e for e in errors)


def test_check_command_prints_what_each_import_does(tmp_path):
    from click.testing import CliRunner

    from session_import.cli import main

    result = CliRunner().invoke(main, ["check", str(Path(__file__).parent.parent / "sample_configs" / "sessions.xml")])
    assert result.exit_code == 0, result.output
    assert "import nightly-sessions" in result.stdout
    assert "reads: sessions_*.csv in " in result.stdout
    assert "finds existing records by sessionGuid + sessionTitle" in result.stdout
    assert "the configuration is valid." in result.stdout
    bad = write(tmp_path, "<actions><createOrUpdateSessionAction/></actions>")
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code == 4
    assert result.stderr.startswith(f"{bad}:1: ")
