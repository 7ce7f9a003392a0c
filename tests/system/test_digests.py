"""Unchanged rows counted by digest give exactly what a full resolution gives.

Two stores start alike and live the same nights: the nightly file of a snapshot import,
and between nights another import's rows and a hand's edits of the sessions table. One
store's runs read the digests (in chunks of 1, 2, 3 or 5000 rows), the other's resolve
every row (--resolve-all). Night after night the reports, the sessions and the journals
must be the same, GUIDs aside (each store draws its own).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import oracle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stores import empty_store, execute_many, rows_of

from session_import.config import load_config
from session_import.pipeline import RunOptions, run_import
from session_import.store import StoreInterface

FIELDS = tuple(f for f in oracle.FIELDS if f != "groupName") + ("sessionId",)
GUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")

cell = {
    "sessionAction": st.sampled_from(["M", "M", "M", "M", "A", "X"]),
    "trainingPathCode": st.sampled_from(["TP-1", "TP-1", "TP-2", "TP-9"]),
    "sessionTitle": st.sampled_from(["T1", "T2", "T3", "T4", ""]),
    "sessionStatus": st.sampled_from(["", "", "open", "closed"]),
    "sessionStartDate": st.sampled_from(["", "2026-01-01", "2026-01-02", "2026-01-03", "bad"]),
    "sessionEndDate": st.sampled_from(["", "", "2026-01-02", "2026-01-04"]),
    "teacherLogin": st.sampled_from(["", "u1", "u2", "nobody"]),
    "sessionId": st.sampled_from(["", "", "", "1", "2", "3"]),
}
row_strategy = st.fixed_dictionaries(cell)
# what happens between two nights: another import's rows, or a hand's edit of a session
between_strategy = st.one_of(
    st.lists(row_strategy, min_size=1, max_size=3).map(lambda rows: ("other", rows)),
    st.tuples(
        st.just("hand"),
        st.sampled_from(["retitle", "duplicate", "delete"]),
        st.integers(1, 6),
    ),
)
night_strategy = st.tuples(
    st.lists(
        st.tuples(
            st.integers(0, 9),
            st.one_of(st.none(), row_strategy, row_strategy.map(lambda r: ("insert", r))),
        ),
        max_size=3,
    ),
    st.lists(between_strategy, max_size=2),
    st.sampled_from([1, 2, 3, 5000]),
)


def _config(folder: Path, import_id: str, search: list[str], full_access: bool, snapshot: bool):
    options = "".join(f"<{f}/>" for f in search)
    extra = "<missingSessions>cancel</missingSessions><missingScope>all</missingScope>"
    text = (
        "<actions><createOrUpdateSessionAction><options>"
        f"<sessionSearchField>{options}</sessionSearchField>"
        f"<fullAccess>{'yes' if full_access else 'no'}</fullAccess>"
        f"{extra if snapshot else ''}</options><fields>"
        + "".join(f"<{f}/>" for f in FIELDS)
        + "</fields></createOrUpdateSessionAction></actions>"
    )
    safety = "<safety><maxCancel>100%</maxCancel></safety>" if snapshot else ""
    text = f'<import-config><import id="{import_id}">{text}{safety}</import></import-config>'
    path = folder / f"{import_id}.xml"
    path.write_text(text)
    return load_config(path)


def _data(path: Path, rows) -> Path:
    oracle.write_rows(path, FIELDS, rows)
    return path


def _seed(store: StoreInterface) -> None:
    with store.transaction():
        execute_many(
            store,
            "INSERT INTO trainings (id, guid, path_code, title, modality)"
            " VALUES (?, ?, ?, ?, 'blended')",
            [(1, "TG1", "TP-1", "TP-1"), (2, "TG2", "TP-2", "TP-2")],
        )
        execute_many(store, "INSERT INTO users (id, login) VALUES (?, ?)", [(1, "u1"), (2, "u2")])


def _hand(store: StoreInterface, edit: str, n: int) -> None:
    """A hand's edit of the sessions table, outside any run: no journal says it."""
    ids = [r["id"] for r in rows_of(store, "SELECT id FROM sessions ORDER BY id")]
    if not ids:
        return
    target = ids[n % len(ids)]
    with store.transaction():
        if edit == "retitle":
            execute_many(store, "UPDATE sessions SET title = 'T4' WHERE id = ?", [(target,)])
        elif edit == "delete":
            execute_many(store, "DELETE FROM sessions WHERE id = ?", [(target,)])
        else:
            new = max(ids) + 1000
            execute_many(
                store,
                "INSERT INTO sessions (id, guid, title, status, start_date, end_date,"
                " training_id, teacher_id, group_id, created_by_import, updated_by_import)"
                " SELECT ?, ?, title, status, start_date, end_date, training_id,"
                " teacher_id, group_id, created_by_import, updated_by_import FROM sessions"
                " WHERE id = ?",
                [(new, f"HAND{new}", target)],
            )


def _file_view(report) -> list:
    """The report as a user reads it, GUIDs aside, without what says how rows were counted."""
    out = []
    for f in report.to_json()["files"]:
        f.pop("unchanged_by_digest", None)
        f.pop("file", None)
        out.append(json.loads(GUID.sub("<guid>", json.dumps(f))))
    return out


def _sessions(store: StoreInterface) -> list[tuple]:
    return [
        tuple(r.values())
        for r in rows_of(
            store,
            "SELECT id, title, status, start_date, end_date, training_id, teacher_id, group_id,"
            " created_by_import, updated_by_import FROM sessions ORDER BY id",
        )
    ]


def _journal(store: StoreInterface, run_id: int) -> list:
    return json.loads(GUID.sub("<guid>", json.dumps(store.run_journal(run_id))))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(row_strategy, min_size=1, max_size=10),
    nights=st.lists(night_strategy, min_size=1, max_size=3),
    search=st.sampled_from(
        [
            ["sessionTitle"],
            ["sessionTitle", "sessionStartDate"],
            ["sessionStartDate"],
            ["sessionId", "sessionTitle"],
            ["sessionId", "sessionStartDate"],
        ]
    ),
    full_access=st.booleans(),
    snapshot=st.booleans(),
)
def test_nights_counted_by_digest_equal_nights_resolved_in_full(
    first, nights, search, full_access, snapshot
):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nightly = _config(tmp, "nightly", search, full_access, snapshot)
        other = _config(tmp, "other", ["sessionTitle"], True, False)
        stores = tmp / "stores"  # (the template store is made in its parent: tmp)
        stores.mkdir()
        with empty_store(stores, "digests") as fast, empty_store(stores, "full") as full:
            for store in (fast, full):
                _seed(store)
            rows = list(first)
            plan = [([], [], 5000), *nights]
            for number, (edits, between, chunk) in enumerate(plan):
                for index, edit in edits:
                    i = index % len(rows)
                    if edit is None:
                        if len(rows) > 1:
                            del rows[i]
                    elif isinstance(edit, tuple):
                        rows.insert(i, edit[1])
                    else:
                        rows[i] = edit
                data = _data(tmp / f"night{number}.csv", rows)
                by_digest = run_import(
                    nightly, fast, [data], RunOptions(chunk_rows=chunk, force=True, diff=True)
                )
                in_full = run_import(
                    nightly, full, [data], RunOptions(force=True, diff=True, resolve_all=True)
                )
                assert _file_view(by_digest) == _file_view(in_full), f"night {number}"
                assert by_digest.exit_code == in_full.exit_code
                (fast_file,), (full_file,) = by_digest.files, in_full.files
                assert _sessions(fast) == _sessions(full), f"night {number}"
                assert _journal(fast, fast_file.run_id) == _journal(full, full_file.run_id)
                assert full_file.by_digest == 0
                for i, event in enumerate(between):
                    if event[0] == "other":
                        path = _data(tmp / f"other{number}-{i}.csv", event[1])
                        for store in (fast, full):
                            run_import(other, store, [path], RunOptions(force=True))
                    else:
                        for store in (fast, full):
                            _hand(store, event[1], event[2])


def test_the_differential_test_sees_rows_counted_by_digest(tmp_path):
    """The test above compares something: a second night of the same rows counts them by
    digest."""
    rows = [
        dict(zip(FIELDS, ["M", "TP-1", f"T{i}", "", f"2026-01-0{i}", "", "u1", ""], strict=True))
        for i in range(1, 4)
    ]
    nightly = _config(tmp_path, "nightly", ["sessionTitle"], False, False)
    with empty_store(tmp_path) as store:
        _seed(store)
        data = _data(tmp_path / "night.csv", rows)
        run_import(nightly, store, [data], RunOptions())
        run_import(nightly, store, [data], RunOptions(force=True))  # keeps the digests
        (again,) = run_import(nightly, store, [data], RunOptions(force=True)).files
    assert again.counts["unchanged"] == again.by_digest == 3
