"""What a report may hold by the million (rejected rows, warnings, --diff changes), kept on disk.

A file's problems can be as many as its rows: held in memory, a file of a million
rejected rows cost over a gigabyte. A SpooledList keeps its last few hundred entries
in memory and writes the others, pickled in blocks, to one temporary file that the
lists alive at the same time share. The file is unlinked as soon as it is made, so
nothing is left behind, even after a kill; it is closed when the last list goes.

Iteration gives the entries sorted by their first item (the line), stably. Entries
appended in line order (the pipeline's case) are read back block by block; an entry
appended out of order (a remote LMS's answer about an earlier line) starts a new run,
and the runs are merged as they are read.
"""

from __future__ import annotations

import heapq
import os
import pickle
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from operator import itemgetter

from session_import.errors import ExitCode, SessionImportError

BLOCK_ENTRIES = 500  # entries kept in memory before they are written as one block


class SpillFailed(SessionImportError):
    """The temporary file could not be written (the temporary folder is full or read-only)."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class _SpoolFile:
    """An unlinked temporary file that blocks are appended to and read back from by offset."""

    def __init__(self) -> None:
        try:
            fd, name = tempfile.mkstemp(prefix="session-import-", suffix=".spool")
            os.unlink(name)
        except OSError as exc:
            raise SpillFailed(_reason(exc)) from exc
        self.fd = fd
        self.end = 0
        weakref.finalize(self, os.close, fd)

    def write(self, data: bytes) -> int:
        offset = self.end
        view = memoryview(data)
        try:
            while view:
                written = os.pwrite(self.fd, view, self.end)
                view = view[written:]
                self.end += written
        except OSError as exc:
            raise SpillFailed(_reason(exc)) from exc
        return offset

    def read(self, offset: int, length: int) -> bytes:
        parts = []
        while length > 0:
            part = os.pread(self.fd, length, offset)
            if not part:
                break
            parts.append(part)
            offset += len(part)
            length -= len(part)
        return b"".join(parts)


def _reason(exc: OSError) -> str:
    return f"{tempfile.gettempdir()}: {exc.strerror or exc}"


_shared: weakref.ref[_SpoolFile] | None = None


def _spool_file() -> _SpoolFile:
    """The temporary file of the lists alive now, or a new one when there is none."""
    global _shared
    spool = _shared() if _shared is not None else None
    if spool is None:
        spool = _SpoolFile()
        _shared = weakref.ref(spool)
    return spool


_line = itemgetter(0)


class SpooledList:
    """An append-only sequence of tuples whose first item is a line number; see the module."""

    _spool: _SpoolFile | None
    _blocks: list[tuple[int, int, int]]  # (run, offset, length)
    _tail: list[tuple]
    _run: int
    _last: int | None
    _count: int

    def __init__(self, entries: Iterable[tuple] = ()) -> None:
        self.clear()
        for entry in entries:
            self.append(entry)

    def append(self, entry: tuple) -> None:
        line = entry[0]
        if self._last is not None and line < self._last:
            self._write_tail()
            self._run += 1
        self._last = line
        self._tail.append(entry)
        self._count += 1
        if len(self._tail) >= BLOCK_ENTRIES:
            self._write_tail()

    def _write_tail(self) -> None:
        if not self._tail:
            return
        if self._spool is None:
            self._spool = _spool_file()
        data = pickle.dumps(self._tail, protocol=pickle.HIGHEST_PROTOCOL)
        self._blocks.append((self._run, self._spool.write(data), len(data)))
        self._tail = []

    def flush(self) -> None:
        """Write what is held in memory: a finished file's report keeps nothing there."""
        self._write_tail()

    def clear(self) -> None:
        self._spool = None
        self._blocks = []
        self._tail = []
        self._run = 0
        self._last = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[tuple]:
        runs: list[list[tuple[int, int]]] = [[] for _ in range(self._run + 1)]
        for run, offset, length in self._blocks:
            runs[run].append((offset, length))
        tail = list(self._tail)
        streams = [
            self._read(blocks, tail if run == self._run else []) for run, blocks in enumerate(runs)
        ]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_line)

    def _read(self, blocks: list[tuple[int, int]], tail: list[tuple]) -> Iterator[tuple]:
        spool = self._spool  # keeps the file open while this iteration lasts
        for offset, length in blocks:
            assert spool is not None  # (the blocks were written to it)
            yield from pickle.loads(spool.read(offset, length))
        yield from tail
