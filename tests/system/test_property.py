"""Property: a generated sessions file gives what one-row-at-a-time processing gives, whatever the chunks.

A small model of SPEC section 4 (plus the README's documented decisions), written
over plain dicts and independently of resolve.py / validate.py, processes the
rows one at a time in file order. The real pipeline runs the same file on the
same seeded store with ``chunk_rows`` 1, 2, 3 and 5000. Compared, between every
chunk size and the 5000-row run first (batching must change nothing), then
between the 5000-row run and the model:

- the counts and the exit code,
- each line's outcome (created / updated / unchanged / cancelled / rejected),
- each rejected row's line, values, cells and messages (in the product's order),
- each warning line with its messages,
- the ``--diff`` changes (line, session, fields old -> new),
- the run's journal (line, op, record id, before and after),
- the final ``sessions`` table, row for row (ids included: they are predictable).

GUIDs of the sessions the run creates are random: they are compared through the
relation "the session that line N created" (the journal names the GUID of each
create), so each one is rewritten ``L<N>`` before comparing. Seeded sessions
have fixed GUIDs.

Vocabulary is tiny so that rows collide: 4 titles, trainings TP-1 / TP-2 / TP-9
(missing), teachers u1 / u2 / ghost (unknown), a few dates with and without a
time, invalid dates, empty and NULL cells, invalid codes, rows of the wrong
width, the header in any column order. Variants: sessionSearchField
``sessionTitle`` / ``sessionTitle + sessionStartDate`` / ``sessionStartDate``,
fullAccess yes / no, dateFormat ``YYYY-MM-DD`` / ``YYYY-MM-DD HH:II`` (which
gives double-booking warnings). Rows are drawn valid, then 0 to 2 cells are
spoilt, so that about half the rows apply and rows often meet the same session.

A second, focused property (valid timed rows, two titles, teachers u1 / u2, seeded
bookings) exercises the double-booking warning, whose look-ups are the most
batch-sensitive part of the resolver. Example tests below pin the trickiest
one-by-one cases, each run with chunks of 1 and of 5000 rows.

Messages are compared as ordered lists: the model reproduces the product's order
(mandatory fields in <fields> order, sessionAction code, status code, start date,
end date, end-before-start, empty training; then the training, teacher and group
look-ups; then the session search: duplicated / to cancel not found / ownership).
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings, target
from hypothesis import strategies as st
from oracle import (
    FIELDS,
    GROUPS,
    IMPORT_ID,
    OTHER_IMPORT,
    TRAININGS,
    USERS,
    Model,
    Session,
)

from session_import.config import load_config
from session_import.pipeline import RunOptions, run_import
from session_import.store import Store

SEARCHES = {
    "title": ("sessionTitle",),
    "title+start": ("sessionTitle", "sessionStartDate"),
    "start": ("sessionStartDate",),
}
CHUNKS = (1, 2, 3)
BIG_CHUNK = 5000


@dataclass(frozen=True)
class Variant:
    search: str  # key of SEARCHES
    full_access: bool
    timed: bool  # dateFormat YYYY-MM-DD HH:II instead of YYYY-MM-DD

    @property
    def search_fields(self) -> tuple[str, ...]:
        return SEARCHES[self.search]

    @property
    def date_format(self) -> str:
        return "YYYY-MM-DD HH:II" if self.timed else "YYYY-MM-DD"


def seed_guid(session_id: int) -> str:
    return f"00000000-0000-4000-8000-{session_id:012d}"


# ---------------------------------------------------------------------------
# configuration, store, data file
# ---------------------------------------------------------------------------

_WORK = Path(tempfile.mkdtemp(prefix="session-import-property-"))
atexit.register(shutil.rmtree, _WORK, True)


def config_xml(variant: Variant) -> str:
    searched = "".join(f"<{f}/>" for f in variant.search_fields)
    fields = "".join(f"<{f}/>" for f in FIELDS)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<import-config>
  <import id="{IMPORT_ID}">
    <providers>
      <fileSystemSourceProvider>
        <fileName>sessions.csv</fileName>
        <delimiter>semicolon</delimiter>
        <dateFormat>{variant.date_format}</dateFormat>
      </fileSystemSourceProvider>
    </providers>
    <actions>
      <createOrUpdateSessionAction>
        <options>
          <sessionSearchField>{searched}</sessionSearchField>
          <fullAccess>{"yes" if variant.full_access else "no"}</fullAccess>
        </options>
        <fields>{fields}</fields>
      </createOrUpdateSessionAction>
    </actions>
  </import>
</import-config>
"""


@cache
def load_variant(variant: Variant):
    path = (
        _WORK
        / f"cfg-{variant.search}-{int(variant.full_access)}-{int(variant.timed)}"
        / "sessions.xml"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_xml(variant), encoding="utf-8")
    return load_config(path)


@cache
def template_db() -> Path:
    """An empty store with the schema, copied for every run (migrating is the slow part)."""
    path = _WORK / "template.db"
    Store(path).close()
    return path


def seed_store(store: Store, seeds: list[Session]) -> None:
    conn = store.conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO trainings (id, guid, path_code, title, locale, modality, description,"
        " created_by_import, updated_by_import) VALUES (?, ?, ?, ?, NULL, 'blended', NULL, 'ref', 'ref')",
        [(tid, f"T-{tid}", code, f"Course {code}") for code, tid in TRAININGS.items()],
    )
    conn.executemany(
        "INSERT INTO users (id, login, ref_number, email, name, firstname, created_by_import,"
        " updated_by_import) VALUES (?, ?, NULL, NULL, NULL, NULL, 'ref', 'ref')",
        [(uid, login) for login, uid in USERS.items()],
    )
    conn.executemany(
        "INSERT INTO groups (id, guid, name, parent_id, created_by_import, updated_by_import)"
        " VALUES (?, ?, ?, ?, 'ref', 'ref')",
        [(gid, f"G-{gid}", name, parent) for gid, name, parent in GROUPS],
    )
    conn.executemany(
        "INSERT INTO sessions (id, guid, title, status, start_date, end_date, training_id,"
        " teacher_id, group_id, created_by_import, updated_by_import)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [tuple(asdict(s).values()) for s in seeds],
    )
    conn.execute("COMMIT")


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(";".join(cells) for cells in [header, *rows]) + "\n"


_UUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def _normalise(value, guids: dict[str, str]):
    """Every GUID rewritten through ``guids``; an unknown one is flagged."""
    if isinstance(value, str):
        return _UUID.sub(lambda m: guids.get(m.group(0), f"UNKNOWN<{m.group(0)}>"), value)
    if isinstance(value, dict):
        return {k: _normalise(v, guids) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v, guids) for v in value]
    return value


def run_product(
    variant: Variant, seeds: list[Session], header: list[str], rows: list[list[str]], chunk: int
) -> dict:
    config = load_variant(variant)
    with tempfile.TemporaryDirectory(dir=_WORK) as tmp:
        db = Path(tmp) / "store.db"
        shutil.copyfile(template_db(), db)
        data = Path(tmp) / "sessions.csv"
        data.write_text(csv_text(header, rows), encoding="utf-8")
        store = Store(db)
        try:
            seed_store(store, seeds)
            report = run_import(config, store, [data], RunOptions(chunk_rows=chunk, diff=True))
            assert len(report.files) == 1, report.notices
            fr = report.files[0]
            assert fr.error is None, fr.error
            journal = store.run_journal(fr.run_id)
            table = [
                dict(zip([d[0] for d in cur.description], row, strict=True))
                for cur in [store.conn.execute("SELECT * FROM sessions ORDER BY id")]
                for row in cur.fetchall()
            ]
        finally:
            store.close()
    guids = {s.guid: s.guid for s in seeds}
    for entry in journal:
        if entry["table"] == "sessions" and entry["op"] == "create":
            guids[entry["guid"]] = f"L{entry['line']}"
    kinds = {"create": "created", "update": "updated", "delete": "cancelled"}
    outcomes = {line: "unchanged" for line in range(2, len(rows) + 2)}
    for entry in journal:
        outcomes[entry["line"]] = kinds[entry["op"]]
    for r in fr.rejected:
        outcomes[r.line] = "rejected"
    result = {
        "counts": dict(fr.counts),
        "exit_code": int(report.exit_code),
        "outcomes": outcomes,
        "rejected": [
            {"line": r.line, "values": r.values, "cells": r.cells, "messages": r.messages}
            for r in fr.rejected
        ],
        "warnings": [{"line": line, "messages": list(msgs)} for line, msgs in fr.warnings],
        "changes": list(fr.changes),
        "journal": [
            {k: e[k] for k in ("line", "table", "op", "id", "guid", "before", "after")}
            for e in journal
        ],
        "sessions": table,
    }
    return _normalise(result, guids)


# ---------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------

_ASPECTS = (
    "counts",
    "exit_code",
    "outcomes",
    "rejected",
    "warnings",
    "changes",
    "journal",
    "sessions",
)


def assert_same(actual: dict, expected: dict, what: str) -> None:
    for aspect in _ASPECTS:
        assert actual[aspect] == expected[aspect], f"{what}: {aspect} differ"


def check_file(
    variant: Variant, seeds: list[Session], header: list[str], rows: list[list[str]], chunks=CHUNKS
) -> dict:
    """Run every chunk size, compare them with the big chunk, then the big chunk with the model."""
    big = run_product(variant, seeds, header, rows, BIG_CHUNK)
    for chunk in chunks:
        small = run_product(variant, seeds, header, rows, chunk)
        assert_same(small, big, f"chunk_rows={chunk} vs chunk_rows={BIG_CHUNK}")
    model = Model(variant.search_fields, variant.full_access, variant.timed, seeds, header)
    assert_same(big, model.run(rows), f"chunk_rows={BIG_CHUNK} vs the model")
    return big


# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------

TITLES = ("Alpha", "Beta", "Gamma", "Delta")
# A row is drawn from the GOOD values (a valid row, though it may still collide, miss a
# session, or put its end before its start), then 0 to 2 of its cells are replaced by a
# BAD value. The first value of each pool is the simplest one, which hypothesis shrinks to.
GOOD = {
    "sessionAction": ("M", "M", "M", "M", "M", "M", "M", "A", "m", " a "),
    "trainingPathCode": ("TP-1", "TP-1", "TP-1", "TP-2"),
    "sessionTitle": ("Alpha", "Alpha", "Alpha", "Beta", "Beta", "Gamma", "Delta"),
    "sessionStatus": ("", "", "", "open", "closed", "Closed"),
    "teacherLogin": ("u1", "u2"),
    "groupName": ("", "", "", "G1", "G2", "NULL"),
}
BAD = {
    "sessionAction": ("X", ""),
    "trainingPathCode": ("TP-9", "", "NULL"),
    "sessionTitle": ("", "NULL"),
    "sessionStatus": ("pending", "NULL"),
    "teacherLogin": ("ghost", "", "NULL"),
    "groupName": ("GD", "G9"),
}
# (start, end) cells of a good row: mostly in order, sometimes one side only, NULL, or reversed
GOOD_DAY_DATES = (
    ("", ""),
    ("", ""),
    ("2026-03-01", ""),
    ("", "2026-03-02"),
    ("2026-03-01", "2026-03-01"),
    ("2026-03-01", "2026-03-02"),
    ("2026-03-02", "2026-03-05"),
    ("2026-03-05", "2026-03-02"),
    ("NULL", ""),
    ("2026-03-02", "NULL"),
    ("", "2026-03-01"),
)
BAD_DAY_DATES = ("2026-02-30", "2026-03-01 09:00", "01/03/2026")
GOOD_TIMED_DATES = (
    ("", ""),
    ("", ""),
    ("", ""),
    ("", ""),
    ("2026-03-01 09:00", "2026-03-01 11:00"),
    ("2026-03-01 10:00", "2026-03-01 12:00"),
    ("2026-03-01 11:00", "2026-03-02 09:00"),
    ("2026-03-01 09:00", "2026-03-01 10:00"),
    ("2026-03-01 09:00", ""),
    ("", "2026-03-01 12:00"),
    ("2026-03-01", "2026-03-01 12:00"),
    ("2026-03-01", "2026-03-02"),
    ("2026-03-01 12:00", "2026-03-01 10:00"),
    ("NULL", ""),
    ("2026-03-01 10:00", "NULL"),
    ("", "2026-03-01 10:00"),
)
BAD_TIMED_DATES = ("2026-03-01 25:00", "2026-02-30 10:00", "2026-03-01T10:00")
SEED_DATES = (
    (None, None),
    ("2026-03-01T09:00:00", "2026-03-01T11:00:00"),
    ("2026-03-01T10:00:00", "2026-03-01T12:00:00"),
    ("2026-03-01", "2026-03-01"),
    ("2026-03-01", "2026-03-02"),
    ("2026-03-02", None),
    ("2026-03-01T09:00:00", "2026-03-01T11:00:00"),
    ("2026-03-01T10:00:00", "2026-03-01T12:00:00"),
    ("2026-03-01T11:00:00", "2026-03-02T09:00:00"),
)

variants = st.builds(
    Variant,
    search=st.sampled_from(tuple(SEARCHES)),
    full_access=st.booleans(),
    timed=st.booleans(),
)


@st.composite
def seed_sessions(draw) -> list[Session]:
    count = draw(st.integers(0, 5))
    seeds = []
    for i in range(1, count + 1):
        start, end = draw(st.sampled_from(SEED_DATES))
        seeds.append(
            Session(
                id=i,
                guid=seed_guid(i),
                title=draw(st.sampled_from(TITLES)),
                status=draw(st.sampled_from(("open", "closed"))),
                start_date=start,
                end_date=end,
                training_id=draw(st.sampled_from((1, 1, 2))),
                teacher_id=draw(st.sampled_from((1, 2, 2, 3, None))),
                group_id=draw(st.sampled_from((None, 1, 2, 3))),
                created_by_import=draw(st.sampled_from((IMPORT_ID, IMPORT_ID, OTHER_IMPORT, None))),
                updated_by_import=draw(st.sampled_from((IMPORT_ID, OTHER_IMPORT, None))),
            )
        )
    return seeds


@st.composite
def data_rows(draw, header: list[str], timed: bool) -> list[list[str]]:
    good = dict(GOOD)
    # a file uses a few of the titles only, so that its rows meet the same sessions
    good["sessionTitle"] = tuple(
        draw(st.lists(st.sampled_from(TITLES), min_size=1, max_size=4, unique=True))
    )
    bad = dict(BAD)
    for name in ("sessionStartDate", "sessionEndDate"):
        bad[name] = BAD_TIMED_DATES if timed else BAD_DAY_DATES
    rows = []
    for _ in range(draw(st.integers(1, 14))):
        values = {name: draw(st.sampled_from(pool)) for name, pool in good.items()}
        start, end = draw(st.sampled_from(GOOD_TIMED_DATES if timed else GOOD_DAY_DATES))
        values.update(sessionStartDate=start, sessionEndDate=end)
        for _ in range(draw(st.sampled_from((0, 0, 0, 0, 0, 1, 1, 2)))):
            name = draw(st.sampled_from(FIELDS))
            values[name] = draw(st.sampled_from(bad[name]))
        cells = [values[name] for name in header]
        shape = draw(st.sampled_from(("ok",) * 40 + ("short", "long", "trailing")))
        if shape == "short":
            cells = cells[:-1]
        elif shape == "long":
            cells = cells + ["extra"]
        elif shape == "trailing":
            cells = cells + [""]
        rows.append(cells)
    return rows


@st.composite
def scenarios(draw):
    variant = draw(variants)
    seeds = draw(seed_sessions())
    header = list(draw(st.one_of(st.just(list(FIELDS)), st.permutations(FIELDS))))
    rows = draw(data_rows(header, variant.timed))
    return variant, seeds, header, rows


# ---------------------------------------------------------------------------
# the property
# ---------------------------------------------------------------------------


@settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(scenarios())
def test_any_file_matches_the_one_by_one_model_whatever_the_chunks(scenario):
    variant, seeds, header, rows = scenario
    note(f"variant={variant}")
    note("seeds=" + repr([asdict(s) for s in seeds]))
    note("file:\n" + csv_text(header, rows))
    result = check_file(variant, seeds, header, rows)
    # steer generation towards files whose rows interact: updates, cancels, double bookings
    target(float(result["counts"]["warnings"]), label="warnings")
    target(
        float(result["counts"]["updated"] + result["counts"]["cancelled"]),
        label="updates and cancels",
    )


@st.composite
def booking_scenarios(draw):
    """Valid rows only, with times: what matters is which sessions a teacher holds when."""
    variant = Variant(draw(st.sampled_from(("title", "title+start"))), True, True)
    times = (
        "2026-03-01T09:00:00",
        "2026-03-01T10:00:00",
        "2026-03-01T11:00:00",
        "2026-03-01T12:00:00",
    )
    seeds = []
    for i in range(1, draw(st.integers(0, 4)) + 1):
        start, end = sorted(
            draw(st.lists(st.sampled_from(times), min_size=2, max_size=2, unique=True))
        )
        seeds.append(
            Session(
                i,
                seed_guid(i),
                draw(st.sampled_from(TITLES)),
                "open",
                start,
                end,
                1,
                draw(st.sampled_from((1, 2))),
                None,
                IMPORT_ID,
                IMPORT_ID,
            )
        )
    titles = ("Alpha", "Beta")
    cell_times = [t.replace("T", " ")[:16] for t in times]
    rows = []
    for _ in range(draw(st.integers(2, 8))):
        if draw(st.booleans()):
            start = end = ""
        else:
            start, end = sorted(
                draw(st.lists(st.sampled_from(cell_times), min_size=2, max_size=2, unique=True))
            )
        rows.append(
            [
                draw(st.sampled_from(("M", "M", "A"))),
                "TP-1",
                draw(st.sampled_from(titles)),
                "",
                start,
                end,
                draw(st.sampled_from(("u1", "u2"))),
                "",
            ]
        )
    return variant, seeds, list(FIELDS), rows


@settings(
    max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(booking_scenarios())
def test_double_booking_warnings_match_the_model_whatever_the_chunks(scenario):
    variant, seeds, header, rows = scenario
    note("seeds=" + repr([asdict(s) for s in seeds]))
    note("file:\n" + csv_text(header, rows))
    check_file(variant, seeds, header, rows)


# ---------------------------------------------------------------------------
# the trickiest one-by-one cases, by example (chunks of 1 and of 5000 rows)
# ---------------------------------------------------------------------------

HEADER = list(FIELDS)


def row(
    action="M", code="TP-1", title="Alpha", status="", start="", end="", teacher="u1", group=""
) -> list[str]:
    return [action, code, title, status, start, end, teacher, group]


def seed(i, title, *, training=1, start=None, end=None, teacher=None, creator=IMPORT_ID) -> Session:
    return Session(
        i, seed_guid(i), title, "open", start, end, training, teacher, None, creator, creator
    )


def run_example(variant: Variant, seeds: list[Session], rows: list[list[str]]) -> dict:
    return check_file(variant, seeds, HEADER, rows, chunks=(1,))


def messages(result: dict) -> dict[int, list[str]]:
    return {r["line"]: r["messages"] for r in result["rejected"]}


def test_a_row_updates_the_session_an_earlier_row_of_the_same_chunk_created():
    result = run_example(
        Variant("title", False, False),
        [],
        [row(), row(status="closed", start="2026-03-01"), row(status="closed", start="2026-03-01")],
    )
    assert result["outcomes"] == {2: "created", 3: "updated", 4: "unchanged"}
    [session] = result["sessions"]
    assert (session["guid"], session["status"], session["start_date"]) == (
        "L2",
        "closed",
        "2026-03-01",
    )


def test_cancel_then_create_again_gives_a_new_session_with_a_new_id():
    result = run_example(
        Variant("title", False, False),
        [seed(1, "Alpha")],
        [row(action="A"), row(action="A"), row(), row(status="closed")],
    )
    assert result["outcomes"] == {2: "cancelled", 3: "rejected", 4: "created", 5: "updated"}
    assert messages(result) == {3: ["The session to cancel is not found."]}
    [session] = result["sessions"]
    assert (session["id"], session["guid"], session["status"]) == (2, "L4", "closed")


def test_two_rows_create_the_same_title_then_a_third_finds_both():
    # With sessionTitle alone as the search field the second row would update the first
    # one's session; with title + start date they are two sessions, and a row that gives
    # only the title matches both.
    rows = [row(start="2026-03-01"), row(start="2026-03-02"), row(status="closed")]
    alone = run_example(Variant("title", False, False), [], rows)
    assert alone["outcomes"] == {2: "created", 3: "updated", 4: "updated"}
    joint = run_example(Variant("title+start", False, False), [], rows)
    assert joint["outcomes"] == {2: "created", 3: "created", 4: "rejected"}
    assert messages(joint) == {4: ["Session with sessionTitle Alpha is duplicated."]}


def not_owner(session_id: int) -> str:
    return (
        f"Session {seed_guid(session_id)} was not created by this import and cannot be "
        "modified (fullAccess is no)."
    )


def test_seeded_duplicates_and_ownership():
    seeds = [
        seed(1, "Alpha"),
        seed(2, "Alpha"),
        seed(3, "Beta", creator=OTHER_IMPORT),
        seed(4, "Gamma", creator=None),
    ]
    rows = [
        row(),
        row(title="Beta", status="closed"),
        row(title="Gamma", teacher="ghost"),
        row(title="Alpha", code="TP-2"),
    ]
    result = run_example(Variant("title", False, False), seeds, rows)
    assert messages(result) == {
        2: ["Session with sessionTitle Alpha is duplicated."],
        3: [not_owner(3)],
        4: ["Teacher with login ghost is not found.", not_owner(4)],
    }
    assert result["outcomes"][5] == "created"  # the search stays within the row's training
    full = run_example(Variant("title", True, False), seeds, rows)
    assert full["outcomes"] == {2: "rejected", 3: "updated", 4: "rejected", 5: "created"}


def test_a_renamed_session_is_what_later_rows_find():
    # With sessionTitle among the search fields a title can never change (the row's title
    # is part of what it looks for); searched by start date alone, a row renames.
    rows = [
        row(start="2026-03-01"),
        row(title="Beta", start="2026-03-01"),
        row(title="Beta", start="2026-03-01"),
        row(title="Alpha", start="2026-03-01", status="closed"),
    ]
    result = run_example(Variant("start", False, False), [], rows)
    assert result["outcomes"] == {2: "created", 3: "updated", 4: "unchanged", 5: "updated"}
    assert [c["fields"] for c in result["changes"]] == [
        {"title": ["Alpha", "Beta"]},
        {"title": ["Beta", "Alpha"], "status": ["open", "closed"]},
    ]


def test_a_session_whose_start_was_reset_is_no_longer_found_by_it():
    rows = [
        row(start="2026-03-01"),
        row(start="NULL"),
        row(start="2026-03-01"),
        row(status="closed"),
    ]
    result = run_example(Variant("title+start", False, False), [], rows)
    assert result["outcomes"] == {2: "created", 3: "updated", 4: "created", 5: "rejected"}
    assert messages(result) == {5: ["Session with sessionTitle Alpha is duplicated."]}


def test_one_date_on_an_update_is_checked_against_the_stored_other():
    rows = [
        row(start="2026-03-02", end="2026-03-05"),
        row(end="2026-03-01"),
        row(start="2026-03-06"),
    ]
    result = run_example(Variant("title", False, False), [], rows)
    assert messages(result) == {
        3: ["End date 2026-03-01 is before start date 2026-03-02."],
        4: ["End date 2026-03-05 is before start date 2026-03-06."],
    }


def test_double_booking_seen_through_a_session_an_earlier_row_of_the_chunk_created():
    # Line 2 creates Alpha for u1 at 09:00-11:00; line 3 gives Alpha to u2, keeping its
    # times, and u2 already teaches the seeded Beta at 10:00-12:00.
    seeds = [seed(1, "Beta", start="2026-03-01T10:00:00", end="2026-03-01T12:00:00", teacher=2)]
    rows = [row(start="2026-03-01 09:00", end="2026-03-01 11:00"), row(teacher="u2")]
    result = run_example(Variant("title", False, True), seeds, rows)
    assert result["outcomes"] == {2: "created", 3: "updated"}
    assert result["warnings"] == [
        {
            "line": 3,
            "messages": [
                f"Teacher u2 is already booked on session Beta ({seed_guid(1)}) at that time."
            ],
        }
    ]


def test_double_booking_seen_through_times_an_earlier_row_of_the_chunk_changed():
    # Alpha is stored for u1 at 14:00-15:00; line 2 moves it to 09:00-11:00, line 3 gives
    # it to u2 (times kept), who teaches the seeded Beta at 10:00-12:00.
    seeds = [
        seed(1, "Alpha", start="2026-03-01T14:00:00", end="2026-03-01T15:00:00", teacher=1),
        seed(2, "Beta", start="2026-03-01T10:00:00", end="2026-03-01T12:00:00", teacher=2),
    ]
    rows = [row(start="2026-03-01 09:00", end="2026-03-01 11:00"), row(teacher="u2")]
    result = run_example(Variant("title", False, True), seeds, rows)
    assert result["warnings"] == [
        {
            "line": 3,
            "messages": [
                f"Teacher u2 is already booked on session Beta ({seed_guid(2)}) at that time."
            ],
        }
    ]


def test_a_session_cancelled_earlier_in_the_chunk_books_nobody():
    # Line 2 cancels Beta (u2, 10:00-12:00); line 3 creates Alpha for u1 at 09:00-11:00;
    # line 4 gives Alpha to u2, keeping its times: Beta is gone, so no warning.
    seeds = [seed(1, "Beta", start="2026-03-01T10:00:00", end="2026-03-01T12:00:00", teacher=2)]
    rows = [
        row(action="A", title="Beta", teacher="u2"),
        row(start="2026-03-01 09:00", end="2026-03-01 11:00"),
        row(teacher="u2"),
    ]
    result = run_example(Variant("title", False, True), seeds, rows)
    assert result["outcomes"] == {2: "cancelled", 3: "created", 4: "updated"}
    assert result["warnings"] == []


@pytest.mark.parametrize(
    "shape, message",
    [
        (lambda cells: cells[:-1], "Line has 7 columns, 8 expected."),
        (lambda cells: cells + ["x"], "Line has 9 columns, 8 expected."),
        (lambda cells: cells + [""], None),
    ],
)
def test_rows_of_the_wrong_width(shape, message):
    result = run_example(Variant("title", False, False), [], [shape(row())])
    if message is None:
        assert result["outcomes"] == {2: "created"}
    else:
        assert result["rejected"][0]["messages"] == [message]
        assert result["rejected"][0]["values"] == {}
