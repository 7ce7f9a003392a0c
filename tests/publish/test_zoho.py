"""The Zoho People client against a Zoho People on loopback (tests/emulators/zoho.py),
through remote.Delivery as the outbox drives it.  The threshold and the lock are
scaled down (30 calls per second, a lock of 1.5 s); the client takes the same
figures from its settings, as the product takes them from <zohoPeoplePublisher>."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import time as clock_time

import pytest
import requests
from emulators.zoho import ZohoEmulator

from session_import.publishers.contract import CredentialsError, Delivery, RemoteChange, SessionData
from session_import.publishers.settings import ZOHO_CREDENTIALS, ZohoSettings
from session_import.publishers.zoho import (
    ZohoPeopleClient,
    is_threshold_answer,
    rejection_message,
    twelve_hour,
    zoho_schedule,
)

SECRET = "SENTINEL-s3cr3t-d0-not-print"
REFRESH = "SENTINEL-r3fr3sh-d0-not-print"
CLIENT_ID = "1000.CLIENTID"
IDS = ("478346000019479103", "478346000019479115", "478346000019479119")
OTHER_IDS = ("c2", "b2", "m2")
WINDOW, MAX, LOCK = 1.0, 30, 1.5


@pytest.fixture
def zoho():
    emulator = ZohoEmulator(
        max_requests=MAX,
        window_seconds=WINDOW,
        lock_seconds=LOCK,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        refresh_token=REFRESH,
        modules={IDS, OTHER_IDS},
        trainers={"478346000008251001"},
    )
    with emulator:
        yield emulator


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def credentials(**override: str) -> dict[str, str]:
    return {
        "ZOHO_CLIENT_ID": CLIENT_ID,
        "ZOHO_CLIENT_SECRET": SECRET,
        "ZOHO_REFRESH_TOKEN": REFRESH,
        **override,
    }


def make_client(zoho: ZohoEmulator, http: requests.Session, **settings: object) -> ZohoPeopleClient:
    options = dict(
        base_url=zoho.url,
        accounts_url=zoho.url,
        course_id=IDS[0],
        batch_id=IDS[1],
        module_id=IDS[2],
        trainings={"TP-OTHER": OTHER_IDS},
        max_requests=MAX,
        window_seconds=WINDOW,
        lock_seconds=LOCK,
        timeout=5.0,
        backoff_seconds=0.01,
    )
    options.update(settings)
    return ZohoPeopleClient(ZohoSettings(**options), credentials(), session=http)


def session(n: int = 1, **override: object) -> SessionData:
    values = dict(
        guid=f"00000000-0000-0000-0000-{n:012d}",
        title=f"Session {n}",
        start=f"2026-03-{1 + n % 28:02d}T09:30:00",
        end=f"2026-03-{1 + n % 28:02d}T12:00:00",
        training_path_code="TP-001",
        training_title="Safety first",
        training_locale="en",
        training_modality="blended",
        teacher_ref_number="478346000008251001",
    )
    values.update(override)
    return SessionData(**values)  # type: ignore[arg-type]


def create(n: int = 1, **override: object) -> RemoteChange:
    attempted = bool(override.pop("attempted", False))
    return RemoteChange(
        id=n, kind="create", session=session(n, **override), attempted=attempted, line=n + 1
    )


def deliver(client: ZohoPeopleClient, changes: list[RemoteChange], **hooks: object):
    return list(client.deliver(Delivery(changes, **hooks)))  # type: ignore[arg-type]


def creates_sent(zoho: ZohoEmulator) -> list:
    return [e for e in zoho.api_calls() if e.method == "POST"]


# --- the session's fields ----------------------------------------------------------------


def test_times_are_twelve_hour_and_sessions_without_times_cover_the_day():
    assert [
        twelve_hour(t)
        for t in (clock_time(0, 0), clock_time(9, 5), clock_time(12, 30), clock_time(23, 59))
    ] == [
        "12:00 AM",
        "09:05 AM",
        "12:30 PM",
        "11:59 PM",
    ]
    assert zoho_schedule("2026-01-04T10:00:00", "2026-01-04T11:00:00") == {
        "date": "04-01-2026",
        "startTime": "10:00 AM",
        "endTime": "11:00 AM",
    }
    assert zoho_schedule("2026-01-04", None) == {
        "date": "04-01-2026",
        "startTime": "12:00 AM",
        "endTime": "11:59 PM",
    }
    # no end, a date-only end, or an end on another day: the rest of the start's day
    for end in (None, "2026-01-04", "2026-01-06T11:00:00"):
        assert zoho_schedule("2026-01-04T14:00:00", end)["endTime"] == "11:59 PM"
    assert zoho_schedule(None, "2026-01-04") is None


def test_an_end_not_after_the_start_is_kept_as_it_is():
    """Never stretched to the end of the day (it used to become 10:00 AM to 11:59 PM)."""
    assert zoho_schedule("2026-01-04T10:00:00", "2026-01-04T10:00:00")["endTime"] == "10:00 AM"
    assert zoho_schedule("2026-01-04", "2026-01-04T00:00:00")["endTime"] == "12:00 AM"


def test_a_session_whose_end_is_not_after_its_start_is_rejected_without_a_call(zoho, http):
    client = make_client(zoho, http)
    same = create(1, start="2026-03-02T10:00:00", end="2026-03-02T10:00:00")
    late = create(2, start="2026-03-03T23:59:00", end=None)  # no minute left in its day
    moved = RemoteChange(
        id=3,
        kind="update",
        session=session(3, start="2026-03-04T15:00:00", end="2026-03-04T15:00:00"),
        changed=frozenset({"end"}),
        remote_id="219225000000648999",
    )
    outcomes = deliver(client, [same, late, moved])
    assert [(o.state, o.message) for o in outcomes] == [
        (
            "rejected",
            "Zoho People needs an end after the start; session Session 1 runs from 10:00 AM "
            "to 10:00 AM on 02-03-2026.",
        ),
        (
            "rejected",
            "Zoho People needs an end after the start; session Session 2 runs from 11:59 PM "
            "to 11:59 PM on 03-03-2026.",
        ),
        (
            "rejected",
            "Zoho People needs an end after the start; session Session 3 runs from 03:00 PM "
            "to 03:00 PM on 04-03-2026.",
        ),
    ]
    assert zoho.api_calls() == []


# --- creates and pacing ------------------------------------------------------------------


def test_a_create_sends_the_documented_fields_and_stores_the_session_id(zoho, http):
    announced: list[list[int]] = []
    outcomes = deliver(
        make_client(zoho, http),
        [create(1), create(2, training_modality="elearning")],
        before_send=lambda ids: announced.append(list(ids)),
    )

    assert [(o.change_id, o.state) for o in outcomes] == [(1, "published"), (2, "published")]
    assert {o.remote_id for o in outcomes} == set(zoho.sessions)
    assert announced == [[1], [2]]
    first = creates_sent(zoho)[0]
    assert first.path == "/api/v1/courses/{}/batches/{}/modules/{}/sessions".format(*IDS)
    stored = zoho.sessions[outcomes[0].remote_id]
    assert {
        k: stored[k]
        for k in ("name", "trainerErecno", "type", "date", "startTime", "endTime", "description")
    } == {
        "name": "Session 1",
        "trainerErecno": "478346000008251001",
        "type": "0",
        "date": "02-03-2026",
        "startTime": "09:30 AM",
        "endTime": "12:00 PM",
        "description": "Safety first",
    }
    assert zoho.sessions[outcomes[1].remote_id]["type"] == "1"
    assert first.headers["authorization"].startswith("Zoho-oauthtoken 1000.")


def test_a_training_of_its_own_goes_to_its_own_module(zoho, http):
    outcomes = deliver(make_client(zoho, http), [create(1, training_path_code="TP-OTHER")])
    assert outcomes[0].state == "published"
    assert zoho.sessions[outcomes[0].remote_id]["moduleId"] == "m2"


def test_a_hundred_creates_are_paced_close_to_the_limit_without_tripping_it(zoho, http):
    waits: list[tuple[str, float]] = []
    outcomes = deliver(
        make_client(zoho, http),
        [create(n) for n in range(1, 101)],
        on_wait=lambda reason, seconds: waits.append((reason, seconds)),
    )

    assert [o.state for o in outcomes] == ["published"] * 100
    assert len(zoho.sessions) == 100 and zoho.refreshes == 1
    assert not any(e.locked for e in zoho.log)
    busiest = zoho.busiest_window()
    assert busiest <= MAX
    assert busiest >= 0.8 * MAX
    assert waits and all("30 calls in 1 s" in reason for reason, _ in waits)


def test_a_lock_is_waited_out_once_and_delivery_goes_on(zoho, http):
    zoho.force_lock()
    waits: list[tuple[str, float]] = []
    outcomes = deliver(
        make_client(zoho, http),
        [create(n) for n in range(1, 4)],
        on_wait=lambda reason, seconds: waits.append((reason, seconds)),
    )

    assert [o.state for o in outcomes] == ["published"] * 3
    assert [e.locked for e in zoho.api_calls()] == [True, False, False, False]
    assert waits == [("Zoho People locked its API (threshold exceeded)", LOCK)]
    assert len(zoho.sessions) == 3


def test_the_lock_is_recognised_by_its_code_whatever_the_status(zoho, http):
    zoho.lock_status = 400
    zoho.force_lock()
    outcomes = deliver(make_client(zoho, http), [create(1)])
    assert outcomes[0].state == "published"


def test_a_second_lock_leaves_the_rest_queued(zoho, http):
    zoho.force_lock()

    def sleep_then_lock_again(seconds: float) -> None:
        time.sleep(seconds)
        zoho.force_lock()

    client = make_client(zoho, http)
    client.sleep = sleep_then_lock_again
    outcomes = deliver(client, [create(n) for n in range(1, 4)])

    assert [o.state for o in outcomes] == ["pending"] * 3
    assert {o.message for o in outcomes} == {
        "Zoho People locked its API again after a wait of 1.5 s; the changes stay queued."
    }
    assert len(creates_sent(zoho)) == 2 and not zoho.sessions


def test_the_deadline_leaves_the_rest_queued(zoho, http):
    client = make_client(zoho, http, window_seconds=2.0)
    start = time.monotonic()
    outcomes = deliver(client, [create(n) for n in range(1, 101)], deadline=start + 0.8)

    published = [o for o in outcomes if o.state == "published"]
    pending = [o for o in outcomes if o.state == "pending"]
    assert len(published) + len(pending) == 100
    assert 1 <= len(published) <= MAX and pending
    assert {o.message for o in pending} == {
        "The publish timeout was reached; the change stays queued."
    }
    assert len(creates_sent(zoho)) == len(published) == len(zoho.sessions)
    assert all(e.time < start + 0.8 for e in zoho.log)


# --- answers -----------------------------------------------------------------------------


def test_rejected_sessions_carry_zoho_s_message_and_status(zoho, http):
    outcomes = deliver(
        make_client(zoho, http, trainings={"TP-GONE": ("c9", "b9", "m9")}),
        [
            create(1, teacher_ref_number="999"),
            create(2, training_path_code="TP-GONE"),
            create(3, title="x" * 101),
            create(4),
        ],
    )
    assert [(o.state, o.message) for o in outcomes] == [
        ("rejected", "Zoho People rejected the session: Invalid trainer erecno 999 (HTTP 400)."),
        ("rejected", "Zoho People rejected the session: Module not found (HTTP 404)."),
        (
            "rejected",
            "Zoho People rejected the session: Maximum limit exceeded for name (HTTP 422).",
        ),
        ("published", None),
    ]


def test_sessions_zoho_cannot_hold_are_rejected_without_a_call(zoho, http):
    outcomes = deliver(
        make_client(zoho, http),
        [
            create(1, start=None, end=None),
            create(2, teacher_ref_number=None),
        ],
    )
    assert [(o.state, o.message) for o in outcomes] == [
        ("rejected", "Zoho People needs a start date; session Session 1 has none."),
        (
            "rejected",
            (
                "Zoho People needs the teacher's reference number (trainerErecno); "
                "the teacher of session Session 2 has none."
            ),
        ),
    ]
    assert not zoho.api_calls()


def test_server_errors_are_retried_then_left_queued(zoho, http):
    client = make_client(zoho, http)
    zoho.fail_next(2)
    assert deliver(client, [create(1)])[0].state == "published"
    zoho.fail_next(3, status=502)
    outcome = deliver(client, [create(2)])[0]
    assert (outcome.state, outcome.message) == (
        "pending",
        "Zoho People did not answer (HTTP 502, 3 tries); the change stays queued.",
    )
    # a 5xx may hide an applied create: the retries looked first, and nothing was doubled
    assert len(zoho.sessions) == 1


def test_a_module_without_ids_stays_queued(zoho, http):
    client = make_client(zoho, http, course_id=None, batch_id=None, module_id=None)
    outcome = deliver(client, [create(1)])[0]
    assert (outcome.state, outcome.message) == (
        "pending",
        (
            "No Zoho People course, batch and module are configured for training TP-001; "
            "the change stays queued."
        ),
    )


# --- lost answers ------------------------------------------------------------------------


def test_a_lost_answer_is_looked_up_and_never_makes_a_twin(zoho, http):
    zoho.drop_after_create(1)
    announced: list[list[int]] = []
    outcomes = deliver(
        make_client(zoho, http),
        [create(1), create(2)],
        before_send=lambda ids: announced.append(list(ids)),
    )

    assert [o.state for o in outcomes] == ["published", "published"]
    assert len(zoho.sessions) == 2
    assert outcomes[0].remote_id in zoho.sessions
    calls = [(e.method, e.dropped) for e in zoho.api_calls()]
    assert calls == [("POST", True), ("GET", False), ("POST", False)]
    assert announced == [[1], [2]]


def test_an_attempted_create_found_in_the_module_is_not_sent_again(zoho, http):
    known = zoho.add_session(
        *IDS,
        {
            "name": "Session 1",
            "date": "02-03-2026",
            "startTime": "09:30 AM",
            "endTime": "12:00 PM",
            "type": "0",
            "trainerErecno": "478346000008251001",
        },
    )
    outcomes = deliver(
        make_client(zoho, http), [create(1, attempted=True), create(2, attempted=True)]
    )

    assert (outcomes[0].state, outcomes[0].remote_id) == ("published", known)
    assert outcomes[1].state == "published" and outcomes[1].remote_id != known
    assert [e.method for e in zoho.api_calls()] == ["GET", "GET", "POST"]


# --- updates and cancels -----------------------------------------------------------------


def test_an_update_patches_only_the_changed_fields(zoho, http):
    client = make_client(zoho, http)
    remote_id = deliver(client, [create(1)])[0].remote_id
    renamed = RemoteChange(
        id=2,
        kind="update",
        session=session(1, title="Renamed"),
        changed=frozenset({"title"}),
        remote_id=remote_id,
    )
    moved = RemoteChange(
        id=3,
        kind="update",
        session=session(1, title="Renamed", start="2026-04-01T14:00:00", end=None),
        changed=frozenset({"start", "end"}),
        remote_id=remote_id,
    )
    outcomes = deliver(client, [renamed, moved])

    assert [(o.state, o.remote_id) for o in outcomes] == [("published", remote_id)] * 2
    patches = [e for e in zoho.api_calls() if e.method == "PATCH"]
    assert [e.path.rsplit("/", 1)[1] for e in patches] == [remote_id, remote_id]
    assert json.loads(patches[0].body) == {"name": "Renamed"}
    assert json.loads(patches[0].query["sessionData"][0]) == {"name": "Renamed"}
    assert json.loads(patches[1].body) == {
        "date": "01-04-2026",
        "startTime": "02:00 PM",
        "endTime": "11:59 PM",
    }
    assert zoho.sessions[remote_id]["name"] == "Renamed"


def test_an_update_touching_no_zoho_field_sends_nothing(zoho, http):
    change = RemoteChange(
        id=1,
        kind="update",
        session=session(1),
        changed=frozenset({"training_locale"}),
        remote_id="42",
    )
    outcome = deliver(make_client(zoho, http), [change])[0]
    assert (outcome.state, outcome.remote_id, outcome.warning) == ("skipped", "42", False)
    assert not zoho.log


def test_a_cancel_is_a_warning_and_sends_nothing(zoho, http):
    cancel = RemoteChange(
        id=1, kind="cancel", session=session(1, title="Fire drill"), remote_id="219225000000648145"
    )
    never_delivered = RemoteChange(id=2, kind="cancel", session=session(2))
    outcomes = deliver(make_client(zoho, http), [cancel, never_delivered])

    assert [(o.state, o.warning, o.message) for o in outcomes] == [
        (
            "skipped",
            True,
            (
                "Zoho People has no API to delete a session; "
                "delete session Fire drill (219225000000648145) by hand."
            ),
        ),
        ("skipped", False, None),
    ]
    assert not zoho.log


# --- credentials -------------------------------------------------------------------------


def test_an_expired_token_is_renewed_once(zoho, http):
    client = make_client(zoho, http)
    assert [o.state for o in deliver(client, [create(n) for n in range(1, 4)])] == ["published"] * 3
    zoho.expire_tokens()
    assert [o.state for o in deliver(client, [create(n) for n in range(4, 7)])] == ["published"] * 3
    assert zoho.refreshes == 2
    assert [e.status for e in zoho.api_calls()].count(401) == 1


def test_a_token_past_its_lifetime_is_renewed_before_use(zoho, http):
    zoho.token_lifetime = 1
    client = make_client(zoho, http)
    deliver(client, [create(1)])
    time.sleep(1.0)
    assert deliver(client, [create(2)])[0].state == "published"
    assert zoho.refreshes == 2
    assert 401 not in [e.status for e in zoho.api_calls()]


def test_a_fresh_token_refused_leaves_everything_queued_without_a_refresh_loop(zoho, http):
    zoho.reject_every_token = True
    outcomes = deliver(make_client(zoho, http), [create(1), create(2)])
    assert {(o.state, o.message) for o in outcomes} == {
        ("pending", "Zoho People refused a fresh access token (HTTP 401); the changes stay queued.")
    }
    assert zoho.refreshes == 1 and len(zoho.api_calls()) == 1


def test_refused_credentials_raise_with_the_documented_text(zoho, http):
    client = ZohoPeopleClient(
        ZohoSettings(
            base_url=zoho.url, accounts_url=zoho.url, course_id="c", batch_id="b", module_id="m"
        ),
        credentials(ZOHO_REFRESH_TOKEN="revoked"),
        session=http,
    )
    with pytest.raises(CredentialsError) as refused:
        deliver(client, [create(1)])
    assert refused.value.message == "Zoho People refused the credentials (HTTP 400)."
    assert not refused.value.missing
    assert not zoho.api_calls()


def test_a_missing_or_empty_variable_is_named():
    with pytest.raises(CredentialsError) as empty:
        ZOHO_CREDENTIALS.read(
            {"ZOHO_CLIENT_ID": "id", "ZOHO_CLIENT_SECRET": "  ", "ZOHO_REFRESH_TOKEN": "r"}
        )
    assert empty.value.missing
    assert empty.value.message == (
        "ZOHO_CLIENT_SECRET is empty; "
        "the Zoho People publisher reads its credentials from the environment."
    )
    with pytest.raises(CredentialsError) as missing:
        ZohoPeopleClient.from_environment(ZohoSettings(), {"ZOHO_CLIENT_ID": "id"})
    assert missing.value.message == (
        "ZOHO_CLIENT_SECRET is not set; "
        "the Zoho People publisher reads its credentials from the environment."
    )
    assert ZOHO_CREDENTIALS.read(credentials()) == credentials()


def test_no_secret_appears_anywhere(zoho, http, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(zoho, http)
    texts: list[str] = [repr(client)]
    zoho.drop_after_create(1)
    zoho.fail_next(1)
    outcomes = deliver(client, [create(1), create(2, teacher_ref_number="999"), create(3)])
    zoho.expire_tokens()
    outcomes += deliver(client, [create(4)])
    texts += [repr(o) for o in outcomes]
    zoho.reject_every_token = True
    zoho.expire_tokens()
    texts += [repr(o) for o in deliver(client, [create(5)])]

    refused = replace(client.settings)
    with pytest.raises(CredentialsError) as error:
        deliver(
            ZohoPeopleClient(
                refused, credentials(ZOHO_CLIENT_SECRET="SENTINEL-wrong"), session=http
            ),
            [create(6)],
        )
    texts += [str(error.value), repr(error.value)]
    texts.append(caplog.text)

    issued = [e for e in zoho.log if e.path == "/oauth/v2/token"]
    tokens = [json.loads(e.answer).get("access_token") for e in issued]
    assert len([t for t in tokens if t]) >= 3
    for text in texts:
        assert "SENTINEL" not in text
        assert not any(token and token in text for token in tokens)
    for entry in zoho.log:
        if entry.path != "/oauth/v2/token":
            assert "SENTINEL" not in entry.body + repr(entry.query) + repr(entry.headers)


def test_a_lock_that_outlasts_the_deadline_is_not_waited(zoho, http):
    zoho.force_lock()
    slept: list[float] = []
    client = make_client(zoho, http)
    client.sleep = slept.append
    outcomes = deliver(client, [create(1), create(2)], deadline=time.monotonic() + 0.5)
    assert {(o.state, o.message) for o in outcomes} == {
        (
            "pending",
            (
                "Zoho People locked its API for 1.5 s, past the publish timeout; "
                "the changes stay queued."
            ),
        )
    }
    assert not slept and len(zoho.api_calls()) == 1


def answer(status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


def test_zoho_s_answer_shapes_are_all_read():
    general = {"response": {"errors": {"code": 7209, "message": "Threshold"}, "status": 1}}
    assert is_threshold_answer(answer(200, general))
    assert is_threshold_answer(answer(400, {"errors": [{"code": "7209"}]}))
    assert is_threshold_answer(answer(429, "Too many requests"))
    assert not is_threshold_answer(answer(422, {"code": 422, "message": "Maximum limit exceeded"}))
    expected = [
        ({"code": 400, "message": "Invalid date."}, "Invalid date"),
        ({"response": {"errors": {"code": 7050, "message": "Bad type"}}}, "Bad type"),
        ({"response": {"message": "Error occurred", "errors": [{"message": "Bad"}]}}, "Bad"),
        ("not JSON", "Invalid parameter value/input parameter missing"),
    ]
    for body, message in expected:
        assert rejection_message(answer(400, body)) == (
            f"Zoho People rejected the session: {message} (HTTP 400)."
        )
    assert (
        rejection_message(answer(404, {}))
        == "Zoho People rejected the session: Not found (HTTP 404)."
    )
