"""The configuration (SPEC sections 3 to 6): both forms, fragments, every option, FILE:LINE errors,
hostile XML and CrossKnowledge's own published examples."""

from __future__ import annotations

import re
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_import import catalog
from session_import.config import ConfigError, describe, load_config

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXAMPLES = FIXTURES / "ck-examples"
CONFIGS = FIXTURES / "config"

# INDEX.md: the only CrossKnowledge examples that use nothing but SPEC elements.
IN_SCOPE = {
    "createorupdate-session-action-1.xml",
    "createorupdate-session-action-2.xml",
    "data-sessionsearchfield-1.xml",
    "timestamped-file-error-logger-consolidator-1.xml",
    "movetobackup-consolidator-1.xml",
    "delete-processed-files-consolidator-1.xml",
}
# INDEX.md: where CrossKnowledge's malformed examples break.
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
# What our message says of each, in our words (never libxml2's advice).
_EXTRA = (
    "something follows the end of the root element; remove it (a configuration has one root "
    "element, <import-config> or <actions>)."
)
WHY_NOT_WELL_FORMED = {
    "createorupdate-trainingcourse-action-1.xml": _EXTRA,
    "createorupdate-trainingcourse-action-2.xml": _EXTRA,
    "createorupdate-trainingcourse-action-3.xml": _EXTRA,
    "import-4.xml": (
        "<inputFilePath> of line 3 is closed by </inputFolderPath>; close <inputFilePath> "
        "before it, or remove or correct </inputFolderPath>."
    ),
    "import-8.xml": "the file ends inside <import-config> of line 24; close it with </import-config>.",
    "registerlearner-action-1.xml": (
        "<fields> of line 15 is closed by </registrationDate>; close <fields> "
        "before it, or remove or correct </registrationDate>."
    ),
    "registerlearner-action-2.xml": (
        "<fields> of line 15 is closed by </registrationDate>; close <fields> "
        "before it, or remove or correct </registrationDate>."
    ),
    "time-logger-consolidator-1.xml": (
        "<timeLogger> of line 2 is closed by </consolidators>; close "
        "<timeLogger> before it, or remove or correct </consolidators>."
    ),
}
# The first error of a few examples, word for word.
FIRST_ERROR = {
    "import-6.xml": "24: <sftpHost> is a CrossKnowledge option that session-import does not support; remove it.",
    "createorupdate-entity-action-1.xml": "4: <defaultEntityId> is a CrossKnowledge option that session-import does not support; remove it.",
    "createorupdate-intervention-action-1.xml": "2: <createOrUpdateInterventionAction> is a CrossKnowledge action that session-import does not support.",
    "clean-folder-consolidator-1.xml": "2: <cleanFolder> is a CrossKnowledge consolidator that session-import does not support.",
    "email-report-consolidator-1.xml": "5: <includeDownloadLink> is a CrossKnowledge option that session-import does not support; remove it.",
    "import-2.xml": "1: <preProcess> is a CrossKnowledge pre-process that session-import does not support; ",
    "import-7.xml": "1: <postProcess> is a CrossKnowledge post-process that session-import does not support; ",
    "data-trainingsearchfield-1.xml": "2: <trainingSearchField> is a CrossKnowledge option that session-import does not support; remove it.",
    "data-traineesearchfield-1.xml": "6: <custom> is a CrossKnowledge field that session-import does not support; remove it.",
    "import-1.xml": "3: <preProcess> is a CrossKnowledge pre-process that session-import does not support; ",
}

SESSION = (
    "<createOrUpdateSessionAction>"
    "<options><sessionSearchField><sessionTitle/></sessionSearchField></options>"
    "<fields><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/></fields>"
    "</createOrUpdateSessionAction>"
)


def write(tmp_path: Path, text: str, name: str = "c.xml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The line of the nth occurrence of ``needle`` in the file."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def errors_of(path, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


def full(provider: str = "", extra: str = "", actions: str = SESSION) -> str:
    return f"""<import-config><import id="nightly">
{provider}<actions>{actions}</actions>{extra}
</import></import-config>"""


def bare(
    options: str = "<sessionSearchField><sessionTitle/></sessionSearchField>",
    fields: str = "<sessionAction/><sessionTitle/><teacherLogin/>",
) -> str:
    """A bare session action with <options> on line 3 and <fields> on line 4."""
    return f"""<actions>
<createOrUpdateSessionAction>
<options>{options}</options>
<fields>{fields}</fields>
</createOrUpdateSessionAction>
</actions>
"""


def provider(options: str, file_name: str = "<fileName>x.csv</fileName>") -> str:
    return f"<providers><fileSystemSourceProvider>{file_name}{options}</fileSystemSourceProvider></providers>"


# ---- CrossKnowledge's published examples ----


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.xml")))
def test_crossknowledge_examples_in_scope_load_the_others_are_refused_with_file_and_line(name):
    path = EXAMPLES / name
    if name in IN_SCOPE:
        config = load_config(path, fragments=True)
        assert describe(config)
        return
    errors = errors_of(path, fragments=True)
    assert errors
    lines = path.read_text(encoding="utf-8").splitlines()
    for error in errors:
        m = re.match(rf"{re.escape(str(path))}:(\d+): (.*)", error)
        assert m, error
        line, text = int(m.group(1)), m.group(2)
        assert 1 <= line <= len(lines) + 1, error
        named = re.findall(r"<([A-Za-z-]+)", text)
        if name not in NOT_WELL_FORMED:  # the element named stands on the line given
            assert named and any(f"<{n}" in lines[line - 1] for n in named), error
    if name in NOT_WELL_FORMED:
        assert len(errors) == 1
        assert errors[0] == (
            f"{path}:{NOT_WELL_FORMED[name]}: the XML is not well-formed: "
            f"{WHY_NOT_WELL_FORMED[name]}"
        )
    if name in FIRST_ERROR:
        assert errors[0].startswith(f"{path}:{FIRST_ERROR[name]}"), errors


@pytest.mark.parametrize("name", sorted(IN_SCOPE))
def test_examples_in_scope_that_are_not_fragments_also_load_without_fragments(name):
    path = EXAMPLES / name
    if name.startswith("createorupdate-session-action"):
        assert load_config(path).form == "bare"
    else:
        assert load_config(path, fragments=True).form == "fragment"
        assert errors_of(path)[0].startswith(f"{path}:1: <")


def test_reference_page_example_with_its_sessionID_warning():
    path = EXAMPLES / "createorupdate-session-action-1.xml"
    config = load_config(path)
    assert config.warnings == (f"{path}:18: field <sessionID> read as <sessionId>.",)
    (action,) = config.imports[0].actions
    assert action.search_fields == ("sessionTitle", "sessionId", "sessionGuid")
    assert "sessionId" in action.field_names and "sessionID" not in action.field_names
    assert action.field("sessionId").line == 18
    assert action.full_access is True


def test_reference_page_example_reads_as_written():
    config = load_config(EXAMPLES / "createorupdate-session-action-2.xml")
    (imp,) = config.imports
    assert (
        config.form == "bare"
        and imp.id == "createorupdate-session-action-2"
        and imp.provider is None
    )
    assert config.warnings == () and config.fragment is None
    (action,) = imp.actions
    assert action.full_access is True
    assert action.search_fields == ("sessionTitle",)
    mandatory = {f.name: f.mandatory for f in action.fields}
    assert mandatory == {
        "sessionAction": True,
        "trainingPathCode": False,
        "trainingTitle": False,
        "sessionTitle": True,
        "sessionStatus": False,
        "sessionGuid": False,
        "sessionStartDate": False,
        "sessionEndDate": False,
        "teacherLogin": False,
    }
    assert action.field("teacherLogin").mandatory_explicit is True
    assert action.field("sessionAction").mandatory_explicit is False
    assert action.field("sessionAction").codes == {"m": "createUpdate", "a": "cancel"}


def test_crossknowledge_fragments_are_read_where_they_belong():
    options = load_config(EXAMPLES / "data-sessionsearchfield-1.xml", fragments=True)
    assert (options.form, options.fragment, options.imports) == ("fragment", "options", ())
    backup = load_config(EXAMPLES / "movetobackup-consolidator-1.xml", fragments=True)
    assert backup.fragment == "consolidators"
    assert describe(backup) == [
        (
            f"{backup.path}: a valid <consolidators> fragment; it belongs inside an <import>, after its "
            "<actions> (a fragment cannot be run on its own)."
        )
    ]


def test_the_sftp_password_of_crossknowledges_example_is_never_echoed():
    path = EXAMPLES / "import-6.xml"
    assert "p4ssword" in path.read_text()
    with pytest.raises(ConfigError) as info:
        load_config(path, fragments=True)
    assert "p4ssword" not in str(info.value)
    assert (
        f"{path}:26: <sftpPassword> is a CrossKnowledge option that session-import does not support; "
        "remove it." in info.value.errors
    )


# ---- the parser: hostile and broken documents ----


@pytest.mark.parametrize(
    "name", ["billion-laughs.xml", "external-entity.xml", "parameter-entity.xml"]
)
def test_a_doctype_is_refused_before_any_entity_is_expanded(name):
    path = CONFIGS / name
    with pytest.raises(ConfigError) as info:
        load_config(path, fragments=True)
    assert info.value.errors == [
        f"{path}:2: a <!DOCTYPE> is not allowed in an import configuration; remove it."
    ]
    assert "TOP-SECRET" not in str(info.value)
    assert "lollol" not in str(info.value)


def test_an_external_dtd_is_refused_without_network():
    path = CONFIGS / "external-dtd.xml"
    assert errors_of(path) == [
        f"{path}:1: a <!DOCTYPE> is not allowed in an import configuration; remove it."
    ]


def test_a_doctype_is_refused_in_any_case_and_encoding(tmp_path):
    lower = write(tmp_path, "<?xml version='1.0'?>\n\n<!doctype actions>\n<actions/>\n")
    assert errors_of(lower) == [
        f"{lower}:3: a <!DOCTYPE> is not allowed in an import configuration; remove it."
    ]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    utf16 = tmp_path / "utf16.xml"
    utf16.write_bytes(
        '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE actions [<!ENTITY x SYSTEM "secret.txt">]>\n'
        "<actions>&x;</actions>\n".encode("utf-16")
    )
    errors = errors_of(utf16)
    assert errors == [
        f"{utf16}:2: a <!DOCTYPE> is not allowed in an import configuration; remove it."
    ]


def test_an_undeclared_entity_is_not_well_formed_and_never_looked_up(tmp_path):
    path = write(tmp_path, "<actions>\n  &nbsp;\n</actions>\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:2: the XML is not well-formed: Entity 'nbsp' not defined")
    assert error.endswith("; fix the markup.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "",
            ":1: the file is empty; write the configuration in it, with <import-config> or <actions> as its root.",
        ),
        (
            "<actions>\n<createOrUpdateSessionAction>\n</actions>\n",
            (
                ":3: the XML is not well-formed: <createOrUpdateSessionAction> of line 2 is closed by </actions>; "
                "close <createOrUpdateSessionAction> before it, or remove or correct </actions>."
            ),
        ),
        (
            "<actions/>\n<actions/>\n",
            (
                ":2: the XML is not well-formed: something follows the end of the root element; remove it "
                "(a configuration has one root element, <import-config> or <actions>)."
            ),
        ),
        (
            "<?xml version='1.0' encoding='klingon'?>\n<actions/>",
            ":1: the XML is not well-formed: Unsupported encoding: klingon; fix the markup.",
        ),
        (
            "<actions>\n<a b=1/>\n</actions>",
            ":2: the XML is not well-formed: AttValue: \" or ' expected; fix the markup.",
        ),
    ],
)
def test_malformed_documents_name_the_parsers_line(tmp_path, text, expected):
    path = tmp_path / "broken.xml"
    path.write_text(text)
    (error,) = errors_of(path)
    assert error == f"{path}{expected}"


def test_an_unreadable_file_is_a_config_error(tmp_path):
    (error,) = errors_of(tmp_path / "missing.xml")
    assert error.startswith(f"{tmp_path / 'missing.xml'}:1: cannot be read: ")


def test_file_is_shown_as_the_user_gave_it(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", "<actions><createOrUpdateSessionAction/></actions>", "bad.xml")
    monkeypatch.chdir(tmp_path)
    errors = errors_of("conf/bad.xml")
    assert errors and all(e.startswith("conf/bad.xml:1: ") for e in errors)


def test_comments_and_processing_instructions_are_skipped_everywhere(tmp_path):
    path = write(
        tmp_path,
        """
        <?xml version="1.0"?>
        <!-- before the root -->
        <?some-tool setting?>
        <import-config><!-- c -->
          <import id="x"><!-- c -->
            <providers><fileSystemSourceProvider>
              <fileName>a<!-- inside a value -->.csv</fileName>
              <columnsMapping><!-- c --><sessionAction/><sessionTitle/><!-- c --><teacherLogin/></columnsMapping>
            </fileSystemSourceProvider></providers>
            <actions><!-- c -->
              <createOrUpdateSessionAction><!-- c -->
                <options><sessionSearchField><sessionTitle/><!-- c --></sessionSearchField><!-- c --></options>
                <fields><sessionAction><!-- c --><cancel>C<!-- c --></cancel></sessionAction>
                  <sessionTitle/><!-- Use Session Title --><teacherLogin/></fields>
              </createOrUpdateSessionAction>
            </actions>
          </import>
        </import-config>
        <!-- after the root -->
        """,
    )
    (imp,) = load_config(path).imports
    assert imp.provider.file_name == "a.csv"
    assert imp.actions[0].field_names == ("sessionAction", "sessionTitle", "teacherLogin")
    assert imp.actions[0].field("sessionAction").codes == {"m": "createUpdate", "c": "cancel"}


def test_namespace_declarations_and_xsi_attributes_on_the_root_are_accepted(tmp_path):
    path = write(
        tmp_path,
        f"""
        <import-config xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                       xsi:noNamespaceSchemaLocation="import-config.xsd">
          <import>
            <actions>{SESSION}</actions>
          </import>
        </import-config>
        """,
    )
    assert load_config(path).imports[0].id == "c"
    default_ns = write(
        tmp_path, bare().replace("<actions>", '<actions xmlns="urn:example:import">', 1), "ns.xml"
    )
    assert load_config(default_ns).imports[0].actions[0].name == catalog.SESSION_ACTION
    inner = write(
        tmp_path,
        f"""
        <import-config xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
          <import xsi:type="x"><actions>{SESSION}</actions></import>
        </import-config>
        """,
        "inner.xml",
    )
    assert errors_of(inner) == [
        f'{inner}:2: unknown attribute type= on <import>; an <import> takes only id="...".'
    ]


# ---- the shape of every message ----


def test_the_specs_did_you_mean_example_word_for_word(tmp_path, monkeypatch):
    write(
        tmp_path,
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <actions>
          <createOrUpdateSessionAction>
            <options>
              <sessionSearchField>
                <sessionTitle/>
              </sessionSearchField>
              <fullAccess>no</fullAccess>
            </options>
            <fields>
              <sessionAction/>
              <trainingPathCode/>
              <sessionTitel/>
              <sessionTitle/>
              <teacherLogin/>
            </fields>
          </createOrUpdateSessionAction>
        </actions>
        """,
        "sessions.xml",
    )
    monkeypatch.chdir(tmp_path)
    assert errors_of("sessions.xml") == [
        "sessions.xml:13: unknown field <sessionTitel> in <fields>; did you mean <sessionTitle>?"
    ]


def test_every_error_of_a_file_is_reported_at_once_unknown_names_first_then_in_line_order(tmp_path):
    path = write(
        tmp_path,
        """
        <import-config>
          <import id="a">
            <providers><fileSystemSourceProvider>
              <fileName>x.csv</fileName>
              <delimiter>semicolumn</delimiter>
            </fileSystemSourceProvider></providers>
            <actions>
              <createOrUpdateSessionAction>
                <options><fullAcess>yes</fullAcess></options>
                <fields><sessionAction/><sessionTitle/><teacherLogin/></fields>
              </createOrUpdateSessionAction>
            </actions>
            <consolidators><emailReport/></consolidators>
          </import>
          <import id="b">
            <actions><createOrUpdateTrainingCourseAction>
              <fields><trainingAction/><trainingPathCode/><trainingTitle/><trainingModality/>
                <price/></fields>
            </createOrUpdateTrainingCourseAction></actions>
            <safety><maxRejects>lots</maxRejects></safety>
          </import>
        </import-config>
        """,
    )
    assert errors_of(path) == [
        f"{path}:9: unknown option <fullAcess> in <options>; did you mean <fullAccess>?",
        (
            f"{path}:18: unknown field <price> in <fields>; expected one of <trainingAction>, "
            "<trainingPathCode>, <trainingTitle>, <trainingLocale>, <trainingModality>, "
            "<trainingDescription>, <ignoredColumn>."
        ),
        f"{path}:5: unknown delimiter 'semicolumn'; did you mean semicolon?",
        (
            f"{path}:9: <createOrUpdateSessionAction> has no <sessionSearchField> in <options>; add one naming "
            "the fields that find an existing session (sessionGuid, sessionTitle, sessionId, sessionStartDate, "
            "sessionEndDate)."
        ),
        f"{path}:13: The targetEmail parameter is missing.",
        (
            f"{path}:20: <maxRejects> is 'lots'; write a count such as 10 or a percentage from 0 to 100 "
            "such as 5%."
        ),
    ]


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            bare().replace("<fields>", '<fields order="1">'),
            ":4: unknown attribute order= on <fields>; remove it.",
        ),
        (
            bare().replace(
                "<sessionTitle/><teacherLogin/>", '<sessionTitle x="1"/><teacherLogin/>'
            ),
            ":4: unknown attribute x= on <sessionTitle>; remove it.",
        ),
        (
            bare().replace("<actions>", '<actions version="2">'),
            ":1: unknown attribute version= on <actions>; remove it.",
        ),
        (
            bare(
                options="<fullAccess>no</fullAccess>...<sessionSearchField><sessionTitle/></sessionSearchField>"
            ),
            ":3: unexpected text '...' in <options>; remove it.",
        ),
        (
            bare(fields="<sessionAction/>to do<sessionTitle/><teacherLogin/>"),
            ":4: unexpected text 'to do' in <fields>; remove it.",
        ),
        (
            bare(fields="<sessionAction/><sessionTitle>Title</sessionTitle><teacherLogin/>"),
            ":4: unexpected text 'Title' in <sessionTitle>; remove it.",
        ),
        (
            bare(
                options="<fullAccess><yes/></fullAccess><sessionSearchField><sessionTitle/></sessionSearchField>"
            ),
            ":3: <fullAccess> holds a value, not elements; remove <yes>.",
        ),
    ],
)
def test_unknown_attributes_stray_text_and_misplaced_elements_are_errors(tmp_path, xml, expected):
    path = write(tmp_path, xml)
    assert f"{path}{expected}" in errors_of(path), errors_of(path)


@pytest.mark.parametrize(
    ("written", "value"), [("yes", True), (" YES ", True), ("No", False), ("\n no\n", False)]
)
def test_yes_no_is_case_insensitive_and_trimmed(tmp_path, written, value):
    options = f"<sessionSearchField><sessionTitle/></sessionSearchField><fullAccess>{written}</fullAccess>"
    path = write(tmp_path, bare(options=options))
    assert load_config(path).imports[0].actions[0].full_access is value


@pytest.mark.parametrize("written", ["maybe", "", "true", "1", "oui"])
def test_a_bad_yes_no_is_an_error(tmp_path, written):
    options = f"<sessionSearchField><sessionTitle/></sessionSearchField><fullAccess>{written}</fullAccess>"
    path = write(tmp_path, bare(options=options))
    assert errors_of(path) == [f'{path}:3: <fullAccess> is "{written}"; write yes or no.']


# ---- the two forms ----


def test_bare_form(tmp_path):
    config = load_config(write(tmp_path, bare(), "monday sessions.xml"))
    (imp,) = config.imports
    assert (config.form, config.fragment, imp.id, imp.provider, imp.line) == (
        "bare",
        None,
        "monday sessions",
        None,
        1,
    )
    assert (
        imp.consolidators == () and imp.safety.max_rejects is None and imp.safety.max_cancel is None
    )
    (action,) = imp.actions
    assert (action.name, action.line, action.full_access, action.search_fields) == (
        catalog.SESSION_ACTION,
        2,
        False,
        ("sessionTitle",),
    )
    assert [(f.name, f.mandatory, f.mandatory_explicit, f.line) for f in action.fields] == [
        ("sessionAction", True, False, 4),
        ("sessionTitle", True, False, 4),
        ("teacherLogin", True, False, 4),
    ]


def test_full_form_with_every_option(tmp_path, monkeypatch):
    source = (CONFIGS / "every-option.xml").read_text()
    path = write(tmp_path, source, "every-option.xml")
    monkeypatch.chdir("/")
    config = load_config(path)
    assert config.form == "full" and config.warnings == ()
    nightly, teachers = config.imports
    assert (nightly.id, nightly.line, teachers.id) == ("nightly", 4, "teachers")
    p = nightly.provider
    assert p.file_name == "sessions_*.csv"
    assert p.path == tmp_path / "drop" / "in"  # against the config's folder, not the cwd
    assert p.skip_first_line is False
    assert [c.name for c in p.columns_mapping] == [
        "sessionAction",
        None,
        "trainingPathCode",
        "sessionTitle",
        "teacherLogin",
        "sessionStatus",
    ]
    assert [c.line for c in p.columns_mapping] == list(range(12, 18))
    assert (p.encoding, p.delimiter, p.sheet_name, p.timezone, p.date_format, p.line) == (
        "ISO-8859-1",
        "\t",
        "Sessions",
        "Europe/Paris",
        "DD/MM/YYYY HH:II",
        6,
    )
    (session,) = nightly.actions
    assert session.full_access is True
    # <fields> win over <columnsMapping>, which wins over the defaults, meaning by meaning
    assert session.field("sessionAction").codes == {"c": "createUpdate", "a": "cancel"}
    assert session.field("sessionStatus").codes == {"o": "open", "x": "closed"}
    assert [c.name for c in nightly.consolidators] == list(catalog.CONSOLIDATORS)
    logger, backup, email, delete = nightly.consolidators
    assert logger.options == {"location": (str(tmp_path / "logs"),)}
    assert backup.options == {"backupFolder": (str(tmp_path / "backup"),), "timestamp": ("no",)}
    assert email.options == {"targetEmail": ("planning@example.org", "hr.team@example.co.uk")}
    assert (delete.disabled, email.disabled) == (True, False)
    assert (nightly.safety.max_rejects, nightly.safety.max_cancel) == ("5%", "10")
    assert teachers.provider is None
    assert teachers.actions[0].search_fields == ("candidateLogin",)


def test_import_ids_default_to_the_file_stem_and_must_differ(tmp_path):
    path = write(
        tmp_path,
        f"""
        <import-config>
          <import><actions>{SESSION}</actions></import>
          <import id="  "><actions>{SESSION}</actions></import>
          <import id="c"><actions>{SESSION}</actions></import>
          <import id="other"><actions>{SESSION}</actions></import>
        </import-config>
        """,
    )
    assert errors_of(path) == [
        f'{path}:3: two imports are named c (the other on line 2); give each <import> its own id="...".',
        f'{path}:4: two imports are named c (the other on line 2); give each <import> its own id="...".',
    ]
    one = write(
        tmp_path,
        f"<import-config><import><actions>{SESSION}</actions></import></import-config>",
        "one.xml",
    )
    assert load_config(one).imports[0].id == "one"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", ":1: <import-config> holds no <import>; add one."),
        ("<import/>", ":1: <import> has no <actions>; add the action that each row runs."),
        (
            "<import><actions/></import>",
            ":1: <actions> holds no action; add <createOrUpdateSessionAction> or another.",
        ),
        (
            f"<import><actions>{SESSION}</actions><actions>{SESSION}</actions></import>",
            ":1: <actions> appears twice in <import> (first on line 1); keep one.",
        ),
        (
            f"<import><provider/><actions>{SESSION}</actions></import>",
            ":1: unknown element <provider> in <import>; did you mean <providers>?",
        ),
        (
            f"<imports><actions>{SESSION}</actions></imports>",
            ":1: unknown element <imports> in <import-config>; did you mean <import>?",
        ),
        (
            f"<import><actions>{SESSION}</actions><publishers><perculusPublisher/></publishers></import>",
            ":1: <perculusPublisher> needs <baseUrl>; add it.",
        ),
        (
            f"<import><providers/><providers/><actions>{SESSION}</actions></import>",
            ":1: <providers> appears twice in <import> (first on line 1); keep one.",
        ),
        (
            (
                f"<import><providers><fileSystemSourceProvider><fileName>a</fileName></fileSystemSourceProvider>"
                f"<fileSystemSourceProvider><fileName>b</fileName></fileSystemSourceProvider></providers>"
                f"<actions>{SESSION}</actions></import>"
            ),
            ":1: only one <fileSystemSourceProvider> per import; use one <import> per kind of file.",
        ),
        (
            f"<import><providers><sftpSourceProvider/></providers><actions>{SESSION}</actions></import>",
            ":1: unknown element <sftpSourceProvider> in <providers>; did you mean <fileSystemSourceProvider>?",
        ),
    ],
)
def test_full_form_structure(tmp_path, body, expected):
    path = write(tmp_path, f"<import-config>{body}</import-config>")
    assert f"{path}{expected}" in errors_of(path), errors_of(path)


@pytest.mark.parametrize("where", ["top", "import"])
@pytest.mark.parametrize(
    ("tag", "kind"), [("preProcess", "pre-process"), ("postProcess", "post-process")]
)
def test_pre_and_post_processes_are_refused_by_name(tmp_path, where, tag, kind):
    process = f"<{tag}><pgpDecryption/></{tag}>"
    if where == "top":
        body = f"{process}\n<import>\n<actions>{SESSION}</actions>\n</import>"
    else:
        body = f"<import>\n<actions>{SESSION}</actions>\n{process}\n</import>"
    path = write(tmp_path, f"<import-config>\n{body}\n</import-config>\n")
    (error,) = errors_of(path)
    assert error.startswith(
        f"{path}:{line_of(path, f'<{tag}>')}: <{tag}> is a CrossKnowledge {kind} that session-import "
        "does not support; "
    )


@pytest.mark.parametrize("action", catalog.UNSUPPORTED_CK_ACTIONS)
def test_unsupported_crossknowledge_actions_are_refused_by_name(tmp_path, action):
    path = write(
        tmp_path, f"<actions>\n{SESSION}<{action}><fields><x/></fields></{action}>\n</actions>"
    )
    assert errors_of(path) == [
        (
            f"{path}:{line_of(path, f'<{action}>')}: <{action}> is a CrossKnowledge action that session-import "
            "does not support."
        )
    ]


def test_an_unknown_action_gets_did_you_mean(tmp_path):
    path = write(
        tmp_path, "<actions>\n<createOrUpdateSesionAction/>\n<sendSessionsByFax/>\n</actions>"
    )
    assert errors_of(path) == [
        (
            f"{path}:2: unknown action <createOrUpdateSesionAction> in <actions>; "
            "did you mean <createOrUpdateSessionAction>?"
        ),
        (
            f"{path}:3: unknown action <sendSessionsByFax> in <actions>; expected one of "
            "<createOrUpdateSessionAction>, <createOrUpdateTrainingCourseAction>, "
            "<createOrUpdateLearnerAction>, <createOrUpdateEntityAction>."
        ),
    ]


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        (
            "<import-configs/>",
            (
                "unknown root element <import-configs>; did you mean <import-config>? "
                "A configuration's root is <import-config> or <actions>."
            ),
        ),
        (
            "<configuration/>",
            (
                "unknown root element <configuration>; a configuration's root is "
                "<import-config> or <actions>."
            ),
        ),
        (
            "<import/>",
            (
                "<import> must stand inside <import-config>; wrap it in "
                "<import-config>...</import-config>."
            ),
        ),
        (
            "<createOrUpdateSessionAction/>",
            (
                "<createOrUpdateSessionAction> must stand inside <actions>; wrap "
                "it in <actions>...</actions>."
            ),
        ),
        (
            "<registerLearnerAction/>",
            "<registerLearnerAction> is a CrossKnowledge action that session-import does not support.",
        ),
    ],
)
@pytest.mark.parametrize("fragments", [False, True])
def test_any_other_root_names_the_two_accepted_roots(tmp_path, root, expected, fragments):
    path = write(tmp_path, root)
    assert errors_of(path, fragments=fragments) == [f"{path}:1: {expected}"]


# ---- fragments ----


@pytest.mark.parametrize(
    "root",
    [
        "providers",
        "consolidators",
        "options",
        "fields",
        "columnsMapping",
        "preProcess",
        "postProcess",
        "parameters",
    ],
)
def test_a_fragment_is_not_a_configuration_to_run(tmp_path, root):
    path = write(tmp_path, f"<{root}/>")
    assert errors_of(path) == [
        (
            f"{path}:1: <{root}> is a fragment of an import configuration; a configuration's root is "
            "<import-config> or <actions>."
        )
    ]


@pytest.mark.parametrize(
    ("text", "home"),
    [
        (
            (
                "<providers><fileSystemSourceProvider><fileName>*.csv</fileName><path>in</path>"
                "<columnsMapping><candidateLogin/><ignoredColumn/></columnsMapping>"
                "</fileSystemSourceProvider></providers>"
            ),
            "inside an <import>, before its <actions>",
        ),
        (
            (
                "<consolidators><emailReport><targetEmail>a@example.org</targetEmail></emailReport>"
                "</consolidators>"
            ),
            "inside an <import>, after its <actions>",
        ),
        ("<options><fullAccess>yes</fullAccess></options>", "inside an action"),
        (
            "<options><traineeSearchField><candidateEmail/></traineeSearchField></options>",
            "inside an action",
        ),
        (
            "<options><sessionSearchField><sessionGuid/></sessionSearchField></options>",
            "inside an action",
        ),
        (
            "<fields><candidateLogin/><candidateName><mandatory>yes</mandatory></candidateName></fields>",
            "inside an action",
        ),
        ("<fields><hierarchyEntityName/><hierarchyEntityName/></fields>", "inside an action"),
        (
            "<columnsMapping><trainingAction><cancel>D</cancel></trainingAction><ignoredColumn/></columnsMapping>",
            "inside a <fileSystemSourceProvider>",
        ),
    ],
)
def test_check_validates_a_fragment_where_it_belongs(tmp_path, text, home):
    path = write(tmp_path, text)
    config = load_config(path, fragments=True)
    root = re.match(r"<(\w+)", text).group(1)
    assert (config.form, config.imports, config.fragment, config.path) == (
        "fragment",
        (),
        root,
        path,
    )
    (line,) = describe(config)
    assert line.startswith(f"{path}: a valid <{root}> fragment; it belongs {home}")


def test_a_fragments_case_warnings_are_kept(tmp_path):
    path = write(
        tmp_path, "<fields>\n<sessionAction/>\n<SessionTitle/>\n<teacherLogin/>\n</fields>"
    )
    config = load_config(path, fragments=True)
    assert config.warnings == (f"{path}:3: field <SessionTitle> read as <sessionTitle>.",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "<options>\n<fullAcess>yes</fullAcess>\n</options>",
            (":2: unknown option <fullAcess> in <options>; did you mean <fullAccess>?"),
        ),
        ("<options>\n<sessionSearchField/>\n</options>", ":2: <sessionSearchField> is empty; "),
        (
            "<fields>\n<sessionTitel/>\n</fields>",
            (":2: unknown field <sessionTitel> in <fields>; did you mean <sessionTitle>?"),
        ),
        ("<fields>\n<candidateName/>\n</fields>", ":1: the learner action needs at least one of"),
        (
            "<columnsMapping>\n<sesionGuid/>\n</columnsMapping>",
            (":2: unknown field <sesionGuid> in <columnsMapping>; did you mean <sessionGuid>?"),
        ),
        (
            "<providers>\n<fileSystemSourceProvider/>\n</providers>",
            (":2: <fileSystemSourceProvider> has no <fileName>;"),
        ),
        (
            "<consolidators>\n<timeStampedFileErrorLogger/>\n</consolidators>",
            ":2: The location parameter is missing.",
        ),
        (
            "<preProcess/>",
            ":1: <preProcess> is a CrossKnowledge pre-process that session-import does not support;",
        ),
        (
            "<postProcess/>",
            (
                ":1: <postProcess> is a CrossKnowledge post-process that session-import does not "
                "support;"
            ),
        ),
        (
            "<parameters/>",
            (
                ":1: <parameters> holds CrossKnowledge parameters that session-import does not "
                "support; remove it."
            ),
        ),
    ],
)
def test_an_invalid_fragment_is_reported_with_file_and_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    errors = errors_of(path, fragments=True)
    assert any(e.startswith(f"{path}{expected}") for e in errors), errors


def test_fields_of_two_actions_are_not_one_valid_fragment(tmp_path):
    path = write(
        tmp_path,
        "<fields>\n<sessionAction/><sessionTitle/><teacherLogin/>\n<candidateLogin/>\n</fields>",
    )
    (error,) = errors_of(path, fragments=True)
    assert error.startswith(
        f"{path}:3: unknown field <candidateLogin> in <fields>; expected one of <sessionAction>, "
    )


# ---- actions and their options ----


def test_an_option_written_directly_under_the_action_belongs_inside_options(tmp_path):
    path = write(
        tmp_path,
        """
        <actions>
          <createOrUpdateSessionAction>
            <fullAccess>yes</fullAccess>
            <sessionSearchField><sessionTitle/></sessionSearchField>
            <fields><sessionAction/><sessionTitle/><teacherLogin/></fields>
          </createOrUpdateSessionAction>
        </actions>
        """,
    )
    assert errors_of(path) == [
        (
            f"{path}:2: <createOrUpdateSessionAction> has no <sessionSearchField> in <options>; add one naming the "
            "fields that find an existing session (sessionGuid, sessionTitle, sessionId, sessionStartDate, "
            "sessionEndDate)."
        ),
        f"{path}:3: <fullAccess> belongs inside <options>; move it there.",
        f"{path}:4: <sessionSearchField> belongs inside <options>; move it there.",
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            "",
            ":3: <createOrUpdateSessionAction> has no <sessionSearchField> in <options>; add one naming",
        ),
        (
            "<sessionSearchField/>",
            (
                ":3: <sessionSearchField> is empty; name the fields that find an existing "
                "record (sessionGuid, sessionTitle, sessionId, sessionStartDate, sessionEndDate)."
            ),
        ),
        (
            "<sessionSearchField><sessionGuid/></sessionSearchField>",
            ":3: search field <sessionGuid> is not in <fields>; add it to <fields>.",
        ),
        (
            "<sessionSearchField><sesionTitle/></sessionSearchField>",
            ":3: unknown field <sesionTitle> in <sessionSearchField>; did you mean <sessionTitle>?",
        ),
        (
            "<sessionSearchField><teacherLogin/></sessionSearchField>",
            (
                ":3: field <teacherLogin> cannot be used in <sessionSearchField>; name one or more of <sessionGuid>, "
                "<sessionTitle>, <sessionId>, <sessionStartDate>, <sessionEndDate>."
            ),
        ),
        (
            "<sessionSearchField><sessionTitle/><sessionTitle/></sessionSearchField>",
            ":3: field <sessionTitle> is listed twice in <sessionSearchField> (first on line 3); keep one.",
        ),
        (
            "<sessionSearchField><sessionTitle>yes</sessionTitle></sessionSearchField>",
            ":3: <sessionTitle> takes no value; write it empty: <sessionTitle/>.",
        ),
        (
            (
                "<sessionSearchField><sessionTitle/></sessionSearchField><sessionSearchField><sessionTitle/>"
                "</sessionSearchField>"
            ),
            ":3: <sessionSearchField> appears twice in <options> (first on line 3); keep one.",
        ),
        (
            (
                "<sessionSearchField><sessionTitle/></sessionSearchField><fullAccess>yes</fullAccess>"
                "<fullAccess>no</fullAccess>"
            ),
            ":3: <fullAccess> appears twice in <options> (first on line 3); keep one.",
        ),
        (
            (
                "<sessionSearchField><sessionTitle/></sessionSearchField><traineeSearchField><candidateLogin/>"
                "</traineeSearchField>"
            ),
            (
                ":3: <traineeSearchField> is an option of <createOrUpdateLearnerAction>, not of "
                "<createOrUpdateSessionAction>; remove it."
            ),
        ),
        (
            "<sessionSearchField><sessionTitle/></sessionSearchField><fullAcces>no</fullAcces>",
            ":3: unknown option <fullAcces> in <options>; did you mean <fullAccess>?",
        ),
        (
            "<sessionSearchField><custom/></sessionSearchField>",
            ":3: <custom> is a CrossKnowledge field that session-import does not support; remove it.",
        ),
    ],
)
def test_session_options(tmp_path, options, expected):
    path = write(tmp_path, bare(options=options))
    errors = errors_of(path)
    assert any(e.startswith(f"{path}{expected}") for e in errors), errors


def test_session_action_without_options_needs_a_search_field(tmp_path):
    path = write(
        tmp_path,
        """
        <actions>
          <createOrUpdateSessionAction>
            <fields><sessionAction/><sessionTitle/><teacherLogin/></fields>
          </createOrUpdateSessionAction>
        </actions>
        """,
    )
    (error,) = errors_of(path)
    assert error.startswith(
        f"{path}:2: <createOrUpdateSessionAction> has no <sessionSearchField> in <options>"
    )


def test_search_fields_are_matched_jointly_in_written_order_and_by_case(tmp_path):
    options = "<sessionSearchField><sessionID/><sessionTitle/></sessionSearchField>"
    fields = "<sessionAction/><sessionTitle/><teacherLogin/><sessionId/>"
    path = write(tmp_path, bare(options=options, fields=fields))
    config = load_config(path)
    assert config.imports[0].actions[0].search_fields == ("sessionId", "sessionTitle")
    assert config.warnings == (f"{path}:3: field <sessionID> read as <sessionId>.",)


@pytest.mark.parametrize("option", ["defaultEntityId", "defaultLangCode", "trainingSearchField"])
def test_crossknowledge_options_that_are_not_implemented_are_refused_by_name(tmp_path, option):
    options = f"<sessionSearchField><sessionTitle/></sessionSearchField><{option}>1</{option}>"
    path = write(tmp_path, bare(options=options))
    assert errors_of(path) == [
        f"{path}:3: <{option}> is a CrossKnowledge option that session-import does not support; remove it."
    ]


def test_full_access_defaults_to_no(tmp_path):
    path = write(tmp_path, bare())
    assert load_config(path).imports[0].actions[0].full_access is False


@pytest.mark.parametrize(
    ("fields", "search"),
    [
        ("<candidateName/><candidateEmail/><candidateRefNumber/>", ("candidateRefNumber",)),
        ("<candidateEmail/><candidateLogin/>", ("candidateLogin",)),
        ("<candidateEmail/>", ("candidateEmail",)),
    ],
)
def test_learner_search_defaults_to_the_first_configured_key(tmp_path, fields, search):
    path = write(
        tmp_path,
        f"<actions><createOrUpdateLearnerAction><fields>{fields}</fields>"
        "</createOrUpdateLearnerAction></actions>",
    )
    assert load_config(path).imports[0].actions[0].search_fields == search


def test_learner_options_and_keys(tmp_path):
    path = write(
        tmp_path,
        """
        <actions><createOrUpdateLearnerAction>
          <options><traineeSearchField><candidateEmail/><candidateRefNumber/></traineeSearchField>
                   <fullAccess>yes</fullAccess></options>
          <fields><candidateLogin/><candidateEmail/><candidateRefNumber/><candidateFirstname/></fields>
        </createOrUpdateLearnerAction></actions>
        """,
    )
    (action,) = load_config(path).imports[0].actions
    assert (action.search_fields, action.full_access) == (
        ("candidateEmail", "candidateRefNumber"),
        True,
    )
    bad = write(
        tmp_path,
        """
        <actions><createOrUpdateLearnerAction>
          <options><traineeSearchField><candidateLogin/></traineeSearchField></options>
          <fields><candidateName/><candidateFirstname/></fields>
        </createOrUpdateLearnerAction></actions>
        """,
        "bad.xml",
    )
    assert errors_of(bad) == [
        f"{bad}:2: search field <candidateLogin> is not in <fields>; add it to <fields>.",
        (
            f"{bad}:3: the learner action needs at least one of <candidateLogin>, <candidateRefNumber>, "
            "<candidateEmail> in <fields>; add one."
        ),
    ]


def test_entity_action_repeats_its_level_field(tmp_path):
    path = write(
        tmp_path,
        """
        <actions><createOrUpdateEntityAction>
          <fields><hierarchyEntityName/><ignoredColumn/><hierarchyEntityName/><hierarchyEntityName/></fields>
        </createOrUpdateEntityAction></actions>
        """,
    )
    (action,) = load_config(path).imports[0].actions
    assert action.field_names == (
        "hierarchyEntityName",
        "ignoredColumn",
        "hierarchyEntityName",
        "hierarchyEntityName",
    )
    assert action.search_fields == () and action.full_access is False
    bad = write(
        tmp_path,
        """
        <actions><createOrUpdateEntityAction>
          <fields><ignoredColumn/></fields>
        </createOrUpdateEntityAction></actions>
        """,
        "bad.xml",
    )
    assert errors_of(bad) == [
        f"{bad}:2: <fields> needs at least one <hierarchyEntityName/>; add one per level of the hierarchy."
    ]


def test_training_action_fields_and_codes(tmp_path):
    path = write(
        tmp_path,
        """
        <actions><createOrUpdateTrainingCourseAction>
          <options><fullAccess>no</fullAccess></options>
          <fields><trainingAction><cancel>D</cancel></trainingAction><trainingPathCode/><trainingTitle/>
            <trainingModality><mandatory>no</mandatory></trainingModality><trainingLocale/></fields>
        </createOrUpdateTrainingCourseAction></actions>
        """,
    )
    (action,) = load_config(path).imports[0].actions
    assert action.field("trainingAction").codes == {"m": "createUpdate", "d": "cancel"}
    assert action.field("trainingModality").mandatory is False
    assert action.field("trainingTitle").codes is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "<options><sessionSearchField><sessionTitle/></sessionSearchField></options>",
            ":1: <createOrUpdateSessionAction> has no <fields>; list the columns the action reads.",
        ),
        (
            "<options><sessionSearchField><sessionTitle/></sessionSearchField></options><fields/>",
            ":1: <fields> is empty; list the columns the action reads.",
        ),
        (
            (
                "<options><sessionSearchField><sessionTitle/></sessionSearchField></options><fields><sessionTitle/>"
                "<sessionAction/><teacherLogin/></fields><fields><sessionTitle/></fields>"
            ),
            ":1: <fields> appears twice in <createOrUpdateSessionAction> (first on line 1); keep one.",
        ),
        (
            (
                "<options><sessionSearchField><sessionTitle/></sessionSearchField></options><options/>"
                "<fields><sessionTitle/><sessionAction/><teacherLogin/></fields>"
            ),
            ":1: <options> appears twice in <createOrUpdateSessionAction> (first on line 1); keep one.",
        ),
        (
            "<option/><fields><sessionTitle/></fields>",
            ":1: unknown element <option> in <createOrUpdateSessionAction>; did you mean <options>?",
        ),
    ],
)
def test_action_structure(tmp_path, body, expected):
    path = write(
        tmp_path,
        f"<actions><createOrUpdateSessionAction>{body}</createOrUpdateSessionAction></actions>",
    )
    assert f"{path}{expected}" in errors_of(path), errors_of(path)


# ---- fields ----


def test_a_field_in_another_case_is_read_with_a_warning(tmp_path):
    path = write(tmp_path, bare(fields="<SESSIONACTION/><sessionTitle/><TeacherLogin/>"))
    config = load_config(path)
    assert config.imports[0].actions[0].field_names == (
        "sessionAction",
        "sessionTitle",
        "teacherLogin",
    )
    assert config.warnings == (
        f"{path}:4: field <SESSIONACTION> read as <sessionAction>.",
        f"{path}:4: field <TeacherLogin> read as <teacherLogin>.",
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><sessionTitle/>",
            ":4: field <sessionTitle> is listed twice in <fields> (first on line 4); keep one.",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><SessionTitle/>",
            ":4: field <sessionTitle> is listed twice in <fields> (first on line 4); keep one.",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><trainingCode/>",
            ":4: unknown field <trainingCode> in <fields>; did you mean <trainingPathCode>?",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><candidateValidity/>",
            (
                ":4: <candidateValidity> is a CrossKnowledge field that session-import does not support; remove it "
                "(an <ignoredColumn/> keeps a column's place)."
            ),
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin><mandatory>maybe</mandatory></teacherLogin>",
            ':4: <mandatory> is "maybe"; write yes or no.',
        ),
        (
            (
                "<sessionAction/><sessionTitle/><teacherLogin><mandatory>no</mandatory><mandatory>no</mandatory>"
                "</teacherLogin>"
            ),
            ":4: <mandatory> appears twice in <teacherLogin> (first on line 4); keep one.",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin><mandatry>no</mandatry></teacherLogin>",
            ":4: unknown element <mandatry> in <teacherLogin>; did you mean <mandatory>?",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><ignoredColumn>x</ignoredColumn>",
            ":4: <ignoredColumn> takes no value; write it empty: <ignoredColumn/>.",
        ),
    ],
)
def test_field_errors(tmp_path, fields, expected):
    path = write(tmp_path, bare(fields=fields))
    assert f"{path}{expected}" in errors_of(path), errors_of(path)


def test_mandatory_overrides_the_schemas_default(tmp_path):
    fields = """<sessionAction><mandatory>no</mandatory></sessionAction><sessionTitle/>
        <teacherLogin><mandatory> No </mandatory></teacherLogin><sessionGuid><mandatory>YES</mandatory></sessionGuid>
        <ignoredColumn/><trainingId/>"""
    path = write(tmp_path, bare(fields=fields))
    specs = {
        f.name: (f.mandatory, f.mandatory_explicit)
        for f in load_config(path).imports[0].actions[0].fields
    }
    assert specs == {
        "sessionAction": (False, True),
        "sessionTitle": (True, False),
        "teacherLogin": (False, True),
        "sessionGuid": (True, True),
        "ignoredColumn": (False, False),
        "trainingId": (False, False),
    }


# ---- code lists ----


def codes_of(
    tmp_path, fields: str, mapping: str | None = None, name: str = "sessionAction"
) -> dict:
    columns = "" if mapping is None else provider(f"<columnsMapping>{mapping}</columnsMapping>")
    actions = f"""<createOrUpdateSessionAction>
      <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
      <fields>{fields}<sessionTitle/><teacherLogin/></fields></createOrUpdateSessionAction>"""
    config = load_config(write(tmp_path, full(columns, actions=actions)))
    return config.imports[0].actions[0].field(name).codes


def test_code_lists_default_to_the_schemas_codes(tmp_path):
    assert codes_of(tmp_path, "<sessionAction/>") == {"m": "createUpdate", "a": "cancel"}
    assert codes_of(tmp_path, "<sessionAction/><sessionStatus/>", name="sessionStatus") == {
        "open": "open",
        "closed": "closed",
    }
    assert codes_of(tmp_path, "<sessionAction/>", name="sessionTitle") is None


def test_codes_are_stripped_and_casefolded(tmp_path):
    fields = "<sessionAction><createUpdate> Create </createUpdate><cancel>STRASSE</cancel></sessionAction>"
    assert codes_of(tmp_path, fields) == {"create": "createUpdate", "strasse": "cancel"}


def test_overriding_one_meaning_keeps_the_default_of_the_other(tmp_path):
    assert codes_of(tmp_path, "<sessionAction><cancel>D</cancel></sessionAction>") == {
        "m": "createUpdate",
        "d": "cancel",
    }
    status = "<sessionAction/><sessionStatus><closed>F</closed></sessionStatus>"
    assert codes_of(tmp_path, status, name="sessionStatus") == {"open": "open", "f": "closed"}


def test_codes_in_fields_win_over_columns_mapping_which_win_over_the_defaults(tmp_path):
    mapping = (
        "<sessionAction><createUpdate>C</createUpdate><cancel>X</cancel></sessionAction>"
        "<sessionStatus><open>1</open><closed>0</closed></sessionStatus><sessionTitle/><teacherLogin/>"
    )
    fields = "<sessionAction><cancel>D</cancel></sessionAction><sessionStatus/>"
    assert codes_of(tmp_path, fields, mapping) == {"c": "createUpdate", "d": "cancel"}
    assert codes_of(tmp_path, fields, mapping, "sessionStatus") == {"1": "open", "0": "closed"}
    # a column written in another case still brings its codes
    other_case = "<SessionAction><cancel>X</cancel></SessionAction><sessionTitle/><teacherLogin/>"
    assert codes_of(tmp_path, "<sessionAction/>", other_case) == {
        "m": "createUpdate",
        "x": "cancel",
    }


@pytest.mark.parametrize(
    ("fields", "mapping", "expected"),
    [
        (
            "<sessionAction><cancel/></sessionAction>",
            None,
            "<cancel> is empty; write the code the file uses for it.",
        ),
        (
            "<sessionAction><cancel>  </cancel></sessionAction>",
            None,
            "<cancel> is empty; write the code the file uses for it.",
        ),
        (
            "<sessionAction><createUpdate>X</createUpdate><cancel>x</cancel></sessionAction>",
            None,
            "the code 'x' of <sessionAction> means both createUpdate and cancel; give each its own code.",
        ),
        (
            "<sessionAction><createUpdate>a</createUpdate></sessionAction>",
            None,
            "the code 'A' of <sessionAction> means both createUpdate and cancel; give each its own code.",
        ),
        (
            "<sessionAction/>",
            "<sessionAction><cancel>m</cancel></sessionAction><sessionTitle/><teacherLogin/>",
            "the code 'm' of <sessionAction> means both createUpdate and cancel; give each its own code.",
        ),
        (
            "<sessionAction><canel>D</canel></sessionAction>",
            None,
            "unknown element <canel> in <sessionAction>; did you mean <cancel>?",
        ),
        (
            "<sessionAction/>",
            (
                "<sessionAction><mandatory>no</mandatory></sessionAction><sessionTitle/>"
                "<teacherLogin/>"
            ),
            "unknown element <mandatory> in <sessionAction>; expected one of <createUpdate>, <cancel>.",
        ),
        (
            "<sessionAction/>",
            "<sessionTitle><open>o</open></sessionTitle><sessionAction/><teacherLogin/>",
            "<sessionTitle> takes no elements; remove <open>.",
        ),
        (
            "<sessionAction><cancel>D</cancel><cancel>E</cancel></sessionAction>",
            None,
            "<cancel> appears twice in <sessionAction>",
        ),
    ],
)
def test_code_errors(tmp_path, fields, mapping, expected):
    columns = "" if mapping is None else provider(f"<columnsMapping>{mapping}</columnsMapping>")
    actions = f"""<createOrUpdateSessionAction>
      <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
      <fields>{fields}<sessionTitle/><teacherLogin/></fields></createOrUpdateSessionAction>"""
    path = write(tmp_path, full(columns, actions=actions))
    errors = errors_of(path)
    assert len([e for e in errors if expected in e]) == 1, errors
    assert all(e.startswith(f"{path}:") for e in errors)


# ---- the provider ----


def test_provider_defaults(tmp_path):
    path = write(tmp_path, full(provider("")))
    p = load_config(path).imports[0].provider
    assert (
        p.file_name,
        p.path,
        p.skip_first_line,
        p.columns_mapping,
        p.encoding,
        p.delimiter,
        p.sheet_name,
        p.timezone,
        p.date_format,
        p.line,
    ) == ("x.csv", tmp_path, True, None, "utf-8", ";", None, None, "YYYY-MM-DD", 2)


@pytest.mark.parametrize(
    ("written", "character"),
    [
        ("semicolon", ";"),
        ("comma", ","),
        ("pipe", "|"),
        ("tab", "\t"),
        ("tabulation", "\t"),
        (" Comma ", ","),
    ],
)
def test_delimiter_names(tmp_path, written, character):
    path = write(tmp_path, full(provider(f"<delimiter>{written}</delimiter>")))
    assert load_config(path).imports[0].provider.delimiter == character


def test_relative_paths_resolve_against_the_config_folder_never_the_cwd(tmp_path, monkeypatch):
    conf = tmp_path / "etc" / "imports"
    conf.mkdir(parents=True)
    consolidators = (
        "<consolidators><timeStampedFileErrorLogger><location>logs/errors</location>"
        "</timeStampedFileErrorLogger><moveToBackupConsolidator><backupFolder>./done</backupFolder>"
        "</moveToBackupConsolidator></consolidators>"
    )
    write(conf, full(provider("<path>incoming</path>"), consolidators), "nightly.xml")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    (imp,) = load_config("../../etc/imports/nightly.xml").imports
    assert imp.provider.path == conf / "incoming"
    assert imp.provider.path.is_absolute()
    logger, backup = imp.consolidators
    assert logger.options["location"] == (str(conf / "logs" / "errors"),)
    assert backup.options["backupFolder"] == (str(conf / "done"),)


def test_an_absolute_path_is_kept(tmp_path):
    target = tmp_path / "data"
    path = write(tmp_path / "", full(provider(f"<path>{target}</path>")))
    assert load_config(path).imports[0].provider.path == target


@pytest.mark.parametrize(
    "option",
    [
        "<path>../elsewhere</path>",
        "<path>in/../../etc</path>",
        "<path>..</path>",
    ],
)
def test_dot_dot_in_a_path_is_refused(tmp_path, option):
    path = write(tmp_path, full(provider(option)))
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:2: String '..' is forbidden in file path; ")


def test_dot_dot_in_a_file_name_is_refused(tmp_path):
    path = write(tmp_path, full(provider("", "<fileName>../x.csv</fileName>")))
    assert errors_of(path) == [
        f"{path}:2: String '..' is forbidden in file path; name the folder in <path>."
    ]


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (
            "<delimiter>semicolumn</delimiter>",
            "unknown delimiter 'semicolumn'; did you mean semicolon?",
        ),
        ("<delimiter>;</delimiter>", "unknown delimiter ';'; write semicolon, comma, pipe or tab."),
        (
            "<delimiter/>",
            "<delimiter> is empty; write semicolon, comma, pipe or tab, or remove it for semicolon.",
        ),
        (
            "<fileEncoding>latin-42</fileEncoding>",
            "unknown encoding 'latin-42' in <fileEncoding>; write one such as UTF-8, ISO-8859-1 or windows-1252.",
        ),
        (
            "<timezone>Europe/Pariss</timezone>",
            "unknown time zone 'Europe/Pariss' in <timezone>; did you mean Europe/Paris?",
        ),
        (
            "<timezone>Nowhere</timezone>",
            "unknown time zone 'Nowhere' in <timezone>; write an IANA zone such as Europe/Paris.",
        ),
        (
            "<timezone>../../etc/passwd</timezone>",
            "unknown time zone '../../etc/passwd' in <timezone>; ",
        ),
        ("<skipFirstLine>oui</skipFirstLine>", '<skipFirstLine> is "oui"; write yes or no.'),
        (
            "<autoDetectLineEndings>auto</autoDetectLineEndings>",
            '<autoDetectLineEndings> is "auto"; write yes or no.',
        ),
        (
            "<sheetName/>",
            "<sheetName> is empty; write the sheet's name, or remove it for the first sheet.",
        ),
        (
            "<path> </path>",
            (
                "<path> is empty; write the folder of the files, or remove it for the configuration's "
                "folder."
            ),
        ),
        (
            "<fileEncoding>utf-8</fileEncoding><fileEncoding>latin-1</fileEncoding>",
            "<fileEncoding> appears twice in <fileSystemSourceProvider> (first on line 2); keep one.",
        ),
        (
            "<filename>y.csv</filename>",
            ("unknown option <filename> in <fileSystemSourceProvider>; did you mean <fileName>?"),
        ),
        (
            "<sftpPassword>hunter2</sftpPassword>",
            "<sftpPassword> is a CrossKnowledge option that session-import does not support; remove it.",
        ),
        (
            "<sftpHost>h</sftpHost>",
            "<sftpHost> is a CrossKnowledge option that session-import does not support;",
        ),
        (
            "<sftpLogin>l</sftpLogin>",
            "<sftpLogin> is a CrossKnowledge option that session-import does not support;",
        ),
        (
            "<sftpFolder>/f</sftpFolder>",
            "<sftpFolder> is a CrossKnowledge option that session-import does not support;",
        ),
    ],
)
def test_provider_errors(tmp_path, option, expected):
    path = write(tmp_path, full(provider(option)))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(e.startswith(f"{path}:2: {expected}") for e in info.value.errors), info.value.errors
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        (
            "",
            "<fileSystemSourceProvider> has no <fileName>; add the file name or a glob such as sessions_*.csv.",
        ),
        (
            "<fileName/>",
            "<fileName> is empty; write the file name or a glob such as sessions_*.csv.",
        ),
        (
            "<fileName>/var/drop/x.csv</fileName>",
            "<fileName> /var/drop/x.csv is an absolute path; put the folder in <path> and the name in <fileName>.",
        ),
    ],
)
def test_file_name_is_mandatory_and_relative(tmp_path, file_name, expected):
    path = write(tmp_path, full(provider("", file_name)))
    assert errors_of(path) == [f"{path}:2: {expected}"]


@pytest.mark.parametrize("zone", ["Europe/Paris", "UTC", "America/Argentina/Buenos_Aires"])
def test_timezone_is_an_iana_zone(tmp_path, zone):
    path = write(tmp_path, full(provider(f"<timezone>{zone}</timezone>")))
    assert load_config(path).imports[0].provider.timezone == zone


@pytest.mark.parametrize(
    "text", ["DD/MM/YYYY at HH", "YYYY-MM-DDTHH:II", "%Y-%m-%d", "YYYY–MM–DD", "DD.MM.YYYY à HH"]
)
def test_date_format_characters_word_for_word(tmp_path, text):
    path = write(tmp_path, full(provider(f"<dateFormat>{text}</dateFormat>")))
    assert errors_of(path) == [
        (
            f"{path}:2: the given date format {text} is not valid. It should only contain the following "
            "characters (case insensitive): 'YMDHIS /_.:;,-'"
        )
    ]


@pytest.mark.parametrize(
    "text", ["DD/MM/YYYY", "yyyy-mm-dd", "DD.MM.YYYY HH:II:SS", "YYYYMMDD", "MM/DD/YYYY hh:ii"]
)
def test_usable_date_formats(tmp_path, text):
    path = write(tmp_path, full(provider(f"<dateFormat>{text}</dateFormat>")))
    assert load_config(path).imports[0].provider.date_format == text


@pytest.mark.parametrize("text", ["YY-MM-DD", "DD/MM", "YYYY-MM-DD-DD", "YYYY-MM-DD II"])
def test_allowed_characters_that_make_no_date_are_refused_by_the_date_rules(tmp_path, text):
    path = write(tmp_path, full(provider(f"<dateFormat>{text}</dateFormat>")))
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:2: ")
    assert text in error and "is not valid. It should only contain" not in error
    assert error.endswith("; write it with YYYY, MM, DD and optionally HH, II, SS.")


# ---- columnsMapping ----


def test_columns_mapping_in_file_order_with_ignored_columns(tmp_path):
    mapping = """<columnsMapping>
      <ignoredColumn/>
      <SessionTitle/>
      <sessionAction/>
      <ignoredColumn/>
      <teacherLogin/>
    </columnsMapping>"""
    path = write(tmp_path, full(provider(mapping)))
    config = load_config(path)
    columns = config.imports[0].provider.columns_mapping
    assert [(c.name, c.line) for c in columns] == [
        (None, 3),
        ("sessionTitle", 4),
        ("sessionAction", 5),
        (None, 6),
        ("teacherLogin", 7),
    ]
    assert config.warnings == (f"{path}:4: field <SessionTitle> read as <sessionTitle>.",)


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (
            "<sessionTitle/><teacherLogin/>",
            (
                ":2: mandatory field <sessionAction> is not in <columnsMapping>; add a column for it or make it "
                "<mandatory>no</mandatory>."
            ),
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><sessionTitel/>",
            ":2: unknown field <sessionTitel> in <columnsMapping>; did you mean <sessionTitle>?",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><candidateEmail/>",
            ":2: unknown field <candidateEmail> in <columnsMapping>; expected one of <sessionAction>, ",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><sessionTitle/>",
            ":2: field <sessionTitle> is mapped twice in <columnsMapping> (first on line 2); keep one.",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><ignoredColumn name='x'/>",
            ":2: unknown attribute name= on <ignoredColumn>; remove it.",
        ),
        (
            "<sessionAction/><sessionTitle/><teacherLogin/><registerFlag/>",
            (
                ":2: <registerFlag> is a CrossKnowledge field that session-import does not support; remove it "
                "(an <ignoredColumn/> keeps a column's place)."
            ),
        ),
        ("", ":2: <columnsMapping> is empty; list the file's columns in order."),
    ],
)
def test_columns_mapping_errors(tmp_path, mapping, expected):
    path = write(tmp_path, full(provider(f"<columnsMapping>{mapping}</columnsMapping>")))
    assert f"{path}{expected}" in "\n".join(errors_of(path)), errors_of(path)


def test_a_mandatory_field_made_optional_need_not_be_mapped(tmp_path):
    actions = """<createOrUpdateSessionAction>
      <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
      <fields><sessionAction><mandatory>no</mandatory></sessionAction><sessionTitle/><teacherLogin/></fields>
      </createOrUpdateSessionAction>"""
    mapping = "<columnsMapping><sessionTitle/><teacherLogin/></columnsMapping>"
    path = write(tmp_path, full(provider(mapping), actions=actions))
    assert [c.name for c in load_config(path).imports[0].provider.columns_mapping] == [
        "sessionTitle",
        "teacherLogin",
    ]


def test_columns_may_name_fields_of_any_of_the_imports_actions(tmp_path):
    actions = (
        SESSION
        + """<createOrUpdateLearnerAction><fields><candidateLogin/></fields>
        </createOrUpdateLearnerAction>"""
    )
    mapping = (
        "<columnsMapping><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/>"
        "<candidateLogin/></columnsMapping>"
    )
    path = write(tmp_path, full(provider(mapping), actions=actions))
    assert load_config(path).imports[0].provider.columns_mapping[-1].name == "candidateLogin"


# ---- consolidators and safety ----


@pytest.mark.parametrize(
    ("consolidator", "expected"),
    [
        ("<timeStampedFileErrorLogger/>", "The location parameter is missing."),
        (
            "<timeStampedFileErrorLogger><location/></timeStampedFileErrorLogger>",
            "The location parameter is missing.",
        ),
        (
            "<moveToBackupConsolidator><timestamp>yes</timestamp></moveToBackupConsolidator>",
            "The backupFolder parameter is missing.",
        ),
        ("<emailReport/>", "The targetEmail parameter is missing."),
        (
            "<emailReport><targetEmail>not-an-address</targetEmail></emailReport>",
            "The targetEmail parameter is an invalid email: not-an-address",
        ),
        (
            "<emailReport><targetEmail>a@b.org</targetEmail><targetEmail>x@localhost</targetEmail></emailReport>",
            "The targetEmail parameter is an invalid email: x@localhost",
        ),
        (
            "<emailReport><targetEmail>two@a.org, three@b.org</targetEmail></emailReport>",
            "The targetEmail parameter is an invalid email: two@a.org, three@b.org",
        ),
        (
            (
                "<emailReport><targetEmail>a@b.org</targetEmail><includeDownloadLink>yes</includeDownloadLink>"
                "</emailReport>"
            ),
            "<includeDownloadLink> is a CrossKnowledge option that session-import does not support; remove it.",
        ),
        (
            "<timeLogger/>",
            "<timeLogger> is a CrossKnowledge consolidator that session-import does not support.",
        ),
        (
            "<removeFromSFTP><sftpPassword>hunter2</sftpPassword></removeFromSFTP>",
            "<removeFromSFTP> is a CrossKnowledge consolidator that session-import does not support.",
        ),
        (
            "<deleteProcessedFilesConsolidator/><deleteProcessedFilesConsolidator/>",
            (
                "<deleteProcessedFilesConsolidator> appears twice in <consolidators> (first on line 3); keep one: each "
                "consolidator runs at most once per import."
            ),
        ),
        (
            "<moveToBackupConsolidator><backupFolder>../up</backupFolder></moveToBackupConsolidator>",
            "String '..' is forbidden in file path; ",
        ),
        (
            "<timeStampedFileErrorLogger><location>logs/../../x</location></timeStampedFileErrorLogger>",
            "String '..' is forbidden in file path; ",
        ),
        (
            (
                "<moveToBackupConsolidator><backupFolder>b</backupFolder><timestamp>often</timestamp>"
                "</moveToBackupConsolidator>"
            ),
            '<timestamp> is "often"; write yes or no.',
        ),
        (
            "<deleteProcessedFilesConsolidator><disabled>perhaps</disabled></deleteProcessedFilesConsolidator>",
            '<disabled> is "perhaps"; write yes or no.',
        ),
        (
            "<timeStampedFileErrorLogger><locaton>logs</locaton></timeStampedFileErrorLogger>",
            "unknown option <locaton> in <timeStampedFileErrorLogger>; did you mean <location>?",
        ),
        (
            "<timeStampedFileErrorLogger><location>a</location><location>b</location></timeStampedFileErrorLogger>",
            "<location> appears twice in <timeStampedFileErrorLogger> (first on line 3); keep one.",
        ),
        (
            "<emailReports/>",
            "unknown consolidator <emailReports> in <consolidators>; did you mean <emailReport>?",
        ),
    ],
)
def test_consolidator_errors(tmp_path, consolidator, expected):
    path = write(tmp_path, full(extra=f"\n<consolidators>{consolidator}</consolidators>"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(e.startswith(f"{path}:3: {expected}") for e in info.value.errors), info.value.errors
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "address",
    [
        "a@example.org",
        "first.last+tag@mail.example.co.uk",
        "x_y@sub-domain.example",
        "élise@exemple.fr",
    ],
)
def test_plausible_email_addresses(tmp_path, address):
    consolidators = f"<consolidators><emailReport><targetEmail> {address} </targetEmail></emailReport></consolidators>"
    (email,) = load_config(write(tmp_path, full(extra=consolidators))).imports[0].consolidators
    assert email.options == {"targetEmail": (address,)}


def test_consolidators_run_in_crossknowledges_order_whatever_the_files_order(tmp_path):
    consolidators = """<consolidators>
        <emailReport><disabled>No</disabled><targetEmail>a@example.org</targetEmail></emailReport>
        <deleteProcessedFilesConsolidator/>
        <moveToBackupConsolidator><timestamp>YES</timestamp><backupFolder>/srv/backup</backupFolder>
        </moveToBackupConsolidator>
      </consolidators>"""
    (imp,) = load_config(write(tmp_path, full(extra=consolidators))).imports
    assert [(c.name, c.disabled) for c in imp.consolidators] == [
        ("moveToBackupConsolidator", False),
        ("emailReport", False),
        ("deleteProcessedFilesConsolidator", False),
    ]
    backup = imp.consolidators[0]
    assert backup.options == {"backupFolder": ("/srv/backup",), "timestamp": ("yes",)}
    assert backup.line == 5
    assert imp.consolidators[2].options == {}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0", True),
        ("10", True),
        (" 25 ", True),
        ("0%", True),
        ("5%", True),
        ("12.5%", True),
        ("100%", True),
        ("101%", False),
        ("-1", False),
        ("5.5", False),
        ("lots", False),
        ("%", False),
        ("", False),
        ("10 rows", False),
    ],
)
def test_safety_limits(tmp_path, value, ok):
    safety = f"<safety><maxRejects>{value}</maxRejects><maxCancel>{value}</maxCancel></safety>"
    path = write(tmp_path, full(extra=safety))
    if ok:
        s = load_config(path).imports[0].safety
        assert (s.max_rejects, s.max_cancel) == (value.strip(), value.strip())
    else:
        errors = errors_of(path)
        assert len(errors) == 2
        assert errors[0].startswith(f"{path}:2: <maxRejects> is ")
        assert errors[1].startswith(f"{path}:2: <maxCancel> is ")
        assert all(
            e.endswith("; write a count such as 10 or a percentage from 0 to 100 such as 5%.")
            for e in errors
        )


def test_safety_structure(tmp_path):
    path = write(
        tmp_path,
        full(
            extra="<safety><maxReject>5</maxReject><maxCancel>1</maxCancel>"
            "<maxCancel>2</maxCancel></safety>"
        ),
    )
    assert errors_of(path) == [
        f"{path}:2: unknown option <maxReject> in <safety>; did you mean <maxRejects>?",
        f"{path}:2: <maxCancel> appears twice in <safety> (first on line 2); keep one.",
    ]


# ---- describe, for `check` ----


def test_describe_says_what_each_import_reads_and_does(tmp_path):
    path = write(tmp_path, (CONFIGS / "every-option.xml").read_text(), "every-option.xml")
    lines = describe(load_config(path))
    text = "\n".join(lines)
    assert lines[0] == f"{path}: 2 import(s), full form"
    assert "import nightly (line 4)" in lines
    assert f"  reads: sessions_*.csv in {tmp_path / 'drop' / 'in'} (in name order)" in lines
    assert (
        "  format: tab, ISO-8859-1, no header line, dates DD/MM/YYYY HH:II in Europe/Paris, sheet Sessions"
        in lines
    )
    assert (
        "  columns by position: sessionAction, (ignored), trainingPathCode, sessionTitle, teacherLogin, "
        "sessionStatus" in lines
    )
    assert (
        "  createOrUpdateSessionAction (line 27): fields sessionAction*, trainingPathCode, sessionTitle*, "
        "teacherLogin*, sessionStatus (* mandatory)"
    ) in lines
    assert "    finds existing records by sessionTitle" in lines
    assert "    may change any record, whoever created it (fullAccess yes)" in lines
    assert "    sessionAction codes: 'C' = createUpdate, 'A' = cancel" in lines
    assert f"  then timeStampedFileErrorLogger: location {tmp_path / 'logs'}" in lines
    assert "  then deleteProcessedFilesConsolidator (disabled)" in lines
    assert "  safety: max rejects 5%, max cancel 10" in lines
    assert "import teachers (line 52)" in lines
    assert "  reads: the data files given on the command line" in lines
    assert "    changes only what import teachers created (fullAccess no)" in lines
    assert "    finds existing records by candidateLogin" in lines
    assert text.count("format:") == 2


def test_describe_a_bare_configuration(tmp_path):
    lines = describe(load_config(write(tmp_path, bare())))
    assert lines[2:5] == [
        "  reads: the data files given on the command line",
        "  format: detected among ; , | TAB, utf-8, first line is a header, dates YYYY-MM-DD",
        "  columns by header name, else in <fields> order",
    ]


def test_check_command_prints_what_each_import_does(tmp_path):
    from click.testing import CliRunner

    from session_import.cli import main

    result = CliRunner().invoke(
        main, ["check", str(Path(__file__).parents[2] / "sample_configs" / "sessions.xml")]
    )
    assert result.exit_code == 0, result.output
    assert "import nightly-sessions" in result.stdout
    assert "reads: sessions_*.csv in " in result.stdout
    assert "finds existing records by sessionGuid + sessionTitle" in result.stdout
    assert "the configuration is valid." in result.stdout
    bad = write(tmp_path, "<actions><createOrUpdateSessionAction/></actions>")
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code == 4
    assert result.stderr.startswith(f"{bad}:1: ")


# ---- whatever the document, a ConfigError or a Config ----

_NAMES = st.sampled_from(
    [
        "import-config",
        "import",
        "providers",
        "fileSystemSourceProvider",
        "fileName",
        "path",
        "columnsMapping",
        "actions",
        "createOrUpdateSessionAction",
        "createOrUpdateLearnerAction",
        "options",
        "fields",
        "sessionSearchField",
        "traineeSearchField",
        "fullAccess",
        "sessionAction",
        "cancel",
        "sessionTitle",
        "sessionID",
        "teacherLogin",
        "candidateLogin",
        "ignoredColumn",
        "mandatory",
        "consolidators",
        "emailReport",
        "targetEmail",
        "moveToBackupConsolidator",
        "backupFolder",
        "safety",
        "maxRejects",
        "delimiter",
        "dateFormat",
        "timezone",
        "preProcess",
        "publishers",
        "registerLearnerAction",
        "parameters",
        "x",
    ]
)
_TEXT = st.sampled_from(
    ["", "yes", "no", "...", "..", "a@b.org", "M", "5%", "DD/MM/YYYY", "Europe/Paris", "  "]
)
_TREES = st.recursive(
    st.tuples(_NAMES, _TEXT, st.just(())),
    lambda children: st.tuples(_NAMES, _TEXT, st.lists(children, max_size=4).map(tuple)),
    max_leaves=25,
)


def _xml(tree) -> str:
    name, text, children = tree
    return f"<{name}>{text}{''.join(_xml(c) for c in children)}</{name}>"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_TREES, fragments=st.booleans())
def test_any_document_gives_a_config_or_errors_with_file_and_line(tree, fragments):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.xml"
        path.write_text(_xml(tree))
        try:
            config = load_config(path, fragments=fragments)
        except ConfigError as exc:
            assert exc.errors
            assert all(re.match(rf"{re.escape(str(path))}:[1-9]\d*: \S", e) for e in exc.errors), (
                exc.errors
            )
        else:
            assert config.form in ("bare", "full", "fragment")
            assert describe(config)
