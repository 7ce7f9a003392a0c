"""Unchanged rows skipped by digest: a nightly snapshot is mostly last night's file again.

A committed run keeps, for each session row it resolved in full and found unchanged
(without an issue), by the key of the row's search and training cells: one digest of
every cell the row holds (with the configuration and code that read it) and of its
session's record, that session, the criteria its search used (as bits) and the run (the
store's ``import_digests``). Rows that create or update are not kept: a create night pays
nothing for the digests (writing one costs as much as a fifth of the create's own work
per row), and such a row is kept the next night it comes out unchanged.

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
from dataclasses import fields, replace
from functools import cache
from itertools import chain
from operator import attrgetter

from session_import.config import ActionConfig, ProviderConfig
from session_import.mapping import ColumnMap, MappedRow
from session_import.model import KEEP, RowKind, RowOutcome, SessionInput, SessionRecord
from session_import.store import StoreInterface
from session_import.validate import SEARCH_ATTRS, TRAINING_LABELS

# the criteria that name one session at most, whatever else the store holds
_UNIQUE = frozenset(("guid", "id"))
# the criteria a row's search used, as the bits of a digest's ``criteria`` (each criterion
# is the session column of the same name)
_CRITERIA = ((1, "guid"), (2, "id"), (4, "title"), (8, "start_date"), (16, "end_date"))
_CRITERIA_BITS = 31
# bits -> the criteria's attributes, in the order a row's search uses them
_ATTRS_OF = {bits: tuple(a for bit, a in _CRITERIA if bits & bit) for bits in range(1, 32)}
_UNIQUE_BITS = 1 | 2
_START_GIVEN = 32  # the row gave a start date (the page's chart counts it by that date)


def _hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _key(text: str) -> int:
    """A signed 64-bit key: the digests' primary key stays small (and fits a BIGINT)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_RECORD_VALUES = attrgetter(*(f.name for f in fields(SessionRecord)))


def _record_text(record: SessionRecord) -> bytes:
    return repr(_RECORD_VALUES(record)).encode("utf-8", "surrogatepass")


@cache
def _code_digest() -> str:
    """The code that reads and resolves a row: a digest made by another version of it is
    not trusted."""
    from session_import import bookings, dates, index, mapping, messages, resolve, validate

    modules = (bookings, dates, index, mapping, messages, resolve, validate)
    return _hash("".join(inspect.getsource(m) for m in modules)).hex()


def _fingerprint(
    action: ActionConfig, provider: ProviderConfig, import_id: str, columns: ColumnMap
) -> str:
    """What reads a row, as text: the code, the action's configuration without what does
    not change a row's outcome (the lines it is written on, the snapshot options), and the
    order of the fields in a mapped row."""
    fields = tuple(replace(spec, line=0) for spec in action.fields)
    read = replace(action, fields=fields, line=0, snapshot=None)
    order = tuple(name for name, _ in columns.columns), columns.repeated_field
    return repr((_code_digest(), import_id, read, provider.date_format, provider.timezone, order))


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


class _ChunkWatch:
    """The chunk's rows resolved in full so far, by what they can make sessions hold."""

    _ATTRS = ("title", "start_date", "end_date", "guid", "id")

    def __init__(self) -> None:
        self.by_value: dict[tuple[str, object], list[SessionInput]] = {}
        self.keeping: dict[str, list[SessionInput]] = {}

    def __bool__(self) -> bool:
        return bool(self.by_value or self.keeping)

    def add(self, data: SessionInput) -> None:
        for attr in self._ATTRS:
            value = _value(data, attr)
            if value is KEEP:
                self.keeping.setdefault(attr, []).append(data)
            elif value is not None:
                self.by_value.setdefault((attr, value), []).append(data)

    def threatens(self, record: SessionRecord, attrs: tuple[str, ...]) -> bool:
        """Whether an earlier row gives or keeps every one of the values ``record`` holds
        for the criteria ``attrs`` (the record is what the criteria found)."""
        first = attrs[0]
        value = getattr(record, first)
        candidates = self.by_value.get((first, value))
        keeping = self.keeping.get(first)
        if not candidates and not keeping:
            return False
        criteria = {a: getattr(record, a) for a in attrs}
        for data in chain(candidates or (), keeping or ()):
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
        columns: ColumnMap,
        *,
        read: bool,
        write: bool,
    ):
        self.import_id = import_id
        self.store = store
        self.run_id = run_id
        fingerprint = _fingerprint(action, provider, import_id, columns)
        self._base = hashlib.blake2b(fingerprint.encode("utf-8", "surrogatepass"), digest_size=16)
        training_fields = tuple(f for f in action.field_names if f in TRAINING_LABELS)
        self.trained = bool(training_fields)
        self.key_fields = tuple(action.search_fields) + training_fields
        # the attributes of the search that several sessions can share, and the training
        shared = sorted({SEARCH_ATTRS[f] for f in action.search_fields} - _UNIQUE)
        self.shared = frozenset(shared)
        self.write = write
        self.read = read and store.has_digests(import_id)
        self.reference_run = 0
        self.duplicated: set[int] = set()
        if self.read:
            used = [
                table
                for table, names in (
                    ("trainings", training_fields),
                    ("users", ("teacherLogin",)),
                    ("groups", ("groupName", "groupGuid")),
                )
                if any(f in action.field_names for f in names)
            ]
            self.reference_run = store.reference_changes(used)
            if self.shared:
                criteria = tuple(shared) + (("training_id",) if self.trained else ())
                self.duplicated = store.duplicated_sessions(criteria)
        self._rows: dict[int, MappedRow] = {}  # line -> the chunk's row (when writing)
        self._keys: dict[int, tuple[MappedRow, int]] = {}  # line -> row, key (when reading)
        self._trusted: dict[int, tuple[SessionRecord, int]] = {}  # line -> session, criteria
        self._watch = _ChunkWatch()
        self._new: list[tuple] = []
        self._masks: dict[tuple, int] = {}  # criteria's attributes -> their bits

    # ---- a chunk ----

    def _key(self, row: MappedRow) -> int:
        get = row.values.get
        return _key(repr([get(f, "") for f in self.key_fields]))

    def _digest(self, row: MappedRow, record: SessionRecord) -> bytes:
        """One digest of the row's cells, in the column map's order (in the fingerprint),
        with the dates a workbook typed (a date cell's text says the date, not whether it
        has a time), and of its session's record as the row left it."""
        values = row.values
        text = repr(tuple(values.values()))
        dates = (
            getattr(values.get("sessionStartDate"), "value", None),
            getattr(values.get("sessionEndDate"), "value", None),
        )
        if dates != (None, None) or row.repeated:
            text += repr((dates, row.repeated))
        hasher = self._base.copy()
        hasher.update(text.encode("utf-8", "surrogatepass"))
        hasher.update(b"\0")  # (a repr never holds a NUL)
        hasher.update(_record_text(record))
        return hasher.digest()

    def load(self, rows: list[MappedRow]) -> None:
        """The stored digests of the chunk's keys, with their sessions' records: one look-up
        in bulk. (Nothing is worked out for a chunk of an import without digests: a row's
        key and digest are made when it comes out unchanged.)"""
        self._watch = _ChunkWatch()
        self._trusted = {}
        self._rows = {row.line: row for row in rows} if self.write else {}
        self._keys = {}
        if not self.read:
            return
        keyed = self._keys = {row.line: (row, self._key(row)) for row in rows}
        stored = self.store.digests_of(self.import_id, [k for _, k in keyed.values()])
        if not stored:
            return
        reference_run = self.reference_run
        for line, (row, key) in keyed.items():
            found = stored.get(key)
            if found is None or found[3] < reference_run:
                continue
            record = SessionRecord(*found[4:])
            if bytes(found[1]) == self._digest(row, record):
                self._trusted[line] = (record, found[2])

    def skip(self, row: MappedRow) -> Skipped | None:
        found = self._trusted.get(row.line)
        if found is None:
            return None
        record, mask = found
        if not mask & _UNIQUE_BITS and record.id in self.duplicated:
            return None
        if self._watch and self._watch.threatens(record, _ATTRS_OF[mask & _CRITERIA_BITS]):
            return None
        return Skipped(
            record.id,
            record.guid,
            record.training_id if self.trained else None,
            record.start_date if mask & _START_GIVEN else None,
        )

    def full(self, data: SessionInput) -> None:
        """A row of the chunk that is resolved in full (it was not skipped)."""
        if self._trusted:
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
            or outcome.issues
            or outcome.kind is not RowKind.UNCHANGED
            or record is None
            or criteria is None
        ):
            return
        mask = self._masks.get(tuple(criteria))
        if mask is None:
            mask = self._masks[tuple(criteria)] = self._mask(criteria)
        if not mask:
            return
        if data.start.__class__ is str:
            mask |= _START_GIVEN
        line = data.line
        row = self._rows[line]
        known = self._keys.get(line)
        key = known[1] if known is not None else self._key(row)
        self._new.append((key, self._digest(row, record), record.id, mask))

    def _mask(self, criteria: dict) -> int:
        """The bits of a search's criteria; 0 for one whose other matches this gate cannot
        tell (no criterion, or some of the shared search fields only)."""
        attrs = criteria.keys() - {"training_id"}
        if not attrs or not (attrs & _UNIQUE or attrs == self.shared):
            return 0
        return sum(bit for bit, attr in _CRITERIA if attr in attrs)

    def done(self) -> None:
        """After the chunk's changes were applied: its digests, in the file's transaction."""
        if self._new:
            self.store.save_digests(self.import_id, self.run_id, self._new)
            self._new = []
