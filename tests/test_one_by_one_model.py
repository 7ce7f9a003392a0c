"""Any generated file gives the same store, outcomes and messages as a one-row-at-a-time model.

The model below is written from SPEC §4 alone, over plain dicts, one row at a
time. The real pipeline runs the same file with chunks of 1, 2, 3 and 5000 rows:
batching must change nothing.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_import.config import load_config
from session_import.pipeline import RunOptions, run_import
from session_import.store import Store

IMPORT = "nightly"
FIELDS = ["sessionAction", "trainingPathCode", "sessionTitle", "sessionStatus", "sessionStartDate",
          "sessionEndDate", "teacherLogin"]
MANDATORY = {"sessionAction", "sessionTitle", "teacherLogin"}
TRAININGS = {"TP-1": 1, "TP-2": 2}
USERS = {"u1": 1, "u2": 2}


def config_text(search: list[str], full_access: bool) -> str:
    fields = "".join(f"<{f}/>" for f in FIELDS)
    searched = "".join(f"<{f}/>" for f in search)
    return (f"<actions><createOrUpdateSessionAction><options><sessionSearchField>{searched}"
            f"</sessionSearchField><fullAccess>{'yes' if full_access else 'no'}</fullAccess></options>"
            f"<fields>{fields}</fields></createOrUpdateSessionAction></actions>")


# ---- the model ----


@dataclass
class Session:
    id: int
    title: str
    status: str
    start: str | None
    end: str | None
    training: int
    teacher: int | None
    created_by: str
    updated_by: str


@dataclass
class Model:
    search: list[str]
    full_access: bool
    sessions: dict[int, Session] = field(default_factory=dict)
    next_id: int = 1

    def parse(self, raw: str) -> str | None:
        try:
            return date.fromisoformat(raw).isoformat() if len(raw) == 10 else None
        except ValueError:
            return None

    def row(self, cells: dict[str, str]) -> tuple[str, list[str]]:
        errors: list[str] = []
        for f in FIELDS:
            if f in MANDATORY and cells[f] in ("", "NULL"):
                errors.append(f"Field {f} is empty.")
        code = cells["sessionAction"]
        action = {"": "M", "m": "M", "a": "A"}.get(code.lower())
        if action is None:
            errors.append(f"Invalid sessionAction value: {code}")
        keep = object()
        status = keep
        if cells["sessionStatus"]:
            status = {"open": "open", "closed": "closed"}.get(cells["sessionStatus"].lower())
            if status is None:
                errors.append(f"Invalid sessionStatus value: {cells['sessionStatus']}")
        dates = {}
        for f, label in (("sessionStartDate", "Start"), ("sessionEndDate", "End")):
            raw = cells[f]
            if raw == "":
                dates[f] = keep
            elif raw == "NULL":
                dates[f] = None
            else:
                dates[f] = self.parse(raw)
                if dates[f] is None:
                    errors.append(f"{label} date {raw} not valid.")
                    dates[f] = False
        start, end = dates["sessionStartDate"], dates["sessionEndDate"]
        if isinstance(start, str) and isinstance(end, str) and end < start:
            errors.append(f"End date {cells['sessionEndDate']} is before start date {cells['sessionStartDate']}.")
        code_tp = cells["trainingPathCode"]
        training = None
        if code_tp in ("", "NULL"):
            errors.append("Field trainingPathCode is empty.")
        elif code_tp not in TRAININGS:
            errors.append(f"Training with training path code {code_tp} is not found.")
        else:
            training = TRAININGS[code_tp]
        teacher = keep
        login = cells["teacherLogin"]
        if action != "A" and login not in ("", "NULL"):
            if login in USERS:
                teacher = USERS[login]
            else:
                errors.append(f"Teacher with login {login} is not found.")
        elif login == "NULL":
            teacher = None
        search_values = {f: cells[f] for f in self.search if cells[f] not in ("", "NULL")}
        if action is None or training is None or any(
            f == "sessionStartDate" and dates[f] is False for f in search_values
        ):
            return "rejected", errors
        if not search_values:
            matches = []
        else:
            matches = [s for s in self.sessions.values() if s.training == training and all(
                (s.title == v if f == "sessionTitle" else s.start == dates[f]) for f, v in search_values.items()
            )]
        if len(matches) > 1:
            described = ", ".join(f"{f} {v}" for f, v in search_values.items())
            return "rejected", errors + [f"Session with {described} is duplicated."]
        if not matches:
            if action == "A":
                return "rejected", errors + ["The session to cancel is not found."]
            if errors:
                return "rejected", errors
            self.sessions[self.next_id] = Session(
                self.next_id, cells["sessionTitle"], "open" if status is keep else status,
                None if start is keep else start, None if end is keep else end, training,
                None if teacher is keep else teacher, IMPORT, IMPORT)
            self.next_id += 1
            return "created", []
        found = matches[0]
        if not self.full_access and found.created_by != IMPORT:
            errors.append("Session <guid> was not created by this import and cannot be modified (fullAccess is no).")
        if errors:
            return "rejected", errors
        if action == "A":
            del self.sessions[found.id]
            return "cancelled", []
        new = Session(**vars(found))
        new.title = cells["sessionTitle"] or found.title
        if status is not keep:
            new.status = status
        if start is not keep:
            new.start = start
        if end is not keep:
            new.end = end
        if teacher is not keep:
            new.teacher = teacher
        if (start is keep) != (end is keep) and new.start and new.end and new.end < new.start:
            shown_end = cells["sessionEndDate"] or new.end
            shown_start = cells["sessionStartDate"] or new.start
            return "rejected", [f"End date {shown_end} is before start date {shown_start}."]
        if vars(new) == vars(found):
            return "unchanged", []
        new.updated_by = IMPORT
        self.sessions[found.id] = new
        return "updated", []


# ---- generated files ----

cell = {
    "sessionAction": st.sampled_from(["M", "m", "A", "X", ""]),
    "trainingPathCode": st.sampled_from(["TP-1", "TP-1", "TP-2", "TP-9", ""]),
    "sessionTitle": st.sampled_from(["T1", "T2", "T3", ""]),
    "sessionStatus": st.sampled_from(["", "", "open", "closed", "CLOSED", "bad"]),
    "sessionStartDate": st.sampled_from(["", "2026-01-01", "2026-01-02", "2026-01-03", "NULL", "2026-13-01"]),
    "sessionEndDate": st.sampled_from(["", "", "2026-01-02", "2026-01-04", "NULL", "2026-02-30"]),
    "teacherLogin": st.sampled_from(["u1", "u2", "u2", "nobody", ""]),
}
row_strategy = st.fixed_dictionaries(cell)
existing_strategy = st.lists(
    st.tuples(st.sampled_from(["T1", "T2", "T3"]), st.sampled_from([1, 2]),
              st.sampled_from([None, "2026-01-01", "2026-01-02"]), st.sampled_from([IMPORT, "other"])),
    max_size=4,
)


def seed_store(path: Path, existing) -> None:
    Store(path).close()
    conn = sqlite3.connect(path)
    for code, tid in TRAININGS.items():
        conn.execute("INSERT INTO trainings (id, guid, path_code, title, modality) VALUES (?, ?, ?, ?, 'blended')",
                     (tid, f"TG{tid}", code, code))
    for login, uid in USERS.items():
        conn.execute("INSERT INTO users (id, login) VALUES (?, ?)", (uid, login))
    for i, (title, training, start, owner) in enumerate(existing, start=1):
        conn.execute(
            "INSERT INTO sessions (id, guid, title, status, start_date, training_id, teacher_id,"
            " created_by_import, updated_by_import) VALUES (?, ?, ?, 'open', ?, ?, 1, ?, ?)",
            (i, f"G{i}", title, start, training, owner, owner))
    conn.commit()
    conn.close()


def observed(store_path: Path):
    conn = sqlite3.connect(store_path)
    rows = conn.execute(
        "SELECT id, title, status, start_date, end_date, training_id, teacher_id, created_by_import,"
        " updated_by_import FROM sessions ORDER BY id").fetchall()
    conn.close()
    return [tuple(r) for r in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=14),
    existing=existing_strategy,
    search=st.sampled_from([["sessionTitle"], ["sessionTitle", "sessionStartDate"]]),
    full_access=st.booleans(),
)
def test_pipeline_equals_the_one_by_one_model_whatever_the_chunk_size(rows, existing, search, full_access):
    model = Model(search, full_access)
    for i, (title, training, start, owner) in enumerate(existing, start=1):
        model.sessions[i] = Session(i, title, "open", start, None, training, 1, owner, owner)
    model.next_id = len(existing) + 1
    expected = {line: model.row(cells) for line, cells in enumerate(rows, start=2)}
    expected_store = [
        (s.id, s.title, s.status, s.start, s.end, s.training, s.teacher, s.created_by, s.updated_by)
        for s in sorted(model.sessions.values(), key=lambda s: s.id)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config_path = tmp / f"{IMPORT}.xml"
        config_path.write_text(config_text(search, full_access))
        config = load_config(config_path)
        data = tmp / "data.csv"
        with open(data, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(FIELDS)
            for cells in rows:
                writer.writerow([cells[f] for f in FIELDS])
        seed_store(tmp / "seed.db", existing)
        for chunk in (1, 2, 3, 5000):
            db = tmp / f"chunk{chunk}.db"
            shutil.copy(tmp / "seed.db", db)
            with Store(db) as store:
                report = run_import(config, store, [data], RunOptions(chunk_rows=chunk))
                (file_report,) = report.files
                journal = store.run_journal(file_report.run_id)
            done = {"create": "created", "update": "updated", "delete": "cancelled"}
            got = {line: ("unchanged", []) for line in expected}
            for entry in journal:
                got[entry["line"]] = (done[entry["op"]], [])
            for r in file_report.rejected:
                assert got[r.line] == ("unchanged", []), "a rejected row changed the store"
                got[r.line] = ("rejected", [
                    "Session <guid> was not created by this import and cannot be modified (fullAccess is no)."
                    if "was not created by this import" in m else m for m in r.messages
                ])
            assert got == expected, f"chunk {chunk}"
            counts = file_report.counts
            for kind in ("created", "updated", "unchanged", "cancelled", "rejected"):
                assert counts[kind] == sum(1 for k, _ in expected.values() if k == kind), (chunk, kind)
            assert counts["rows"] == len(rows)
            assert observed(db) == expected_store, f"chunk {chunk}"
