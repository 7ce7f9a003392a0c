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
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings, target
from hypothesis import strategies as st

from session_import.config import load_config
from session_import.pipeline import RunOptions, run_import
from session_import.store import Store

IMPORT_ID = "nightly"
OTHER_IMPORT = "hr-legacy"

# <fields> in this order; the data file's header may put them in any order
FIELDS = (
    "sessionAction",
    "trainingPathCode",
    "sessionTitle",
    "sessionStatus",
    "sessionStartDate",
    "sessionEndDate",
    "teacherLogin",
    "groupName",
)
MANDATORY = ("sessionAction", "sessionTitle", "teacherLogin")

TRAININGS = {"TP-1": 1, "TP-2": 2}  # path code -> id
USERS = {"u1": 1, "u2": 2, "u3": 3}  # login -> id
GROUPS = ((1, "G1", None), (2, "G2", None), (3, "GD", 1), (4, "GD", 2))  # id, name, parent
LOGINS = {v: k for k, v in USERS.items()}
GROUP_NAMES = {gid: name for gid, name, _ in GROUPS}

SEARCHES = {
    "title": ("sessionTitle",),
    "title+start": ("sessionTitle", "sessionStartDate"),
    "start": ("sessionStartDate",),
}
SEARCH_ATTR = {"sessionTitle": "title", "sessionStartDate": "start_date"}

CHUNKS = (1, 2, 3)
BIG_CHUNK = 5000


class _Keep:
    """An empty optional cell: the stored value stays as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


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


@dataclass
class Session:
    """One row of the sessions table, as the model holds it (same columns as the store)."""

    id: int
    guid: str
    title: str
    status: str
    start_date: str | None
    end_date: str | None
    training_id: int
    teacher_id: int | None
    group_id: int | None
    created_by_import: str | None
    updated_by_import: str | None


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
    path = _WORK / f"cfg-{variant.search}-{int(variant.full_access)}-{int(variant.timed)}" / "sessions.xml"
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


def run_product(variant: Variant, seeds: list[Session], header: list[str], rows: list[list[str]],
                chunk: int) -> dict:
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
                dict(zip([d[0] for d in cur.description], row))
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
            {k: e[k] for k in ("line", "table", "op", "id", "guid", "before", "after")} for e in journal
        ],
        "sessions": table,
    }
    return _normalise(result, guids)


# ---------------------------------------------------------------------------
# the model: SPEC section 4, one row at a time, over plain Python objects
# ---------------------------------------------------------------------------


def parse_date(raw: str, timed: bool) -> str | None:
    """The ISO value of a cell in the configured format, or None when it is not a valid date."""
    formats = ("%Y-%m-%d %H:%M", "%Y-%m-%d") if timed else ("%Y-%m-%d",)
    for fmt in formats:
        try:
            value = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return value.date().isoformat() if fmt == "%Y-%m-%d" else value.isoformat(timespec="seconds")
    return None


def has_time(iso: str | None) -> bool:
    return iso is not None and "T" in iso


def end_before_start(end: str, start: str) -> bool:
    """With a time on both sides the instants are compared, else only the days."""
    if has_time(end) and has_time(start):
        return datetime.fromisoformat(end) < datetime.fromisoformat(start)
    return end[:10] < start[:10]


class Model:
    def __init__(self, variant: Variant, seeds: list[Session], header: list[str]):
        self.variant = variant
        self.header = header
        self.sessions: dict[int, Session] = {s.id: replace(s) for s in seeds}
        self.next_id = max((s.id for s in seeds), default=0) + 1
        self.outcomes: dict[int, str] = {}
        self.rejected: list[dict] = []
        self.warnings: list[dict] = []
        self.changes: list[dict] = []
        self.journal: list[dict] = []

    # -- the whole file --

    def run(self, rows: list[list[str]]) -> dict:
        for line, cells in enumerate(rows, start=2):
            kind, errors, warnings, values = self.row(line, cells)
            self.outcomes[line] = kind
            if kind == "rejected":
                self.rejected.append({"line": line, "values": values, "cells": list(cells),
                                      "messages": errors})
            if warnings:
                self.warnings.append({"line": line, "messages": warnings})
        counts = dict.fromkeys(("rows", "created", "updated", "unchanged", "cancelled", "rejected",
                                "warnings"), 0)
        counts["rows"] = len(rows)
        for kind in self.outcomes.values():
            counts[kind] += 1
        counts["warnings"] = sum(len(w["messages"]) for w in self.warnings)
        rejected = counts["rejected"]
        exit_code = 3 if rejected and rejected == len(rows) else 1 if rejected else 0
        return {
            "counts": counts,
            "exit_code": exit_code,
            "outcomes": self.outcomes,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "changes": self.changes,
            "journal": self.journal,
            "sessions": [asdict(s) for s in sorted(self.sessions.values(), key=lambda s: s.id)],
        }

    # -- one row --

    def row(self, line: int, cells: list[str]) -> tuple[str, list[str], list[str], dict]:
        width = len(self.header)
        if len(cells) < width or any(c.strip() for c in cells[width:]):
            columns = "column" if len(cells) == 1 else "columns"
            return "rejected", [f"Line has {len(cells)} {columns}, {width} expected."], [], {}
        v = {name: cells[i].strip() for i, name in enumerate(self.header)}
        errors: list[str] = []

        # 1. validation, in the order of the product: mandatory fields (in <fields> order),
        #    codes, dates, the training fields
        for name in FIELDS:
            if name in MANDATORY and v[name] in ("", "NULL"):
                errors.append(f"Field {name} is empty.")
        action = "M"
        if v["sessionAction"]:
            action = {"m": "M", "a": "A"}.get(v["sessionAction"].casefold())
            if action is None:
                errors.append(f"Invalid sessionAction value: {v['sessionAction']}")
        status: object = KEEP
        if v["sessionStatus"]:
            status = {"open": "open", "closed": "closed"}.get(v["sessionStatus"].casefold())
            if status is None:
                errors.append(f"Invalid sessionStatus value: {v['sessionStatus']}")
        dates: dict[str, object] = {}
        for name, label in (("sessionStartDate", "Start"), ("sessionEndDate", "End")):
            raw = v[name]
            if raw == "":
                dates[name] = KEEP
            elif raw == "NULL":
                dates[name] = None
            else:
                dates[name] = parse_date(raw, self.variant.timed)
                if dates[name] is None:
                    dates[name] = False
                    errors.append(f"{label} date {raw} not valid.")
        start, end = dates["sessionStartDate"], dates["sessionEndDate"]
        if isinstance(start, str) and isinstance(end, str) and end_before_start(end, start):
            errors.append(f"End date {v['sessionEndDate']} is before start date {v['sessionStartDate']}.")
        code = v["trainingPathCode"]
        if code in ("", "NULL"):
            errors.append("Field trainingPathCode is empty.")

        # the search: each non-empty search cell, jointly; NULL counts as empty
        search: list[tuple[str, str, object]] = []  # (field, raw, value)
        search_ok = True
        for name in self.variant.search_fields:
            raw = v[name]
            if raw in ("", "NULL"):
                continue
            value = raw if name == "sessionTitle" else dates[name]
            search_ok = search_ok and value is not False
            search.append((name, raw, value))

        # 2. look-ups: training, then (not for a cancel) teacher and group
        training = None
        if code not in ("", "NULL"):
            training = TRAININGS.get(code)
            if training is None:
                errors.append(f"Training with training path code {code} is not found.")
        teacher: object = KEEP
        group: object = KEEP
        if action != "A":
            login = v["teacherLogin"]
            if login == "NULL":
                teacher = None
            elif login:
                if login in USERS:
                    teacher = USERS[login]
                else:
                    errors.append(f"Teacher with login {login} is not found.")
            name = v["groupName"]
            if name == "NULL":
                group = None
            elif name:
                ids = [gid for gid, gname, _ in GROUPS if gname == name]
                if not ids:
                    errors.append(f"Group with name {name} is not found.")
                elif len(ids) > 1:
                    errors.append(f"Group with name {name} is duplicated.")
                else:
                    group = ids[0]
        if action is None or training is None or not search_ok:
            return "rejected", errors, [], v

        # 3. the session: the search fields jointly, within the row's training
        matches = []
        if search:
            matches = sorted(
                (s for s in self.sessions.values()
                 if s.training_id == training
                 and all(getattr(s, SEARCH_ATTR[f]) == value for f, _, value in search)),
                key=lambda s: s.id,
            )
        if len(matches) > 1:
            described = ", ".join(f"{f} {raw}" for f, raw, _ in search)
            errors.append(f"Session with {described} is duplicated.")
            return "rejected", errors, [], v
        found = matches[0] if matches else None

        # 4. no match: create, or a cancel that finds nothing
        if found is None:
            if action == "A":
                errors.append("The session to cancel is not found.")
            if errors:
                return "rejected", errors, [], v
            session = Session(
                id=self.next_id,
                guid=f"L{line}",
                title=v["sessionTitle"],
                status="open" if status is KEEP else status,
                start_date=None if start is KEEP else start,
                end_date=None if end is KEEP else end,
                training_id=training,
                teacher_id=None if teacher is KEEP else teacher,
                group_id=None if group is KEEP else group,
                created_by_import=IMPORT_ID,
                updated_by_import=IMPORT_ID,
            )
            self.next_id += 1
            self.sessions[session.id] = session
            self._journal(line, "create", None, session)
            return "created", [], self._booked(session), v

        # 5. one match: ownership, then cancel or update
        if not self.variant.full_access and found.created_by_import != IMPORT_ID:
            errors.append(
                f"Session {found.guid} was not created by this import and cannot be modified "
                "(fullAccess is no)."
            )
        if errors:
            return "rejected", errors, [], v
        if action == "A":
            del self.sessions[found.id]
            self._journal(line, "delete", found, None)
            return "cancelled", [], [], v
        new = replace(found, title=v["sessionTitle"])
        for attr, value in (("status", status), ("start_date", start), ("end_date", end),
                            ("teacher_id", teacher), ("group_id", group)):
            if value is not KEEP:
                setattr(new, attr, value)
        date_given = start is not KEEP or end is not KEEP
        if date_given and new.start_date and new.end_date and end_before_start(new.end_date, new.start_date):
            shown_end = v["sessionEndDate"] or new.end_date
            shown_start = v["sessionStartDate"] or new.start_date
            return "rejected", [f"End date {shown_end} is before start date {shown_start}."], [], v
        fields = {}
        for attr in ("title", "status", "start_date", "end_date"):
            if getattr(found, attr) != getattr(new, attr):
                fields[attr] = [getattr(found, attr), getattr(new, attr)]
        if found.teacher_id != new.teacher_id:
            fields["teacher_login"] = [LOGINS.get(found.teacher_id), LOGINS.get(new.teacher_id)]
        if found.group_id != new.group_id:
            fields["group_name"] = [GROUP_NAMES.get(found.group_id), GROUP_NAMES.get(new.group_id)]
        if not fields:
            return "unchanged", [], [], v
        new.updated_by_import = IMPORT_ID
        self.sessions[new.id] = new
        self._journal(line, "update", found, new)
        self.changes.append({"line": line, "guid": found.guid, "fields": fields})
        rebooked = (new.teacher_id, new.start_date, new.end_date) != (
            found.teacher_id, found.start_date, found.end_date)
        return "updated", [], self._booked(new) if rebooked else [], v

    def _booked(self, session: Session) -> list[str]:
        """The double-booking warning: the lowest-id other session of the teacher that overlaps."""
        if session.teacher_id is None or not (has_time(session.start_date) and has_time(session.end_date)):
            return []
        for other in sorted(self.sessions.values(), key=lambda s: s.id):
            if (
                other.id != session.id
                and other.teacher_id == session.teacher_id
                and has_time(other.start_date)
                and has_time(other.end_date)
                and other.start_date < session.end_date
                and session.start_date < other.end_date
            ):
                login = LOGINS[session.teacher_id]
                return [f"Teacher {login} is already booked on session {other.title} ({other.guid}) at that time."]
        return []

    def _journal(self, line: int, op: str, before: Session | None, after: Session | None) -> None:
        self.journal.append({
            "line": line,
            "table": "sessions",
            "op": op,
            "id": (after or before).id,
            "guid": (after or before).guid,
            "before": asdict(before) if before else None,
            "after": asdict(after) if after else None,
        })


def run_model(variant: Variant, seeds: list[Session], header: list[str], rows: list[list[str]]) -> dict:
    return Model(variant, seeds, header).run(rows)


# ---------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------

_ASPECTS = ("counts", "exit_code", "outcomes", "rejected", "warnings", "changes", "journal", "sessions")


def assert_same(actual: dict, expected: dict, what: str) -> None:
    for aspect in _ASPECTS:
        assert actual[aspect] == expected[aspect], f"{what}: {aspect} differ"


def check_file(variant: Variant, seeds: list[Session], header: list[str], rows: list[list[str]],
               chunks=CHUNKS) -> dict:
    """Run every chunk size, compare them with the big chunk, then the big chunk with the model."""
    big = run_product(variant, seeds, header, rows, BIG_CHUNK)
    for chunk in chunks:
        small = run_product(variant, seeds, header, rows, chunk)
        assert_same(small, big, f"chunk_rows={chunk} vs chunk_rows={BIG_CHUNK}")
    assert_same(big, run_model(variant, seeds, header, rows), f"chunk_rows={BIG_CHUNK} vs the model")
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
    ("", ""), ("", ""), ("2026-03-01", ""), ("", "2026-03-02"), ("2026-03-01", "2026-03-01"),
    ("2026-03-01", "2026-03-02"), ("2026-03-02", "2026-03-05"), ("2026-03-05", "2026-03-02"),
    ("NULL", ""), ("2026-03-02", "NULL"), ("", "2026-03-01"),
)
BAD_DAY_DATES = ("2026-02-30", "2026-03-01 09:00", "01/03/2026")
GOOD_TIMED_DATES = (
    ("", ""), ("", ""), ("", ""), ("", ""), ("2026-03-01 09:00", "2026-03-01 11:00"), ("2026-03-01 10:00", "2026-03-01 12:00"),
    ("2026-03-01 11:00", "2026-03-02 09:00"), ("2026-03-01 09:00", "2026-03-01 10:00"),
    ("2026-03-01 09:00", ""), ("", "2026-03-01 12:00"), ("2026-03-01", "2026-03-01 12:00"),
    ("2026-03-01", "2026-03-02"), ("2026-03-01 12:00", "2026-03-01 10:00"), ("NULL", ""),
    ("2026-03-01 10:00", "NULL"), ("", "2026-03-01 10:00"),
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
        seeds.append(Session(
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
        ))
    return seeds


@st.composite
def data_rows(draw, header: list[str], timed: bool) -> list[list[str]]:
    good = dict(GOOD)
    # a file uses a few of the titles only, so that its rows meet the same sessions
    good["sessionTitle"] = tuple(draw(st.lists(st.sampled_from(TITLES), min_size=1, max_size=4, unique=True)))
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


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_any_file_matches_the_one_by_one_model_whatever_the_chunks(scenario):
    variant, seeds, header, rows = scenario
    note(f"variant={variant}")
    note("seeds=" + repr([asdict(s) for s in seeds]))
    note("file:\n" + csv_text(header, rows))
    result = check_file(variant, seeds, header, rows)
    # steer generation towards files whose rows interact: updates, cancels, double bookings
    target(float(result["counts"]["warnings"]), label="warnings")
    target(float(result["counts"]["updated"] + result["counts"]["cancelled"]), label="updates and cancels")


@st.composite
def booking_scenarios(draw):
    """Valid rows only, with times: what matters is which sessions a teacher holds when."""
    variant = Variant(draw(st.sampled_from(("title", "title+start"))), True, True)
    times = ("2026-03-01T09:00:00", "2026-03-01T10:00:00", "2026-03-01T11:00:00", "2026-03-01T12:00:00")
    seeds = []
    for i in range(1, draw(st.integers(0, 4)) + 1):
        start, end = sorted(draw(st.lists(st.sampled_from(times), min_size=2, max_size=2, unique=True)))
        seeds.append(Session(i, seed_guid(i), draw(st.sampled_from(TITLES)), "open", start, end,
                             1, draw(st.sampled_from((1, 2))), None, IMPORT_ID, IMPORT_ID))
    titles = ("Alpha", "Beta")
    cell_times = [t.replace("T", " ")[:16] for t in times]
    rows = []
    for _ in range(draw(st.integers(2, 8))):
        if draw(st.booleans()):
            start = end = ""
        else:
            start, end = sorted(draw(st.lists(st.sampled_from(cell_times), min_size=2, max_size=2,
                                              unique=True)))
        rows.append([draw(st.sampled_from(("M", "M", "A"))), "TP-1", draw(st.sampled_from(titles)),
                     "", start, end, draw(st.sampled_from(("u1", "u2"))), ""])
    return variant, seeds, list(FIELDS), rows


@settings(max_examples=500, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
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


def row(action="M", code="TP-1", title="Alpha", status="", start="", end="", teacher="u1",
        group="") -> list[str]:
    return [action, code, title, status, start, end, teacher, group]


def seed(i, title, *, training=1, start=None, end=None, teacher=None, creator=IMPORT_ID) -> Session:
    return Session(i, seed_guid(i), title, "open", start, end, training, teacher, None, creator, creator)


def run_example(variant: Variant, seeds: list[Session], rows: list[list[str]]) -> dict:
    return check_file(variant, seeds, HEADER, rows, chunks=(1,))


def messages(result: dict) -> dict[int, list[str]]:
    return {r["line"]: r["messages"] for r in result["rejected"]}


def test_a_row_updates_the_session_an_earlier_row_of_the_same_chunk_created():
    result = run_example(
        Variant("title", False, False), [],
        [row(), row(status="closed", start="2026-03-01"), row(status="closed", start="2026-03-01")],
    )
    assert result["outcomes"] == {2: "created", 3: "updated", 4: "unchanged"}
    [session] = result["sessions"]
    assert (session["guid"], session["status"], session["start_date"]) == ("L2", "closed", "2026-03-01")


def test_cancel_then_create_again_gives_a_new_session_with_a_new_id():
    result = run_example(
        Variant("title", False, False), [seed(1, "Alpha")],
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
    return (f"Session {seed_guid(session_id)} was not created by this import and cannot be "
            "modified (fullAccess is no).")


def test_seeded_duplicates_and_ownership():
    seeds = [seed(1, "Alpha"), seed(2, "Alpha"), seed(3, "Beta", creator=OTHER_IMPORT),
             seed(4, "Gamma", creator=None)]
    rows = [row(), row(title="Beta", status="closed"), row(title="Gamma", teacher="ghost"),
            row(title="Alpha", code="TP-2")]
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
    rows = [row(start="2026-03-01"), row(title="Beta", start="2026-03-01"),
            row(title="Beta", start="2026-03-01"), row(title="Alpha", start="2026-03-01", status="closed")]
    result = run_example(Variant("start", False, False), [], rows)
    assert result["outcomes"] == {2: "created", 3: "updated", 4: "unchanged", 5: "updated"}
    assert [c["fields"] for c in result["changes"]] == [
        {"title": ["Alpha", "Beta"]}, {"title": ["Beta", "Alpha"], "status": ["open", "closed"]}]


def test_a_session_whose_start_was_reset_is_no_longer_found_by_it():
    rows = [row(start="2026-03-01"), row(start="NULL"), row(start="2026-03-01"), row(status="closed")]
    result = run_example(Variant("title+start", False, False), [], rows)
    assert result["outcomes"] == {2: "created", 3: "updated", 4: "created", 5: "rejected"}
    assert messages(result) == {5: ["Session with sessionTitle Alpha is duplicated."]}


def test_one_date_on_an_update_is_checked_against_the_stored_other():
    rows = [row(start="2026-03-02", end="2026-03-05"), row(end="2026-03-01"), row(start="2026-03-06")]
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
        {"line": 3, "messages": [f"Teacher u2 is already booked on session Beta ({seed_guid(1)}) at that time."]}
    ]


def test_double_booking_seen_through_times_an_earlier_row_of_the_chunk_changed():
    # Alpha is stored for u1 at 14:00-15:00; line 2 moves it to 09:00-11:00, line 3 gives
    # it to u2 (times kept), who teaches the seeded Beta at 10:00-12:00.
    seeds = [seed(1, "Alpha", start="2026-03-01T14:00:00", end="2026-03-01T15:00:00", teacher=1),
             seed(2, "Beta", start="2026-03-01T10:00:00", end="2026-03-01T12:00:00", teacher=2)]
    rows = [row(start="2026-03-01 09:00", end="2026-03-01 11:00"), row(teacher="u2")]
    result = run_example(Variant("title", False, True), seeds, rows)
    assert result["warnings"] == [
        {"line": 3, "messages": [f"Teacher u2 is already booked on session Beta ({seed_guid(2)}) at that time."]}
    ]


def test_a_session_cancelled_earlier_in_the_chunk_books_nobody():
    # Line 2 cancels Beta (u2, 10:00-12:00); line 3 creates Alpha for u1 at 09:00-11:00;
    # line 4 gives Alpha to u2, keeping its times: Beta is gone, so no warning.
    seeds = [seed(1, "Beta", start="2026-03-01T10:00:00", end="2026-03-01T12:00:00", teacher=2)]
    rows = [row(action="A", title="Beta", teacher="u2"),
            row(start="2026-03-01 09:00", end="2026-03-01 11:00"), row(teacher="u2")]
    result = run_example(Variant("title", False, True), seeds, rows)
    assert result["outcomes"] == {2: "cancelled", 3: "created", 4: "updated"}
    assert result["warnings"] == []


@pytest.mark.parametrize("shape, message", [
    (lambda cells: cells[:-1], "Line has 7 columns, 8 expected."),
    (lambda cells: cells + ["x"], "Line has 9 columns, 8 expected."),
    (lambda cells: cells + [""], None),
])
def test_rows_of_the_wrong_width(shape, message):
    result = run_example(Variant("title", False, False), [], [shape(row())])
    if message is None:
        assert result["outcomes"] == {2: "created"}
    else:
        assert result["rejected"][0]["messages"] == [message]
        assert result["rejected"][0]["values"] == {}
