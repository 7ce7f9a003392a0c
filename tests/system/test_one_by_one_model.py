"""Any generated file gives the same store, outcomes and messages as the one-row-at-a-time oracle.

The oracle (tests/oracle.py) is written from SPEC §4 alone. The real pipeline runs the
same file, a narrower one than test_property's (no group column), with chunks of 1, 2, 3
and 5000 rows: batching must change nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import oracle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stores import empty_store, execute_many, rows_of

from session_import.config import load_config
from session_import.pipeline import RunOptions, run_import
from session_import.store import StoreInterface

IMPORT = oracle.IMPORT_ID
FIELDS = [f for f in oracle.FIELDS if f != "groupName"]
TRAININGS = oracle.TRAININGS
USERS = {"u1": 1, "u2": 2}
NOT_OWNER = (
    "Session <guid> was not created by this import and cannot be modified (fullAccess is no)."
)


def config_text(search: list[str], full_access: bool) -> str:
    fields = "".join(f"<{f}/>" for f in FIELDS)
    searched = "".join(f"<{f}/>" for f in search)
    return (
        f"<actions><createOrUpdateSessionAction><options><sessionSearchField>{searched}"
        f"</sessionSearchField><fullAccess>{'yes' if full_access else 'no'}</fullAccess></options>"
        f"<fields>{fields}</fields></createOrUpdateSessionAction></actions>"
    )


# ---- generated files ----

cell = {
    "sessionAction": st.sampled_from(["M", "m", "A", "X", ""]),
    "trainingPathCode": st.sampled_from(["TP-1", "TP-1", "TP-2", "TP-9", ""]),
    "sessionTitle": st.sampled_from(["T1", "T2", "T3", ""]),
    "sessionStatus": st.sampled_from(["", "", "open", "closed", "CLOSED", "bad"]),
    "sessionStartDate": st.sampled_from(
        ["", "2026-01-01", "2026-01-02", "2026-01-03", "NULL", "2026-13-01"]
    ),
    "sessionEndDate": st.sampled_from(["", "", "2026-01-02", "2026-01-04", "NULL", "2026-02-30"]),
    "teacherLogin": st.sampled_from(["u1", "u2", "u2", "nobody", ""]),
}
row_strategy = st.fixed_dictionaries(cell)
existing_strategy = st.lists(
    st.tuples(
        st.sampled_from(["T1", "T2", "T3"]),
        st.sampled_from([1, 2]),
        st.sampled_from([None, "2026-01-01", "2026-01-02"]),
        st.sampled_from([IMPORT, "other"]),
    ),
    max_size=4,
)


def _owner_free(message: str) -> str:
    """The not-owner message without its GUID, which the store draws at random."""
    return NOT_OWNER if "was not created by this import" in message else message


def seed_store(store: StoreInterface, existing) -> None:
    with store.transaction():
        execute_many(
            store,
            "INSERT INTO trainings (id, guid, path_code, title, modality)"
            " VALUES (?, ?, ?, ?, 'blended')",
            [(tid, f"TG{tid}", code, code) for code, tid in TRAININGS.items()],
        )
        execute_many(
            store,
            "INSERT INTO users (id, login) VALUES (?, ?)",
            [(uid, login) for login, uid in USERS.items()],
        )
        execute_many(
            store,
            "INSERT INTO sessions (id, guid, title, status, start_date, training_id, teacher_id,"
            " created_by_import, updated_by_import) VALUES (?, ?, ?, 'open', ?, ?, 1, ?, ?)",
            [
                (i, f"G{i}", title, start, training, owner, owner)
                for i, (title, training, start, owner) in enumerate(existing, start=1)
            ],
        )


def observed(store: StoreInterface):
    return [
        tuple(r.values())
        for r in rows_of(
            store,
            "SELECT id, title, status, start_date, end_date, training_id, teacher_id, created_by_import,"
            " updated_by_import FROM sessions ORDER BY id",
        )
    ]


def _expected(model: dict) -> tuple[dict, list]:
    expected = {line: (kind, []) for line, kind in model["outcomes"].items()}
    for r in model["rejected"]:
        expected[r["line"]] = ("rejected", [_owner_free(m) for m in r["messages"]])
    expected_store = [
        (
            s["id"],
            s["title"],
            s["status"],
            s["start_date"],
            s["end_date"],
            s["training_id"],
            s["teacher_id"],
            s["created_by_import"],
            s["updated_by_import"],
        )
        for s in model["sessions"]
    ]
    return expected, expected_store


def _write_data(path: Path, rows) -> Path:
    oracle.write_rows(path, FIELDS, rows)
    return path


def _check_run(store: StoreInterface, file_report, model: dict, rows, chunk: int) -> None:
    """The run's outcomes (from its journal and rejects), counts and store, as the model's."""
    expected, expected_store = _expected(model)
    journal = store.run_journal(file_report.run_id)
    done = {"create": "created", "update": "updated", "delete": "cancelled"}
    got = {line: ("unchanged", []) for line in expected}
    for entry in journal:
        got[entry["line"]] = (done[entry["op"]], [])
    for r in file_report.rejected:
        assert got[r.line] == ("unchanged", []), "a rejected row changed the store"
        got[r.line] = ("rejected", [_owner_free(m) for m in r.messages])
    assert got == expected, f"chunk {chunk}"
    counts = file_report.counts
    for kind in ("created", "updated", "unchanged", "cancelled", "rejected"):
        assert counts[kind] == sum(1 for k, _ in expected.values() if k == kind), (chunk, kind)
    assert counts["rows"] == len(rows)
    assert observed(store) == expected_store, f"chunk {chunk}"


def _config(tmp: Path, search, full_access):
    config_path = tmp / f"{IMPORT}.xml"
    config_path.write_text(config_text(search, full_access))
    return load_config(config_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=14),
    existing=existing_strategy,
    search=st.sampled_from([["sessionTitle"], ["sessionTitle", "sessionStartDate"]]),
    full_access=st.booleans(),
)
def test_pipeline_equals_the_one_by_one_model_whatever_the_chunk_size(
    rows, existing, search, full_access
):
    seeds = [
        oracle.Session(i, f"G{i}", title, "open", start, None, training, 1, None, owner, owner)
        for i, (title, training, start, owner) in enumerate(existing, start=1)
    ]
    model = oracle.Model(tuple(search), full_access, False, seeds, FIELDS).run(
        [[cells[f] for f in FIELDS] for cells in rows]
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = _config(tmp, search, full_access)
        data = _write_data(tmp / "data.csv", rows)
        for chunk in (1, 2, 3, 5000):
            folder = tmp / f"chunk{chunk}"
            folder.mkdir()
            with empty_store(folder) as store:
                seed_store(store, existing)
                report = run_import(config, store, [data], RunOptions(chunk_rows=chunk))
                (file_report,) = report.files
                _check_run(store, file_report, model, rows, chunk)


def _seeds_of(store: StoreInterface) -> list[oracle.Session]:
    return [
        oracle.Session(**r)
        for r in rows_of(
            store,
            "SELECT id, guid, title, status, start_date, end_date, training_id, teacher_id,"
            " group_id, created_by_import, updated_by_import FROM sessions ORDER BY id",
        )
    ]


# a night's file is the night before's with some rows replaced, moved, dropped or added
edits_strategy = st.lists(
    st.tuples(
        st.integers(0, 13),
        st.one_of(
            st.none(),
            st.just("move"),
            row_strategy,
            row_strategy.map(lambda r: ("insert", r)),
        ),
    ),
    max_size=4,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=12),
    edits=edits_strategy,
    existing=existing_strategy,
    search=st.sampled_from([["sessionTitle"], ["sessionTitle", "sessionStartDate"]]),
    full_access=st.booleans(),
)
def test_the_next_night_counted_by_digest_equals_the_one_by_one_model(
    rows, edits, existing, search, full_access
):
    """The second night reads the first night's digests: every row its digest vouches for is
    counted unchanged without being resolved, and the outcome is still the model's."""
    night2 = list(rows)
    for index, edit in edits:
        i = index % len(night2)
        if edit is None and len(night2) > 1:
            del night2[i]
        elif edit == "move":
            night2.append(night2.pop(i))
        elif isinstance(edit, dict):
            night2[i] = edit
        elif isinstance(edit, tuple):  # a new row before another
            night2.insert(i, edit[1])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = _config(tmp, search, full_access)
        first = _write_data(tmp / "night1.csv", rows)
        second = _write_data(tmp / "night2.csv", night2)
        for chunk in (1, 2, 3, 5000):
            folder = tmp / f"chunk{chunk}"
            folder.mkdir()
            with empty_store(folder) as store:
                seed_store(store, existing)
                run_import(config, store, [first], RunOptions(chunk_rows=chunk))
                # again: the rows it finds unchanged keep their digests
                run_import(config, store, [first], RunOptions(chunk_rows=chunk, force=True))
                model = oracle.Model(tuple(search), full_access, False, _seeds_of(store), FIELDS)
                model.next_id = store.next_id("sessions")
                expected = model.run([[cells[f] for f in FIELDS] for cells in night2])
                options = RunOptions(chunk_rows=chunk, force=True)
                (file_report,) = run_import(config, store, [second], options).files
                _check_run(store, file_report, expected, night2, chunk)
                assert file_report.by_digest <= file_report.counts["unchanged"]
                counts = file_report.counts
                same = night2 == rows and not (existing or counts["created"] or counts["updated"])
                keys = {(r["sessionTitle"], r["trainingPathCode"]) for r in rows}
                if same and search == ["sessionTitle"] and len(keys) == len(rows):
                    # the rows of the nights before, each of its own session, that changed
                    # nothing: each one is counted by its digest (searched by title alone,
                    # no row lacks a field of the search)
                    assert file_report.by_digest == counts["unchanged"], chunk
