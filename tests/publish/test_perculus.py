"""The Perculus client against a real HTTP server on loopback that follows the
documented API (tests/emulators/perculus.py), through contract.Delivery."""

from __future__ import annotations

import logging
import math

import pytest
import requests
from emulators.perculus import (
    ACCESS_KEY,
    ACCOUNT_ID,
    SECRET_KEY,
    PerculusEmulator,
    perculus_emulator,  # noqa: F401  (fixture)
)

from session_import.publishers.contract import (
    CredentialsError,
    Delivery,
    DeliveryOutcome,
    RemoteChange,
    SessionData,
)
from session_import.publishers.perculus import PerculusClient
from session_import.publishers.settings import PERCULUS_CREDENTIALS, PerculusSettings

TOKEN = "/auth/connect/token"
BATCH = "/xapi/v2/session/batch"
SEARCH = "/xapi/v2/session/search"
KNOWN_GUID = "61E3D504-13EE-447F-9B36-6686C5C39FEB"
UNKNOWN_GUID = "8293D504-13EE-447F-9B36-6686C5C39FEB"
CREDENTIALS = {
    "PERCULUS_ACCESS_KEY": ACCESS_KEY,
    "PERCULUS_SECRET_KEY": SECRET_KEY,
    "PERCULUS_ACCOUNT_ID": ACCOUNT_ID,
}


def session(
    title: str = "Safety 1",
    start: str | None = "2030-03-10T10:00:00",
    end: str | None = "2030-03-10T11:30:00",
    **fields: object,
) -> SessionData:
    values = dict(
        guid="0B3B7C1E-0000-4000-8000-000000000001",
        title=title,
        start=start,
        end=end,
        training_path_code="TP-001",
        training_title="Workplace safety",
        training_locale="en-GB",
        training_modality="blended",
        teacher_ref_number="T-1",
    )
    values.update(fields)
    return SessionData(**values)  # type: ignore[arg-type]


def create(change_id: int, title: str | None = None, **fields: object) -> RemoteChange:
    return RemoteChange(change_id, "create", session(title or f"Session {change_id}", **fields))


def update(
    change_id: int, remote_id: str | None, changed: set[str], **fields: object
) -> RemoteChange:
    return RemoteChange(
        change_id, "update", session(**fields), frozenset(changed), remote_id=remote_id
    )


def cancel(change_id: int, remote_id: str | None) -> RemoteChange:
    return RemoteChange(change_id, "cancel", session(), remote_id=remote_id)


class Harness:
    """A client bound to the emulator, with a recorded (not slept) back-off."""

    def __init__(self, emulator: PerculusEmulator, http: requests.Session) -> None:
        self.emulator = emulator
        self.http = http
        self.sleeps: list[float] = []
        self.sent: list[list[int]] = []

    def client(
        self, credentials: dict[str, str] = CREDENTIALS, **settings: object
    ) -> PerculusClient:
        values: dict[str, object] = dict(
            base_url=self.emulator.base_url,
            timezone="Europe/Paris",
            connect_timeout=0.5,
            read_timeout=0.3,
            backoff_factor=0.01,
        )
        values.update(settings)
        return PerculusClient(
            PerculusSettings(**values),
            credentials,  # type: ignore[arg-type]
            session=self.http,
            sleep=self.sleeps.append,
        )

    def deliver(
        self, changes: list[RemoteChange], client: PerculusClient | None = None, **delivery: object
    ) -> list[DeliveryOutcome]:
        client = client or self.client()
        delivered = Delivery(changes, before_send=self._record, **delivery)  # type: ignore
        return list(client.deliver(delivered))

    def _record(self, ids) -> None:
        self.sent.append(list(ids))


@pytest.fixture
def harness(perculus_emulator: PerculusEmulator):  # noqa: F811
    with requests.Session() as http:
        yield Harness(perculus_emulator, http)


def by_id(outcomes: list[DeliveryOutcome]) -> dict[int, DeliveryOutcome]:
    assert len({o.change_id for o in outcomes}) == len(outcomes), "one outcome per change"
    return {o.change_id: o for o in outcomes}


# -- creates, updates, cancels ------------------------------------------------------


def test_creates_go_in_batches_of_batch_size_in_order(harness: Harness) -> None:
    changes = [create(i) for i in range(1, 6)]
    outcomes = harness.deliver(changes, harness.client(batch_size=2))
    emulator = harness.emulator

    assert [o.change_id for o in outcomes] == [1, 2, 3, 4, 5]
    assert all(o.state == "published" for o in outcomes)
    assert {o.remote_id for o in outcomes} == set(emulator.sessions)
    by_name = {s["name"]: guid for guid, s in emulator.sessions.items()}
    assert all(by_name[f"Session {o.change_id}"] == o.remote_id for o in outcomes)
    # ceil(5 / 2) batches plus one token
    assert [r.path for r in emulator.requests] == [TOKEN] + [BATCH] * math.ceil(5 / 2)
    batches = [r.json for r in emulator.calls(BATCH)]
    assert [[item["name"] for item in b] for b in batches] == [
        ["Session 1", "Session 2"],
        ["Session 3", "Session 4"],
        ["Session 5"],
    ]
    assert harness.sent == [[1, 2], [3, 4], [5]]
    assert batches[0][0] == {
        "name": "Session 1",
        "start_date": "2030-03-10T10:00:00+01:00",
        "duration": 90,
        "description": "Workplace safety",
        "lang": "en-GB",
        "tags": "TP-001",
        "timezone": "Europe/Paris",
    }
    token = emulator.calls(TOKEN)[0]
    assert token.form == {
        "username": ACCESS_KEY,
        "password": SECRET_KEY,
        "account_id": ACCOUNT_ID,
        "client_id": "api",
        "grant_type": "password",
    }
    assert token.headers["Content-Type"] == "application/x-www-form-urlencoded"
    bearer = {r.headers["Authorization"] for r in emulator.calls(BATCH)}
    assert bearer == {f"Bearer {t}" for t in emulator.tokens}


def test_update_sends_the_guid_and_only_the_fields_derived_from_what_changed(
    harness: Harness,
) -> None:
    guid = harness.emulator.add_session("Old title", "2030-03-10T10:00:00+01:00", 90)
    outcomes = harness.deliver(
        [
            update(1, guid, {"title"}, title="New title"),
            update(2, guid, {"end"}, end="2030-03-10T12:00:00"),
            update(3, guid, {"start", "teacher_ref_number"}, start="2030-03-10T10:30:00"),
            update(
                4,
                guid,
                {"training_path_code", "training_title", "training_locale"},
                training_path_code="TP-009",
                training_title="Other",
                training_locale="fr_FR",
            ),
        ]
    )
    assert [(o.state, o.remote_id) for o in outcomes] == [("published", guid)] * 4
    sent = [item for r in harness.emulator.calls(BATCH) for item in r.json]
    assert sent == [
        {"session_guid": guid, "name": "New title"},
        {"session_guid": guid, "duration": 120},
        {"session_guid": guid, "start_date": "2030-03-10T10:30:00+01:00", "duration": 60},
        {"session_guid": guid, "tags": "TP-009", "description": "Other", "lang": "fr-FR"},
    ]
    # one batch never holds two items for one session: answers are matched by guid
    assert [len(r.json) for r in harness.emulator.calls(BATCH)] == [1, 1, 1, 1]
    remote = harness.emulator.sessions[guid]
    assert (remote["name"], remote["duration"], remote["tags"]) == ("New title", 60, "TP-009")


def test_a_change_touching_no_perculus_field_sends_nothing(harness: Harness) -> None:
    outcomes = harness.deliver(
        [
            update(1, KNOWN_GUID, {"teacher_ref_number", "training_modality"}),
            update(2, KNOWN_GUID, {"training_locale"}, training_locale=None),
        ]
    )
    assert [(o.change_id, o.state, o.message) for o in outcomes] == [
        (1, "skipped", None),
        (2, "skipped", None),
    ]
    assert harness.emulator.requests == []  # not even a token


def test_cancel_deletes_the_session(harness: Harness) -> None:
    guid = harness.emulator.add_session("Gone", "2030-03-10T10:00:00+01:00")
    outcomes = harness.deliver(
        [
            cancel(1, guid),
            cancel(2, UNKNOWN_GUID),  # already gone: 404
            cancel(3, None),  # its create never reached Perculus
        ]
    )
    assert [(o.state, o.remote_id) for o in outcomes] == [
        ("published", guid),
        ("published", UNKNOWN_GUID),
        ("skipped", None),
    ]
    assert harness.emulator.sessions == {}
    deletes = harness.emulator.calls("/xapi/session/", "DELETE")
    assert [r.path for r in deletes] == [f"/xapi/session/{guid}", f"/xapi/session/{UNKNOWN_GUID}"]


def test_an_update_before_a_cancel_of_the_same_session_goes_first(harness: Harness) -> None:
    guid = harness.emulator.add_session("S", "2030-03-10T10:00:00+01:00")
    outcomes = harness.deliver([create(1), update(2, guid, {"title"}), cancel(3, guid), create(4)])
    assert all(o.state == "published" for o in outcomes)
    assert [r.method + " " + r.path for r in harness.emulator.requests[1:]] == [
        "POST " + BATCH,
        f"DELETE /xapi/session/{guid}",
        "POST " + BATCH,
    ]
    assert [o.change_id for o in outcomes] == [1, 2, 3, 4]


# -- answers item by item -----------------------------------------------------------


def test_a_207_rejects_exactly_the_refused_changes_with_perculus_words(harness: Harness) -> None:
    known = harness.emulator.add_session("Known", "2030-03-10T10:00:00+01:00")
    outcomes = by_id(
        harness.deliver(
            [
                create(1, "Good"),
                create(2, "In the past", start="2025-08-05T14:00:00", end="2025-08-05T16:00:00"),
                update(3, UNKNOWN_GUID, {"title"}),
                update(4, known, {"title"}, title="Renamed"),
            ]
        )
    )
    assert harness.emulator.calls(BATCH)[0] is not None
    assert outcomes[1].state == "published" and outcomes[1].remote_id in harness.emulator.sessions
    assert outcomes[2] == DeliveryOutcome(
        2,
        "rejected",
        message=("Perculus rejected the session: Invalid session start date. (code 12)."),
    )
    assert outcomes[3] == DeliveryOutcome(
        3, "rejected", message=("Perculus rejected the session: session_not_found (code 30).")
    )
    assert outcomes[4] == DeliveryOutcome(4, "published", remote_id=known)
    assert len(harness.emulator.sessions) == 2


def test_a_400_rejects_every_item_and_joins_a_list_of_details(harness: Harness) -> None:
    harness.emulator.now = harness.emulator.now.replace(year=2031)  # both starts are past
    outcomes = harness.deliver([create(1), RemoteChange(2, "create", session(title=""))])
    assert outcomes == [
        DeliveryOutcome(
            1,
            "rejected",
            message=("Perculus rejected the session: Invalid session start date. (code 12)."),
        ),
        DeliveryOutcome(
            2,
            "rejected",
            message=(
                "Perculus rejected the session: Session name is required.; "
                "Invalid session start date. (code 12)."
            ),
        ),
    ]
    assert harness.emulator.sessions == {}
    assert harness.sent == [[1, 2]]


def test_a_duration_perculus_refuses_is_rejected_here_without_a_call(harness: Harness) -> None:
    outcomes = harness.deliver(
        [
            create(1, start="2030-03-10T09:00:00", end="2030-03-10T17:00:00"),
            create(2, start="2030-03-10T09:00:00", end="2030-03-10T09:03:00"),
            create(3, start=None, end=None),
        ]
    )
    assert [(o.state, o.message) for o in outcomes] == [
        ("rejected", "Perculus cannot publish a session of 480 minutes; it accepts 5 to 360."),
        ("rejected", "Perculus cannot publish a session of 3 minutes; it accepts 5 to 360."),
        ("rejected", "Perculus cannot publish a session without a start date."),
    ]
    assert harness.emulator.requests == []


def test_without_an_end_time_the_default_duration_and_a_date_alone_starts_at_nine(
    harness: Harness,
) -> None:
    harness.deliver(
        [
            create(1, start="2030-07-01T14:00:00", end=None),
            create(2, start="2030-07-02", end="2030-07-02"),
        ],
        harness.client(default_duration=45),
    )
    sent = harness.emulator.calls(BATCH)[0].json
    assert [(i["start_date"], i["duration"]) for i in sent] == [
        ("2030-07-01T14:00:00+02:00", 45),
        ("2030-07-02T09:00:00+02:00", 45),
    ]


def test_the_offset_is_the_timezones_at_that_date_across_daylight_saving(harness: Harness) -> None:
    harness.deliver(
        [
            create(1, start="2030-03-10T10:00:00", end="2030-03-10T11:00:00"),
            create(2, start="2030-07-10T10:00:00", end="2030-07-10T11:00:00"),
            # the night the clocks go forward: 01:30 to 03:30 on the wall is one hour
            create(3, start="2030-03-31T01:30:00", end="2030-03-31T03:30:00"),
            # a wall time the change skips is moved forward, never sent as a non-time
            create(4, start="2030-03-31T02:30:00", end="2030-03-31T04:00:00"),
        ]
    )
    sent = harness.emulator.calls(BATCH)[0].json
    assert [(i["start_date"], i["duration"]) for i in sent] == [
        ("2030-03-10T10:00:00+01:00", 60),
        ("2030-07-10T10:00:00+02:00", 60),
        ("2030-03-31T01:30:00+01:00", 60),
        ("2030-03-31T03:30:00+02:00", 30),
    ]


def test_istanbul_has_no_daylight_saving(harness: Harness) -> None:
    harness.deliver(
        [create(1, start="2030-07-10T10:00:00", end=None)],
        harness.client(timezone="Europe/Istanbul"),
    )
    assert harness.emulator.calls(BATCH)[0].json[0]["start_date"] == "2030-07-10T10:00:00+03:00"


# -- tokens and credentials ---------------------------------------------------------


def test_a_401_mid_run_gets_one_new_token_and_one_retry(harness: Harness) -> None:
    client = harness.client(batch_size=1)
    outcomes = []
    for outcome in client.deliver(Delivery([create(1), create(2)])):
        outcomes.append(outcome)
        harness.emulator.revoke_tokens()  # expires before the next batch
    assert [o.state for o in outcomes] == ["published", "published"]
    assert [r.path for r in harness.emulator.requests] == [TOKEN, BATCH, BATCH, TOKEN, BATCH]
    first, refused, retried = harness.emulator.calls(BATCH)
    assert first.headers["Authorization"] == refused.headers["Authorization"]
    assert retried.headers["Authorization"] != refused.headers["Authorization"]
    assert len(harness.emulator.sessions) == 2


def test_refused_credentials_raise_with_the_exact_message(harness: Harness) -> None:
    wrong = dict(CREDENTIALS, PERCULUS_SECRET_KEY="not-the-secret")
    with pytest.raises(CredentialsError) as raised:
        harness.deliver([create(1)], harness.client(credentials=wrong))
    assert raised.value.message == "Perculus refused the credentials (HTTP 400)."
    assert str(raised.value) == raised.value.message
    assert raised.value.missing is False
    assert harness.emulator.calls(BATCH) == []


def test_a_new_token_refused_again_is_refused_credentials(harness: Harness) -> None:
    harness.emulator.fail_next(99, status=401, path=BATCH)
    refused = r"^Perculus refused the credentials \(HTTP 401\)\.$"
    with pytest.raises(CredentialsError, match=refused):
        harness.deliver([create(1)])
    assert [r.path for r in harness.emulator.requests] == [TOKEN, BATCH, TOKEN, BATCH]


@pytest.mark.parametrize("variable", list(CREDENTIALS))
def test_a_missing_or_empty_variable_is_named(variable: str) -> None:
    environ = {k: v for k, v in CREDENTIALS.items() if k != variable}
    with pytest.raises(CredentialsError) as raised:
        PERCULUS_CREDENTIALS.read(environ)
    assert raised.value.missing is True
    assert raised.value.message == (
        f"{variable} is not set; the Perculus publisher reads its credentials from the environment."
    )
    with pytest.raises(CredentialsError) as raised:
        PERCULUS_CREDENTIALS.read(dict(CREDENTIALS, **{variable: "  "}))
    assert raised.value.missing is True
    assert raised.value.message.startswith(f"{variable} is empty;")
    settings = PerculusSettings(base_url="http://127.0.0.1:9")
    with pytest.raises(CredentialsError) as raised:
        PerculusClient(settings, environ)
    assert raised.value.missing is True and variable in raised.value.message


def test_credentials_from_env_reads_the_three_variables() -> None:
    environ = dict(CREDENTIALS, HOME="/root")
    assert PERCULUS_CREDENTIALS.read(environ) == CREDENTIALS


def test_secrets_never_reach_an_exception_an_outcome_or_a_log(
    perculus_emulator: PerculusEmulator,
    caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    sentinel_key = "SENTINEL-ACCESS-7f3a"
    sentinel_secret = "SENTINEL-SECRET-9c1d"
    emulator = perculus_emulator
    emulator.access_key, emulator.secret_key = sentinel_key, sentinel_secret
    credentials = dict(
        CREDENTIALS, PERCULUS_ACCESS_KEY=sentinel_key, PERCULUS_SECRET_KEY=sentinel_secret
    )
    texts: list[str] = []
    with requests.Session() as http:
        harness = Harness(emulator, http)
        client = harness.client(credentials=credentials, batch_size=1)
        texts.append(repr(client))
        emulator.slow_next(1, 1.0, path=BATCH)
        emulator.fail_next(1, path=SEARCH)
        outcomes = []
        past = create(3, start="2020-01-01T10:00:00", end=None)
        changes = [create(1), create(2), past, update(4, UNKNOWN_GUID, {"title"})]
        for outcome in client.deliver(Delivery(changes)):
            outcomes.append(outcome)
            emulator.revoke_tokens()
        texts += [repr(o) for o in outcomes]
        assert [o.state for o in outcomes] == ["published", "published", "rejected", "rejected"]
        emulator.fail_next(99, path=BATCH)
        texts += [repr(o) for o in harness.deliver([update(5, "X", {"title"})], client)]
        wrong = dict(credentials, PERCULUS_SECRET_KEY=sentinel_secret + "-wrong")
        with pytest.raises(CredentialsError) as raised:
            harness.deliver([create(6)], harness.client(credentials=wrong))
        texts += [str(raised.value), repr(raised.value)]
    tokens = {
        r.headers["Authorization"].split()[1]
        for r in emulator.requests
        if "Authorization" in r.headers
    }
    assert len(tokens) >= 2
    everything = "\n".join(texts + [caplog.text] + [r.getMessage() for r in caplog.records])
    assert "SENTINEL" not in everything
    assert all(token not in everything for token in tokens)
    # and the secret did cross the wire, in the token form only
    assert all(sentinel_secret not in r.text for r in emulator.requests if r.path != TOKEN)


# -- network failures, 5xx, lost answers -------------------------------------------


def test_5xx_then_success_is_retried_with_back_off(harness: Harness) -> None:
    guid = harness.emulator.add_session("S", "2030-03-10T10:00:00+01:00")
    harness.emulator.fail_next(2, status=503, path=BATCH)
    outcomes = harness.deliver([update(1, guid, {"title"}, title="T")])
    assert outcomes == [DeliveryOutcome(1, "published", remote_id=guid)]
    assert len(harness.emulator.calls(BATCH)) == 3
    assert harness.sleeps == [0.01, 0.02]


def test_a_5xx_on_creates_looks_them_up_before_sending_again_and_makes_no_twin(
    harness: Harness,
) -> None:
    harness.emulator.fail_next(1, status=502, path=BATCH)
    outcomes = harness.deliver([create(1), create(2)])
    assert [o.state for o in outcomes] == ["published", "published"]
    assert [r.path for r in harness.emulator.requests] == [TOKEN, BATCH, SEARCH, SEARCH, BATCH]
    assert len(harness.emulator.sessions) == 2
    assert harness.sent == [[1, 2], [1, 2]]
    search = harness.emulator.calls(SEARCH)[0].json
    assert search == {
        "name": "Session 1",
        "begin_date": "2030-03-09",
        "end_date": "2030-03-11",
        "page_size": 100,
        "page_number": 1,
    }


def test_5xx_every_time_leaves_the_changes_pending_after_three_tries(harness: Harness) -> None:
    guid = harness.emulator.add_session("S", "2030-03-10T10:00:00+01:00")
    harness.emulator.fail_next(99, status=500, path=BATCH)
    changes = [update(1, guid, {"title"}), update(2, guid, {"end"}), cancel(3, guid)]
    outcomes = harness.deliver(changes, harness.client(batch_size=1))
    assert outcomes == [
        DeliveryOutcome(1, "pending", message="Perculus did not answer (HTTP 500) after 3 tries."),
        DeliveryOutcome(
            2,
            "pending",
            message=("Perculus is unavailable (HTTP 500); the change waits for the next run."),
        ),
        DeliveryOutcome(
            3,
            "pending",
            message=("Perculus is unavailable (HTTP 500); the change waits for the next run."),
        ),
    ]
    assert len(harness.emulator.calls(BATCH)) == 3  # the next changes are not tried
    assert harness.emulator.calls("/xapi/session/") == []


def test_a_slow_answer_times_out_then_the_lookup_finds_the_creates(harness: Harness) -> None:
    harness.emulator.slow_next(1, 1.0, path=BATCH)
    outcomes = harness.deliver([create(1), create(2)])
    assert [o.state for o in outcomes] == ["published", "published"]
    assert {o.remote_id for o in outcomes} == set(harness.emulator.sessions)
    assert len(harness.emulator.sessions) == 2  # no twin
    assert len(harness.emulator.calls(BATCH)) == 1
    assert len(harness.emulator.calls(SEARCH)) == 2


def test_a_connection_dropped_after_the_batch_was_applied_makes_no_twin(harness: Harness) -> None:
    guid = harness.emulator.add_session("S", "2030-03-10T10:00:00+01:00")
    harness.emulator.drop_next(1, path=BATCH)
    outcomes = by_id(harness.deliver([create(1), update(2, guid, {"title"}, title="T"), create(3)]))
    assert [outcomes[i].state for i in (1, 2, 3)] == ["published"] * 3
    assert len(harness.emulator.sessions) == 3
    # the update was not found by a look-up: it went again (updates are safe to repeat)
    assert [len(r.json) for r in harness.emulator.calls(BATCH)] == [3, 1]
    assert harness.emulator.sessions[guid]["name"] == "T"


def test_an_attempted_create_found_by_search_is_published_and_never_sent(harness: Harness) -> None:
    guid = harness.emulator.add_session(
        "Session 1", "2030-03-10T12:00:00+03:00", timezone="Europe/Istanbul"
    )
    harness.emulator.add_session("Session 1", "2030-03-11T10:00:00+01:00")  # same name, other day
    first = RemoteChange(1, "create", session("Session 1"), attempted=True)
    second = RemoteChange(2, "create", session("Session 2"), attempted=True)
    outcomes = harness.deliver([first, second])
    assert outcomes[0] == DeliveryOutcome(1, "published", remote_id=guid)
    assert outcomes[1].state == "published" and outcomes[1].remote_id != guid
    assert [[i["name"] for i in r.json] for r in harness.emulator.calls(BATCH)] == [["Session 2"]]
    assert harness.sent == [[2]]
    assert len(harness.emulator.sessions) == 3


def test_a_create_is_never_sent_blind_when_the_lookup_fails(harness: Harness) -> None:
    harness.emulator.fail_next(99, status=503, path=SEARCH)
    outcomes = harness.deliver([RemoteChange(1, "create", session(), attempted=True), create(2)])
    assert outcomes[0] == DeliveryOutcome(
        1,
        "pending",
        message=(
            "Perculus could not be searched for the session (HTTP 503 to the search); "
            "it will be looked for again."
        ),
    )
    assert outcomes[1].state == "published"
    assert len(harness.emulator.calls(SEARCH)) == 3  # urllib3's three tries
    assert [[i["name"] for i in r.json] for r in harness.emulator.calls(BATCH)] == [["Session 2"]]


def test_a_token_endpoint_that_stays_down_leaves_everything_pending(harness: Harness) -> None:
    harness.emulator.fail_next(99, status=503, path=TOKEN)
    outcomes = harness.deliver([create(1), cancel(2, KNOWN_GUID)])
    reason = (
        "Perculus is unavailable (HTTP 503 to the token request); "
        "the change waits for the next run."
    )
    # the cancel does not wait for the batch being filled
    assert outcomes == [
        DeliveryOutcome(2, "pending", message=reason),
        DeliveryOutcome(1, "pending", message=reason),
    ]
    assert [r.path for r in harness.emulator.requests] == [TOKEN] * 3


# -- the deadline ---------------------------------------------------------------------


def test_after_the_deadline_nothing_new_is_sent(harness: Harness) -> None:
    now = [100.0]
    client = PerculusClient(
        PerculusSettings(base_url=harness.emulator.base_url, batch_size=1, backoff_factor=0.01),
        CREDENTIALS,
        session=harness.http,
        clock=lambda: now[0],
        sleep=harness.sleeps.append,
    )
    outcomes = []
    for outcome in client.deliver(Delivery([create(1), create(2), cancel(3, "X")], deadline=150.0)):
        outcomes.append(outcome)
        now[0] = 200.0
    # a cancel does not wait for the batch being filled (other sessions): it comes first
    assert outcomes[1:] == [
        DeliveryOutcome(3, "pending", message="publish timeout"),
        DeliveryOutcome(2, "pending", message="publish timeout"),
    ]
    assert outcomes[0].state == "published"
    assert len(harness.emulator.calls(BATCH)) == 1


def test_a_back_off_that_would_pass_the_deadline_is_not_waited(harness: Harness) -> None:
    harness.emulator.fail_next(1, path=BATCH)
    client = PerculusClient(
        PerculusSettings(base_url=harness.emulator.base_url, backoff_factor=60),
        CREDENTIALS,
        session=harness.http,
        sleep=harness.sleeps.append,
    )
    import time

    outcomes = list(client.deliver(Delivery([create(1)], deadline=time.monotonic() + 30)))
    assert outcomes == [DeliveryOutcome(1, "pending", message="publish timeout")]
    assert harness.sleeps == []


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, problem",
    [
        (dict(batch_size=0), "batchSize must be at least 1"),
        (dict(default_duration=400), "defaultDuration must be between 5 and 360"),
        (dict(timezone="Europe/Atlantis"), "is not a known IANA time zone"),
        (dict(base_url="ftp://x"), "baseUrl must start with"),
    ],
)
def test_settings_are_checked(values: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PerculusSettings(**{"base_url": "https://example.perculus.com", **values})


def test_one_client_delivers_turn_after_turn_with_one_token(harness: Harness) -> None:
    """The outbox calls deliver() once per turn (one change per session a turn)."""
    client = harness.client()
    [created] = harness.deliver([create(1)], client)
    [updated] = harness.deliver([update(2, created.remote_id, {"title"}, title="T")], client)
    [cancelled] = harness.deliver([cancel(3, created.remote_id)], client)
    assert [o.state for o in (created, updated, cancelled)] == ["published"] * 3
    assert len(harness.emulator.calls(TOKEN)) == 1
    assert harness.emulator.sessions == {}
