"""Unchanged rows skipped by digest: a nightly snapshot is mostly last night's file again.

A committed run keeps, for each session row it applied without an issue (created,
updated or unchanged), by the key of the row's search and training cells: a digest of
every cell the row holds (and of the configuration and code that read it), the session
the row came to and a digest of that session's record as the row left it, the criteria
its search used, its training and start date, and the run (the store's
``import_digests``).

A later row with the same key and digest is counted unchanged, without validation or
look-up, only when a full resolution could not give anything else:

- the session's record is still the one the digest names (nothing changed it since, a
  run or a hand);
- no training, user or group that the action looks up changed after the digest's run
  (the journal says when each table last changed);
- no other session holds the row's criteria: the criteria that several sessions share
  are read once when the action starts;
- no earlier row of the chunk, resolved in full, gives or keeps every one of the
  criteria's values: only such a row could have changed the session (its search found
  it) or given another session the same criteria (a row's search uses every search cell
  it gives, and a row that creates gives them all).

Rows of earlier chunks need no watch: what they changed is in the records the next chunk
reads, and none of them could have given a second session the criteria of a first one
that exists (its search would have found the first one instead).

Re-applying a row whose session it left as it is changes nothing and warns of nothing
(a double booking is looked for only when a session is created or moved), so under
those conditions the outcome is the full resolution's: unchanged, with no issue.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Iterable
from dataclasses import astuple, replace
from functools import cache
from itertools import chain

from session_import.catalog import CANCEL
from session_import.config import ActionConfig, ProviderConfig
from session_import.mapping import MappedRow
from session_import.model import KEEP, RowKind, RowOutcome, SessionInput, SessionRecord
from session_import.store import StoreInterface
from session_import.validate import SEARCH_ATTRS, TRAINING_LABELS

# the criteria that name one session at most, whatever else the store holds
_UNIQUE = frozenset(("guid", "id"))
_OUTCOMES = (RowKind.CREATED, RowKind.UPDATED, RowKind.UNCHANGED)


def _hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def record_digest(record: SessionRecord) -> bytes:
    return _hash(repr(astuple(record)))


@cache
def _code_digest() -> str:
    """The code that reads and resolves a row: a digest made by another version of it is
    not trusted."""
    from session_import import bookings, dates, index, mapping, messages, resolve, validate

    modules = (bookings, dates, index, mapping, messages, resolve, validate)
    return _hash("".join(inspect.getsource(m) for m in modules)).hex()


def _fingerprint(action: ActionConfig, provider: ProviderConfig, import_id: str) -> str:
    """What reads a row, as text: the code, and the action's configuration without what
    does not change a row's outcome (the lines it is written on, the snapshot options)."""
    fields = tuple(replace(spec, line=0) for spec in action.fields)
    read = replace(action, fields=fields, line=0, snapshot=None)
    return repr((_code_digest(), import_id, read, provider.date_format, provider.timezone))


def _value(data: SessionInput, attr: str):
    """What a row makes of a session attribute it could match on: the value it gives, or
    KEEP (whatever the session holds: a row without a GUID may find any session by its
    other search fields)."""
    if attr == "title":
        return data.title
    if attr == "start_date":
        return data.start
    if attr == "end_date":
        return data.end
    return data.criteria.get(attr, KEEP)


def _cells(values: dict) -> list:
    """A row's cells as the validator reads them (a workbook's date cell by its date)."""
    return [(name, value, getattr(value, "value", None)) for name, value in sorted(values.items())]


class _ChunkWatch:
    """The chunk's rows resolved in full so far, by what they can make sessions hold."""

    _ATTRS = ("title", "start_date", "end_date", "guid", "id")

    def __init__(self) -> None:
        self.by_value: dict[tuple[str, object], list[SessionInput]] = {}
        self.keeping: dict[str, list[SessionInput]] = {}

    def add(self, data: SessionInput) -> None:
        for attr in self._ATTRS:
            value = _value(data, attr)
            if value is KEEP:
                self.keeping.setdefault(attr, []).append(data)
            elif value is not None:
                self.by_value.setdefault((attr, value), []).append(data)

    def threatens(self, criteria: dict) -> bool:
        """Whether an earlier row gives or keeps every one of these criteria's values."""
        first, value = next(iter(criteria.items()))
        for data in chain(self.by_value.get((first, value), ()), self.keeping.get(first, ())):
            if all((v := _value(data, a)) is KEEP or v == wanted for a, wanted in criteria.items()):
                return True
        return False


class Skipped:
    """A row counted unchanged by its digest: what the run still needs of it."""

    __slots__ = ("session_id", "guid", "training_id", "start")

    def __init__(self, session_id: int, guid: str, training_id: int | None, start: str | None):
        self.session_id = session_id
        self.guid = guid
        self.training_id = training_id
        self.start = start

    def outcome(self, line: int) -> RowOutcome:
        return RowOutcome(line, RowKind.UNCHANGED, [], guid=self.guid)


class DigestGate:
    """One session action's digests over one file: ``load`` a chunk, ask ``skip`` for each
    row in file order (``full`` for those resolved in full), ``resolved`` after each
    of those, then ``done`` once the chunk's changes are applied."""

    def __init__(
        self,
        action: ActionConfig,
        provider: ProviderConfig,
        import_id: str,
        store: StoreInterface,
        run_id: int,
        *,
        read: bool,
        write: bool,
    ):
        self.import_id = import_id
        self.store = store
        self.run_id = run_id
        self.fingerprint = _fingerprint(action, provider, import_id)
        training_fields = tuple(f for f in action.field_names if f in TRAINING_LABELS)
        self.key_fields = tuple(action.search_fields) + training_fields
        # the attributes of the search that several sessions can share, and the training
        shared = sorted({SEARCH_ATTRS[f] for f in action.search_fields} - _UNIQUE)
        self.shared = frozenset(shared)
        self.columns = tuple(shared) + (("training_id",) if training_fields else ())
        self.write = write
        self.read = read and store.has_digests(import_id)
        self.reference_run = 0
        self.duplicated: set[tuple] = set()
        if self.read:
            changed = store.reference_changes()
            used = [
                table
                for table, fields in (
                    ("trainings", training_fields),
                    ("users", ("teacherLogin",)),
                    ("groups", ("groupName", "groupGuid")),
                )
                if any(f in action.field_names for f in fields)
            ]
            self.reference_run = max((changed[t] for t in used), default=0)
            if self.shared:
                self.duplicated = store.duplicated_sessions(self.columns)
        self.count = 0  # rows skipped
        self._rows: dict[int, tuple[bytes, bytes]] = {}  # line -> (key, digest)
        self._trusted: dict[int, tuple] = {}  # line -> the stored digest, record checked
        self._watch = _ChunkWatch()
        self._new: list[tuple] = []

    # ---- a chunk ----

    def load(self, rows: Iterable[MappedRow]) -> None:
        """The chunk's keys and digests, the stored digests of those keys, and the records
        of their sessions: three look-ups in bulk."""
        self._watch = _ChunkWatch()
        self._trusted = {}
        keyed = self._rows = {}
        if not self.read and not self.write:
            return
        fingerprint, key_fields = self.fingerprint, self.key_fields
        for row in rows:
            values = row.values
            key = _hash(repr([values.get(f, "") for f in key_fields]))
            keyed[row.line] = (
                key,
                _hash(fingerprint + repr((_cells(values), row.repeated))),
            )
        if not self.read or not keyed:
            return
        stored = self.store.digests_of(self.import_id, [k for k, _ in keyed.values()])
        matching = {
            line: stored[key]
            for line, (key, digest) in keyed.items()
            if key in stored and bytes(stored[key][0]) == digest
        }
        if not matching:
            return
        ids = {found[1] for found in matching.values()}
        records = {r.id: r for r in self.store.sessions_by("id", ids)}
        for line, found in matching.items():
            record = records.get(found[1])
            if (
                record is not None
                and bytes(found[2]) == record_digest(record)
                and found[6] >= self.reference_run
            ):
                self._trusted[line] = (*found, record.guid)

    def skip(self, row: MappedRow) -> Skipped | None:
        found = self._trusted.get(row.line)
        if found is None:
            return None
        _, session_id, _, training_id, criteria_text, start, _, guid = found
        pairs = json.loads(criteria_text)
        criteria = {a: v for a, v in pairs if a != "training_id"}
        if not (criteria.keys() & _UNIQUE):
            values = dict(pairs)
            shared = tuple(values.get(c) for c in self.columns)
            if shared in self.duplicated:
                return None
        if self._watch.threatens(criteria):
            return None
        self.count += 1
        return Skipped(session_id, guid, training_id, start)

    def full(self, data: SessionInput) -> None:
        """A row of the chunk that is resolved in full (it was not skipped)."""
        self._watch.add(data)

    def resolved(
        self,
        data: SessionInput,
        outcome: RowOutcome,
        record: SessionRecord | None,
        criteria: dict | None,
    ) -> None:
        """A row resolved in full: its digest, if it came out with no issue and its search
        is one whose other matches this gate can tell."""
        if (
            not self.write
            or record is None
            or criteria is None
            or outcome.issues
            or outcome.kind not in _OUTCOMES
            or data.action == CANCEL
        ):
            return
        attrs = criteria.keys() - {"training_id"}
        if not attrs or not (attrs & _UNIQUE or attrs == self.shared):
            return
        key, digest = self._rows[data.line]
        start = data.start if data.start.__class__ is str else None
        self._new.append(
            (
                key,
                digest,
                record.id,
                record_digest(record),
                criteria.get("training_id"),
                json.dumps(list(criteria.items())),
                start,
            )
        )

    def done(self) -> None:
        """After the chunk's changes were applied: its digests, in the file's transaction."""
        if self._new:
            self.store.save_digests(self.import_id, self.run_id, self._new)
            self._new = []
