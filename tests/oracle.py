"""The oracle of SPEC section 4: one row at a time, over plain Python objects.

Written from the SPEC alone, it is what every batching test compares the pipeline with
(``test_property``, ``test_one_by_one_model``): one model, so two tests cannot disagree
about what a row should do. A field missing from a file's header is an empty cell.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, replace
from datetime import datetime

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


def write_rows(path, fields, rows) -> None:
    """A generated data file: ``fields`` as its header, then each row's cells in that order."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(fields)
        for cells in rows:
            writer.writerow([cells[f] for f in fields])


TRAININGS = {"TP-1": 1, "TP-2": 2}  # path code -> id
USERS = {"u1": 1, "u2": 2, "u3": 3}  # login -> id
GROUPS = ((1, "G1", None), (2, "G2", None), (3, "GD", 1), (4, "GD", 2))  # id, name, parent
LOGINS = {v: k for k, v in USERS.items()}
GROUP_NAMES = {gid: name for gid, name, _ in GROUPS}

SEARCH_ATTR = {"sessionTitle": "title", "sessionStartDate": "start_date"}


class _Keep:
    """An empty optional cell: the stored value stays as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


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


def parse_date(raw: str, timed: bool) -> str | None:
    """The ISO value of a cell in the configured format, or None when it is not a valid date."""
    formats = ("%Y-%m-%d %H:%M", "%Y-%m-%d") if timed else ("%Y-%m-%d",)
    for fmt in formats:
        try:
            value = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return (
            value.date().isoformat() if fmt == "%Y-%m-%d" else value.isoformat(timespec="seconds")
        )
    return None


def has_time(iso: str | None) -> bool:
    return iso is not None and "T" in iso


def end_before_start(end: str, start: str) -> bool:
    """With a time on both sides the instants are compared, else only the days."""
    if has_time(end) and has_time(start):
        return datetime.fromisoformat(end) < datetime.fromisoformat(start)
    return end[:10] < start[:10]


@dataclass
class _Given:
    """A valid row's values: KEEP for an empty optional cell, None for NULL."""

    status: object
    start: object
    end: object
    training: int
    teacher: object
    group: object


def _changed_fields(found: Session, new: Session) -> dict[str, list]:
    """What an update changes, as the report names it: [before, after] per field."""
    fields = {}
    for attr in ("title", "status", "start_date", "end_date"):
        if getattr(found, attr) != getattr(new, attr):
            fields[attr] = [getattr(found, attr), getattr(new, attr)]
    if found.teacher_id != new.teacher_id:
        fields["teacher_login"] = [LOGINS.get(found.teacher_id), LOGINS.get(new.teacher_id)]
    if found.group_id != new.group_id:
        fields["group_name"] = [GROUP_NAMES.get(found.group_id), GROUP_NAMES.get(new.group_id)]
    return fields


class Model:
    def __init__(
        self,
        search_fields: tuple[str, ...],
        full_access: bool,
        timed: bool,
        seeds: list[Session],
        header: list[str],
    ):
        self.search_fields = search_fields
        self.full_access = full_access
        self.timed = timed
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
                self.rejected.append(
                    {"line": line, "values": values, "cells": list(cells), "messages": errors}
                )
            if warnings:
                self.warnings.append({"line": line, "messages": warnings})
        counts = dict.fromkeys(
            ("rows", "created", "updated", "unchanged", "cancelled", "rejected", "warnings"), 0
        )
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
        v = dict.fromkeys(FIELDS, "") | {
            name: cells[i].strip() for i, name in enumerate(self.header)
        }
        errors: list[str] = []

        # 1. validation, in the order of the product: mandatory fields (in <fields> order),
        #    codes, dates, the training fields
        action, status = self._mandatory_and_codes(v, errors)
        dates = self._dates(v, errors)
        code = v["trainingPathCode"]
        if code in ("", "NULL"):
            errors.append("Field trainingPathCode is empty.")
        search, search_ok = self._search(v, dates)

        # 2. look-ups: training, then (not for a cancel) teacher and group
        training = self._training(code, errors)
        teacher: object = KEEP
        group: object = KEEP
        if action != "A":
            teacher = self._teacher(v["teacherLogin"], errors)
            group = self._group(v["groupName"], errors)
        if action is None or training is None or not search_ok:
            return "rejected", errors, [], v

        # 3. the session: the search fields jointly, within the row's training
        matches = self._matches(search, training)
        if len(matches) > 1:
            described = ", ".join(f"{f} {raw}" for f, raw, _ in search)
            errors.append(f"Session with {described} is duplicated.")
            return "rejected", errors, [], v
        given = _Given(
            status,
            dates["sessionStartDate"],
            dates["sessionEndDate"],
            training,
            teacher,
            group,
        )

        # 4. no match: create, or a cancel that finds nothing
        if not matches:
            return self._create(line, v, action, given, errors)
        # 5. one match: ownership, then cancel or update
        return self._cancel_or_update(line, v, action, matches[0], given, errors)

    # -- the steps of one row --

    @staticmethod
    def _mandatory_and_codes(v: dict[str, str], errors: list[str]) -> tuple[str | None, object]:
        """The mandatory fields, then the action (None when invalid) and the status."""
        for name in FIELDS:
            if name in MANDATORY and v[name] in ("", "NULL"):
                errors.append(f"Field {name} is empty.")
        action: str | None = "M"
        if v["sessionAction"]:
            action = {"m": "M", "a": "A"}.get(v["sessionAction"].casefold())
            if action is None:
                errors.append(f"Invalid sessionAction value: {v['sessionAction']}")
        status: object = KEEP
        if v["sessionStatus"]:
            status = {"open": "open", "closed": "closed"}.get(v["sessionStatus"].casefold())
            if status is None:
                errors.append(f"Invalid sessionStatus value: {v['sessionStatus']}")
        return action, status

    def _dates(self, v: dict[str, str], errors: list[str]) -> dict[str, object]:
        """Each date cell: KEEP when empty, None for NULL, the ISO value, or False when invalid."""
        dates: dict[str, object] = {}
        for name, label in (("sessionStartDate", "Start"), ("sessionEndDate", "End")):
            raw = v[name]
            if raw == "":
                dates[name] = KEEP
            elif raw == "NULL":
                dates[name] = None
            else:
                dates[name] = parse_date(raw, self.timed)
                if dates[name] is None:
                    dates[name] = False
                    errors.append(f"{label} date {raw} not valid.")
        start, end = dates["sessionStartDate"], dates["sessionEndDate"]
        if isinstance(start, str) and isinstance(end, str) and end_before_start(end, start):
            errors.append(
                f"End date {v['sessionEndDate']} is before start date {v['sessionStartDate']}."
            )
        return dates

    def _search(
        self, v: dict[str, str], dates: dict[str, object]
    ) -> tuple[list[tuple[str, str, object]], bool]:
        """Each non-empty search cell as (field, raw, value), jointly; NULL counts as empty.
        False when a search date is invalid."""
        search: list[tuple[str, str, object]] = []
        search_ok = True
        for name in self.search_fields:
            raw = v[name]
            if raw in ("", "NULL"):
                continue
            value = raw if name == "sessionTitle" else dates[name]
            search_ok = search_ok and value is not False
            search.append((name, raw, value))
        return search, search_ok

    @staticmethod
    def _training(code: str, errors: list[str]) -> int | None:
        if code in ("", "NULL"):
            return None
        training = TRAININGS.get(code)
        if training is None:
            errors.append(f"Training with training path code {code} is not found.")
        return training

    @staticmethod
    def _teacher(login: str, errors: list[str]) -> object:
        if login == "NULL":
            return None
        if not login:
            return KEEP
        if login not in USERS:
            errors.append(f"Teacher with login {login} is not found.")
            return KEEP
        return USERS[login]

    @staticmethod
    def _group(name: str, errors: list[str]) -> object:
        if name == "NULL":
            return None
        if not name:
            return KEEP
        ids = [gid for gid, gname, _ in GROUPS if gname == name]
        if not ids:
            errors.append(f"Group with name {name} is not found.")
        elif len(ids) > 1:
            errors.append(f"Group with name {name} is duplicated.")
        else:
            return ids[0]
        return KEEP

    def _matches(self, search: list[tuple[str, str, object]], training: int) -> list[Session]:
        if not search:
            return []
        return sorted(
            (
                s
                for s in self.sessions.values()
                if s.training_id == training
                and all(getattr(s, SEARCH_ATTR[f]) == value for f, _, value in search)
            ),
            key=lambda s: s.id,
        )

    def _create(
        self, line: int, v: dict[str, str], action: str, given: _Given, errors: list[str]
    ) -> tuple[str, list[str], list[str], dict]:
        if action == "A":
            errors.append("The session to cancel is not found.")
        if errors:
            return "rejected", errors, [], v
        session = Session(
            id=self.next_id,
            guid=f"L{line}",
            title=v["sessionTitle"],
            status="open" if given.status is KEEP else given.status,
            start_date=None if given.start is KEEP else given.start,
            end_date=None if given.end is KEEP else given.end,
            training_id=given.training,
            teacher_id=None if given.teacher is KEEP else given.teacher,
            group_id=None if given.group is KEEP else given.group,
            created_by_import=IMPORT_ID,
            updated_by_import=IMPORT_ID,
        )
        self.next_id += 1
        self.sessions[session.id] = session
        self._journal(line, "create", None, session)
        return "created", [], self._booked(session), v

    def _cancel_or_update(
        self,
        line: int,
        v: dict[str, str],
        action: str,
        found: Session,
        given: _Given,
        errors: list[str],
    ) -> tuple[str, list[str], list[str], dict]:
        if not self.full_access and found.created_by_import != IMPORT_ID:
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
        return self._update(line, v, found, given)

    def _update(
        self, line: int, v: dict[str, str], found: Session, given: _Given
    ) -> tuple[str, list[str], list[str], dict]:
        new = replace(found, title=v["sessionTitle"])
        for attr, value in (
            ("status", given.status),
            ("start_date", given.start),
            ("end_date", given.end),
            ("teacher_id", given.teacher),
            ("group_id", given.group),
        ):
            if value is not KEEP:
                setattr(new, attr, value)
        date_given = given.start is not KEEP or given.end is not KEEP
        if (
            date_given
            and new.start_date
            and new.end_date
            and end_before_start(new.end_date, new.start_date)
        ):
            shown_end = v["sessionEndDate"] or new.end_date
            shown_start = v["sessionStartDate"] or new.start_date
            return "rejected", [f"End date {shown_end} is before start date {shown_start}."], [], v
        fields = _changed_fields(found, new)
        if not fields:
            return "unchanged", [], [], v
        new.updated_by_import = IMPORT_ID
        self.sessions[new.id] = new
        self._journal(line, "update", found, new)
        self.changes.append({"line": line, "guid": found.guid, "fields": fields})
        rebooked = (new.teacher_id, new.start_date, new.end_date) != (
            found.teacher_id,
            found.start_date,
            found.end_date,
        )
        return "updated", [], self._booked(new) if rebooked else [], v

    def _booked(self, session: Session) -> list[str]:
        """The double-booking warning: the lowest-id other session of the teacher that overlaps."""
        if session.teacher_id is None or not (
            has_time(session.start_date) and has_time(session.end_date)
        ):
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
                return [
                    f"Teacher {login} is already booked on session {other.title} ({other.guid}) at that time."
                ]
        return []

    def _journal(self, line: int, op: str, before: Session | None, after: Session | None) -> None:
        self.journal.append(
            {
                "line": line,
                "table": "sessions",
                "op": op,
                "id": (after or before).id,
                "guid": (after or before).guid,
                "before": asdict(before) if before else None,
                "after": asdict(after) if after else None,
            }
        )
