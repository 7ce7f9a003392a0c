"""The PostgreSQL store's own rules: ids as on SQLite, run ids given back after a rollback,
messages that never show the password, record locks inside a file's transaction."""

from __future__ import annotations

import psycopg
import pytest

from session_import.model import ChangeOp as Change
from session_import.model import SessionRecord
from session_import.store import StoreUnavailable
from session_import.store.postgres import schema
from session_import.store.postgres.backend import PostgresStore, init_pg_store
from session_import.store.postgres.url import masked


def _password(url: str) -> str:
    return url.split("@")[0].rsplit(":", 1)[1]


def test_init_creates_the_store_once(pg_url):
    assert (
        init_pg_store(pg_url)
        == f"Created the store {masked(pg_url)} (schema version {schema.SCHEMA_VERSION})."
    )
    assert init_pg_store(pg_url) == (
        f"The store {masked(pg_url)} already exists (schema version {schema.SCHEMA_VERSION}); it was left as it is."
    )
    assert _password(pg_url) not in masked(pg_url)


def test_a_database_without_a_store_is_named_without_its_password(pg_url):
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore(pg_url, create=False)
    assert str(caught.value).startswith(f"The database {masked(pg_url)} holds no session-import")
    assert _password(pg_url) not in str(caught.value)


def test_a_wrong_password_or_server_is_said_without_the_password(pg_url):
    wrong = pg_url.replace(_password(pg_url), "not-the-password")
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore(wrong, create=False)
    assert "cannot be reached" in str(caught.value) and "not-the-password" not in str(caught.value)
    assert "password authentication failed" in str(caught.value)


def test_ids_are_never_reused_after_a_delete_and_a_rollback_leaves_none(pg_url):
    with PostgresStore(pg_url) as store:
        store.conn.execute(
            "INSERT INTO trainings (id, guid, path_code, title, modality)"
            " VALUES (1, 'G', 'TP', 'T', 'blended')"
        )
        session = SessionRecord(7, "S", "x", "open", None, None, 1, None, None, "i", "i")
        with store.transaction():
            assert store.next_id("sessions") == 1
            store.apply([Change(2, "sessions", "create", None, session)])
        with store.transaction():
            store.apply([Change(2, "sessions", "delete", session, None)])
        assert store.next_id("sessions") == 8
        with store.transaction(rollback=True):
            store.apply(
                [
                    Change(
                        2,
                        "sessions",
                        "create",
                        None,
                        SessionRecord(8, "S8", "x", "open", None, None, 1, None, None, "i", "i"),
                    )
                ]
            )
        assert store.next_id("sessions") == 8


def test_a_rolled_back_run_gives_its_id_back(pg_url):
    with PostgresStore(pg_url) as store:
        with store.transaction(rollback=True):
            assert store.begin_run("i", "a", "f", None, "2026-01-01T00:00:00+00:00", True) == 1
        with store.transaction():
            assert store.begin_run("i", "a", "f", None, "2026-01-01T00:00:00+00:00", True) == 1
        with pytest.raises(ZeroDivisionError), store.transaction():
            store.begin_run("i", "a", "f", None, "2026-01-01T00:00:00+00:00", False)
            raise ZeroDivisionError
        assert store.record_night("i", "skip", "f", "2026-01-01T00:00:00+00:00", False) == 2


def test_records_read_in_a_file_transaction_are_locked_until_its_end(pg_url):
    with PostgresStore(pg_url) as store, psycopg.connect(pg_url, autocommit=True) as other:
        store.conn.execute(
            "INSERT INTO trainings (id, guid, path_code, title, modality)"
            " VALUES (1, 'G', 'TP', 'T', 'blended')"
        )
        assert [t.path_code for t in store.trainings_by("path_code", ["TP"])] == ["TP"]
        other.execute("SELECT 1 FROM trainings WHERE id = 1 FOR UPDATE NOWAIT")  # not locked
        with store.transaction(rollback=True):
            store.trainings_by("path_code", ["TP"])
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT 1 FROM trainings WHERE id = 1 FOR UPDATE NOWAIT")
        other.execute("SELECT 1 FROM trainings WHERE id = 1 FOR UPDATE NOWAIT")


def _queue(store, *sessions):
    """Pending changes of import i for publisher zoho, one per session id given, in order."""
    store.conn.execute(
        "INSERT INTO runs (id, import_id, started_at, dry_run) VALUES"
        " (1, 'i', '2026-01-01T00:00:00+00:00', 0) ON CONFLICT DO NOTHING"
    )
    for session_id in sessions:
        store.conn.execute(
            "INSERT INTO outbox (import_id, publisher, run_id, line, session_id, kind, session)"
            " VALUES ('i', 'zoho', 1, 2, %s, 'update', '{}')",
            (session_id,),
        )


def test_two_workers_claim_each_change_once_and_a_session_in_order(pg_url):
    with PostgresStore(pg_url) as a, PostgresStore(pg_url) as b:
        _queue(a, 10, 11, 10, 12, 13)  # changes 1..5; 1 and 3 are session 10's
        first = [e["id"] for e in a.queued("i", "zoho", limit=2)]
        assert first == [1, 2]
        # b never takes session 10's later change while a holds its earlier one
        assert [e["id"] for e in b.queued("i", "zoho")] == [4, 5]
        assert [e["id"] for e in a.queued("i", "zoho", after=2)] == [3]
        assert [e["id"] for e in b.queued("i", "zoho")] == [4, 5]  # its own, again
        a.settle_many([(1, "published", "now", None, False, None)])
        a.release_claims()  # a leaves 2 and 3 pending (say the service was down)
        assert [e["id"] for e in b.queued("i", "zoho")] == [2, 3, 4, 5]


def test_a_dead_workers_claims_are_free_at_once(pg_url):
    a = PostgresStore(pg_url)
    _queue(a, 10, 11)
    assert len(a.queued("i", "zoho")) == 2
    a.conn.close()  # the process died: its connection, and its key, are gone
    with PostgresStore(pg_url) as b:
        assert [e["id"] for e in b.queued("i", "zoho")] == [1, 2]


def test_the_pace_is_shared_by_every_worker(pg_url):
    class Limit:
        max_requests, span = 3, 30.0

        @staticmethod
        def clock():
            return 0.0

    with PostgresStore(pg_url) as a, PostgresStore(pg_url) as b:
        pacers = [a.shared_pacer("zoho", Limit), b.shared_pacer("zoho", Limit)]
        granted = [p.wait_needed() == 0 for p in pacers * 3]
        assert granted == [True, True, True, False, False, False]
        assert 29 < pacers[1].wait_needed() <= 30
        assert a.recent_calls("zoho", 0) == [] and a.pace_anchor("zoho") is None
        a.record_calls("zoho", [1.0], 0.0)  # keeps the shared calls
        assert b.conn.execute("SELECT count(*) FROM remote_calls").fetchone()[0] == 3
