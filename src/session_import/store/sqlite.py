"""The SQLite store: one class composed of the parts, each part one concern."""

from __future__ import annotations

from pathlib import Path

from session_import.store.connection import check_location, raising_store_errors
from session_import.store.digests import Digests
from session_import.store.export import Export
from session_import.store.held import HeldRuns
from session_import.store.outbox import Outbox
from session_import.store.runs import DueConsolidators, Journal, Runs
from session_import.store.schema import open_current
from session_import.store.snapshots import MissingSessions


@raising_store_errors
class Store(Runs, Journal, DueConsolidators, Outbox, Export, MissingSessions, HeldRuns, Digests):
    """The store, in WAL mode: readers (export, history, status, backup) never wait for a
    run and never make its commit wait; they see the store as of the last commit.

    ``create`` False (what every command but ``init`` uses) refuses a store that does not
    exist instead of creating an empty one; ``writable`` False only reads.

    The parts are mixins over one connection rather than objects it delegates to: each
    method is the store's own (``store.sessions_by(...)``), the outbox reads records and
    the due consolidators use the store's transaction without a forwarding layer.
    """

    def __init__(
        self,
        path: str | Path,
        busy_timeout: float = 5.0,
        *,
        create: bool = True,
        writable: bool = True,
    ):
        self.path = Path(path)
        self._holding = False
        if not create:
            check_location(self.path, writable=writable)
        self.conn = open_current(self.path, busy_timeout, create=create, writable=writable)
