"""What `check` and `run` say of a configuration, through the command a user types: bounded work
on hostile files, libxml2's errors in our words, root causes first, the mandatory fields that
<fields> may not leave out, and codes shown as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Workspace

from session_import.config import MAX_CONFIG_BYTES, MAX_CONFIG_NODES, MAX_LISTED

REFERENCE = Path("/work/shared/reference/crossknowledge-createOrUpdateSessionAction.md")
CK_EXAMPLE = (
    Path(__file__).parents[1] / "fixtures" / "ck-examples" / "createorupdate-session-action-2.xml"
)

SESSION_FIELDS = "<sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/>"


def session(fields: str = SESSION_FIELDS, options: str = "") -> str:
    """A bare session action: <options> on line 3, <fields> on line 4."""
    return (
        "<actions>\n<createOrUpdateSessionAction>\n"
        f"<options><sessionSearchField><sessionTitle/></sessionSearchField>{options}</options>\n"
        f"<fields>{fields}</fields>\n"
        "</createOrUpdateSessionAction>\n</actions>\n"
    )


def training(fields: str) -> str:
    """A bare training action: <fields> on line 2."""
    return (
        f"<actions><createOrUpdateTrainingCourseAction>\n<fields>{fields}</fields>\n"
        "</createOrUpdateTrainingCourseAction></actions>\n"
    )


def refused(ws: Workspace, path: Path) -> list[str]:
    """`check` refuses the configuration: exit 4, nothing on stdout; the lines of stderr."""
    result = ws.run("check", path)
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert result.stdout == ""
    return result.stderr.splitlines()


def sessions_in_store(ws: Workspace) -> list[tuple]:
    return ws.query("select title from sessions") if ws.db.exists() else []


# ---- bounded work on hostile configurations (issue 13.6) ----


def test_a_configuration_over_the_size_limit_is_refused_before_it_is_parsed(ws):
    # well-formed and valid but for its size: a comment pads it one byte over the limit
    head = session()
    path = ws.write("big.xml", head + "<!--" + "x" * (MAX_CONFIG_BYTES - len(head) - 7) + "-->\n")
    assert path.stat().st_size == MAX_CONFIG_BYTES + 1
    assert refused(ws, path) == [
        (
            f"{path}: the file is {MAX_CONFIG_BYTES + 1:,} bytes, over the 4 MiB an import configuration may "
            "have; check that it is the configuration and not a data file."
        )
    ]
    data = ws.write(
        "s.csv", "sessionAction;trainingPathCode;sessionTitle;teacherLogin\nM;TP-001;T;jdupont\n"
    )
    result = ws.run("run", path, data)
    assert result.exit_code == 4
    assert result.stderr.startswith(f"{path}: the file is ")
    assert sessions_in_store(ws) == []


def test_a_configuration_at_the_size_limit_is_read(ws):
    head = session()
    path = ws.write("big.xml", head + "<!--" + "x" * (MAX_CONFIG_BYTES - len(head) - 9) + "-->\n")
    assert path.stat().st_size == MAX_CONFIG_BYTES - 1
    result = ws.run("check", path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith(f"{path}: the configuration is valid.\n")


def test_a_data_file_given_as_the_configuration_is_refused_by_its_size(ws):
    rows = "".join(f"M;TP-001;Session {i};jdupont\n" for i in range(200_000))
    data = ws.write(
        "night.csv", "sessionAction;trainingPathCode;sessionTitle;teacherLogin\n" + rows
    )
    config = ws.write("c.xml", session())
    result = ws.run("run", data, config)
    assert result.exit_code == 4
    assert result.stderr == (
        f"{data}: the file is {data.stat().st_size:,} bytes, over the 4 MiB an import "
        "configuration may have; check that it is the configuration and not a data file.\n"
    )


def test_more_elements_and_attributes_than_the_node_limit_are_refused_naming_the_line(ws):
    # <actions> on line 1 is node 1, then 1,000 <x/> a line: node 200,001 is the last of line 201
    path = ws.write(
        "many.xml",
        "<actions>\n" + ("<x/>" * 1000 + "\n") * (MAX_CONFIG_NODES // 1000) + "</actions>\n",
    )
    assert refused(ws, path) == [
        (
            f"{path}:{1 + MAX_CONFIG_NODES // 1000}: the configuration has more than {MAX_CONFIG_NODES:,} elements and "
            "attributes by this line, far more than any import configuration needs; check that it is the "
            "configuration you meant."
        )
    ]


def test_attributes_count_towards_the_node_limit(ws):
    attributes = " ".join(f'a{i}="1"' for i in range(MAX_CONFIG_NODES))
    path = ws.write("attrs.xml", f"<actions>\n<x {attributes}/>\n</actions>\n")
    (error,) = refused(ws, path)
    assert error.startswith(
        f"{path}:2: the configuration has more than {MAX_CONFIG_NODES:,} elements and "
    )


def test_at_the_node_limit_errors_are_listed_up_to_the_cap_then_counted(ws):
    count = MAX_CONFIG_NODES - 1  # and <actions>: exactly the limit
    path = ws.write("many.xml", "<actions>\n" + "<x/>\n" * count + "</actions>\n")
    lines = refused(ws, path)
    expected = (
        "unknown action <x> in <actions>; expected one of <createOrUpdateSessionAction>, "
        "<createOrUpdateTrainingCourseAction>, <createOrUpdateLearnerAction>, <createOrUpdateEntityAction>."
    )
    assert lines[:MAX_LISTED] == [f"{path}:{line}: {expected}" for line in range(2, MAX_LISTED + 2)]
    assert lines[MAX_LISTED:] == [
        f"{path}: ... and {count - MAX_LISTED:,} more errors; fix those listed and check the configuration again."
    ]


def test_one_misspelt_option_repeated_prints_the_cap_and_a_count(ws):
    path = ws.write(
        "c.xml", session(options="\n" + "<fullAcess>yes</fullAcess>\n" * (MAX_LISTED + 1))
    )
    lines = refused(ws, path)
    assert len(lines) == MAX_LISTED + 1
    assert (
        lines[0] == f"{path}:4: unknown option <fullAcess> in <options>; did you mean <fullAccess>?"
    )
    assert lines[MAX_LISTED - 1].startswith(f"{path}:{MAX_LISTED + 3}: unknown option <fullAcess>")
    assert (
        lines[-1]
        == f"{path}: ... and 1 more error; fix those listed and check the configuration again."
    )


def test_the_cap_keeps_root_causes_first(ws):
    # the unknown names come first even when an error of another kind stands on an earlier line
    options = "<fullAccess>maybe</fullAccess>\n" + "<fullAcess>yes</fullAcess>\n" * MAX_LISTED
    lines = refused(ws, ws.write("c.xml", session(options=options)))
    assert all("unknown option <fullAcess>" in line for line in lines[:MAX_LISTED])
    assert lines[-1].endswith(
        ": ... and 1 more error; fix those listed and check the configuration again."
    )


def test_warnings_are_capped_too_on_a_valid_configuration(ws):
    path = ws.write("c.xml", session(fields=SESSION_FIELDS + "<IgnoredColumn/>" * (MAX_LISTED + 5)))
    result = ws.run("check", path)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert (
        lines[:MAX_LISTED]
        == [f"{path}:4: field <IgnoredColumn> read as <ignoredColumn>."] * MAX_LISTED
    )
    assert lines[MAX_LISTED:] == [f"{path}: ... and 5 more warnings."]


def test_a_name_echoed_from_the_document_is_shortened(ws):
    path = ws.write("c.xml", session(fields=SESSION_FIELDS + "<" + "q" * 10_000 + "/>"))
    assert refused(ws, path) == [
        (
            f"{path}:4: unknown field <{'q' * 57}...> in <fields>; expected one of <sessionAction>, <sessionStatus>, "
            "<sessionGuid>, <sessionStartDate>, <sessionEndDate>, <sessionTitle>, <sessionId>, <teacherLogin>, "
            "<trainingPathCode>, <trainingId>, <trainingTitle>, <groupName>, <groupGuid>, <ignoredColumn>."
        )
    ]


# ---- the parser's errors in our words (issue 13.12) ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "<actions>" + "<x>" * 300 + "</x>" * 300 + "</actions>\n",
            (
                ":1: elements are nested more than 256 levels deep, which no import configuration needs; close the "
                "elements left open."
            ),
        ),
        (
            "<actions>\n<" + "n" * 50_001 + "/>\n</actions>\n",
            ":2: a name is over 50,000 characters long, which no import configuration needs; fix the markup.",
        ),
        (
            "<actions>\n\x00</actions>\n",
            ":2: the XML is not well-formed: Invalid character: Char 0x0 out of allowed range; fix the markup.",
        ),
        (
            "<actions>\n<![CDATA[one\ntwo</actions>\n",
            ":4: the XML is not well-formed: CData section not finished; fix the markup.",
        ),
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
            "<import-config>\n<import>\n",
            (
                ":3: the XML is not well-formed: the file ends inside <import> of "
                "line 2; close it with </import>."
            ),
        ),
        (
            "<actions/>\n</actions>>\n",
            (
                ":2: the XML is not well-formed: something follows the end of the root element; remove it "
                "(a configuration has one root element, <import-config> or <actions>)."
            ),
        ),
    ],
    ids=[
        "too deep",
        "name too long",
        "NUL",
        "CDATA with a line break",
        "empty",
        "mismatch",
        "unclosed",
        "after the root",
    ],
)
def test_parser_errors_are_ours_without_libxml2s_advice_or_a_literal_line_break(ws, text, expected):
    path = ws.root / "broken.xml"
    path.write_bytes(text.encode("utf-8"))
    assert refused(ws, path) == [f"{path}{expected}"]
    result = ws.run("check", path)
    assert "XML_PARSE_HUGE" not in result.stderr and "\\n" not in result.stderr


# ---- the root cause first (issue 14.3) ----


def test_a_misspelt_field_is_reported_before_the_errors_it_causes(ws):
    path = ws.write(
        "sessions.xml",
        session(fields="<sessionAction/><trainingPathCode/><sessionTitel/><teacherLogin/>"),
    )
    assert refused(ws, path) == [
        f"{path}:4: unknown field <sessionTitel> in <fields>; did you mean <sessionTitle>?",
        f"{path}:3: search field <sessionTitle> is not in <fields>; add it to <fields>.",
        (
            f"{path}:4: <fields> has no <sessionTitle>, a field mandatory by default; add <sessionTitle/>, or "
            "<sessionTitle><mandatory>no</mandatory></sessionTitle> if the file may leave it out."
        ),
    ]


def test_run_lists_the_same_errors_in_the_same_order(ws):
    path = ws.write(
        "sessions.xml",
        session(fields="<sessionAction/><trainingPathCode/><sessionTitel/><teacherLogin/>"),
    )
    data = ws.write(
        "s.csv", "sessionAction;trainingPathCode;sessionTitle;teacherLogin\nM;TP-001;T;jdupont\n"
    )
    check, run = ws.run("check", path), ws.run("run", path, data)
    assert run.exit_code == 4
    assert run.stderr == check.stderr
    assert sessions_in_store(ws) == []


# ---- fields mandatory by default must be in <fields> (issue 14.3) ----


@pytest.mark.parametrize(
    ("missing", "also"),
    [
        ("teacherLogin", []),
        (
            "sessionTitle",
            [":3: search field <sessionTitle> is not in <fields>; add it to <fields>."],
        ),
    ],
)
def test_fields_that_leave_out_a_mandatory_field_are_refused_by_check_and_run(ws, missing, also):
    path = ws.write("c.xml", session(fields=SESSION_FIELDS.replace(f"<{missing}/>", "")))
    assert refused(ws, path) == [f"{path}{line}" for line in also] + [
        (
            f"{path}:4: <fields> has no <{missing}>, a field mandatory by default; add <{missing}/>, or "
            f"<{missing}><mandatory>no</mandatory></{missing}> if the file may leave it out."
        )
    ]
    ws.seed()
    header = ";".join(
        n
        for n in ("sessionAction", "trainingPathCode", "sessionTitle", "teacherLogin")
        if n != missing
    )
    cells = ";".join(
        v
        for n, v in (
            ("sessionAction", "M"),
            ("trainingPathCode", "TP-001"),
            ("sessionTitle", "T"),
            ("teacherLogin", "jdupont"),
        )
        if n != missing
    )
    data = ws.write("s.csv", f"{header}\n{cells}\n")
    result = ws.run("run", path, data)
    assert result.exit_code == 4
    assert result.stderr == ws.run("check", path).stderr
    assert sessions_in_store(ws) == []


def test_mandatory_no_is_the_way_out_and_creates_sessions_without_a_teacher(ws):
    fields = "<sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin><mandatory>no</mandatory></teacherLogin>"
    path = ws.write("c.xml", session(fields=fields))
    assert ws.run("check", path).exit_code == 0
    ws.seed()
    data = ws.write(
        "s.csv", "sessionAction;trainingPathCode;sessionTitle\nM;TP-001;No teacher yet\n"
    )
    result = ws.run("run", path, data)
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout.count(
            "Column teacherLogin is missing from the header; the field is left as it is."
        )
        == 1
    )
    assert [(s["title"], s["teacher_login"]) for s in ws.export()] == [("No teacher yet", None)]


def test_the_reference_pages_own_example_is_accepted(ws):
    text = REFERENCE.read_text(encoding="utf-8")
    example = text.split("```xml", 1)[1].split("```", 1)[0].strip()
    path = ws.write("reference.xml", example + "\n")
    result = ws.run("check", path)
    assert result.exit_code == 0, result.stderr
    assert (
        CK_EXAMPLE.read_text().split() == example.split()
    )  # the same example, copied in the fixtures
    assert ws.run("check", CK_EXAMPLE).exit_code == 0


def test_session_action_left_out_of_fields_is_refused_with_the_way_out(ws):
    """Issue 14: sessionAction is mandatory by default, so <fields> must name it; with
    <mandatory>no</mandatory> a file without the column makes every row a create or update
    (SPEC section 4: M is the default when the column is absent)."""
    path = ws.write("c.xml", session(fields="<trainingPathCode/><sessionTitle/><teacherLogin/>"))
    assert refused(ws, path) == [
        (
            f"{path}:4: <fields> has no <sessionAction>, a field mandatory by default; add <sessionAction/>, "
            "or <sessionAction><mandatory>no</mandatory></sessionAction> if the file may leave it out."
        ),
    ]
    path = ws.write(
        "c.xml",
        session(
            fields="<sessionAction><mandatory>no</mandatory></sessionAction>"
            "<trainingPathCode/><sessionTitle/><teacherLogin/>"
        ),
    )
    result = ws.run("check", path)
    assert result.exit_code == 0, result.stderr
    ws.seed()
    data = ws.write("s.csv", "trainingPathCode;sessionTitle;teacherLogin\nTP-001;Created;jdupont\n")
    result = ws.run("run", path, data)
    assert result.exit_code == 0, result.stderr
    assert [(s["title"], s["teacher_login"]) for s in ws.export()] == [("Created", "jdupont")]


def test_training_fields_mandatory_by_default_and_its_key(ws):
    path = ws.write("t.xml", training("<trainingAction/><trainingPathCode/><trainingLocale/>"))
    assert refused(ws, path) == [
        (
            f"{path}:2: <fields> has no <trainingTitle>, a field mandatory by default; add <trainingTitle/>, or "
            "<trainingTitle><mandatory>no</mandatory></trainingTitle> if the file may leave it out."
        ),
        (
            f"{path}:2: <fields> has no <trainingModality>, a field mandatory by default; add <trainingModality/>, "
            "or <trainingModality><mandatory>no</mandatory></trainingModality> if the file may leave it out."
        ),
    ]
    path = ws.write("t.xml", training("<trainingAction/><trainingTitle/><trainingModality/>"))
    assert refused(ws, path) == [
        (
            f"{path}:2: <fields> has no <trainingPathCode>, by which <createOrUpdateTrainingCourseAction> finds "
            "its records; add <trainingPathCode/>."
        )
    ]
    path = ws.write(
        "t.xml",
        training(
            "<trainingAction/><trainingPathCode><mandatory>no</mandatory></trainingPathCode><trainingTitle/>"
            "<trainingModality/>"
        ),
    )
    assert refused(ws, path) == [
        (
            f"{path}:2: <trainingPathCode> is how <createOrUpdateTrainingCourseAction> finds its records, so it "
            "is always mandatory; remove <mandatory>no</mandatory>."
        )
    ]
    path = ws.write(
        "t.xml",
        training(
            "<trainingAction/><trainingPathCode/>"
            "<trainingTitle><mandatory>no</mandatory></trainingTitle>"
            "<trainingModality><mandatory>no</mandatory></trainingModality>"
        ),
    )
    result = ws.run("check", path)
    assert result.exit_code == 0, result.stderr


def test_a_fields_fragment_is_checked_for_the_mandatory_fields_too(ws):
    path = ws.write(
        "fields.xml", "<fields>\n<sessionAction/><trainingPathCode/><sessionTitle/>\n</fields>\n"
    )
    assert refused(ws, path) == [
        (
            f"{path}:1: <fields> has no <teacherLogin>, a field mandatory by default; add <teacherLogin/>, or "
            "<teacherLogin><mandatory>no</mandatory></teacherLogin> if the file may leave it out."
        )
    ]


def test_the_learner_and_entity_actions_keep_their_own_rules(ws):
    path = ws.write(
        "l.xml",
        "<actions><createOrUpdateLearnerAction>\n<fields><candidateLogin/></fields>\n"
        "</createOrUpdateLearnerAction></actions>\n",
    )
    assert ws.run("check", path).exit_code == 0
    path = ws.write(
        "e.xml",
        "<actions><createOrUpdateEntityAction>\n<fields><ignoredColumn/></fields>\n"
        "</createOrUpdateEntityAction></actions>\n",
    )
    assert refused(ws, path) == [
        f"{path}:2: <fields> needs at least one <hierarchyEntityName/>; add one per level of the hierarchy."
    ]


# ---- codes as written (issue 14.9) ----


def test_check_prints_codes_as_written_and_run_compares_them_case_insensitively(ws):
    fields = (
        "<sessionAction><createUpdate>Create</createUpdate><cancel> DEL </cancel></sessionAction>"
        "<trainingPathCode/><sessionTitle/><teacherLogin/><sessionStatus><closed>Fermé</closed></sessionStatus>"
    )
    path = ws.write("c.xml", session(fields=fields))
    result = ws.run("check", path)
    assert result.exit_code == 0, result.stderr
    assert "    sessionAction codes: 'Create' = createUpdate, 'DEL' = cancel\n" in result.stdout
    assert "    sessionStatus codes: 'open' = open, 'Fermé' = closed\n" in result.stdout
    ws.seed()
    data = ws.write(
        "s.csv",
        "sessionAction;trainingPathCode;sessionTitle;teacherLogin;sessionStatus\n"
        "CREATE;TP-001;T;jdupont;FERMÉ\n",
    )
    result = ws.run("run", path, data)
    assert result.exit_code == 0, result.stderr
    assert [(s["title"], s["status"]) for s in ws.export()] == [("T", "closed")]
