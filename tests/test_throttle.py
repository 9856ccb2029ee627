"""Login throttling: the rules, and that they hold across app processes sharing a database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ContentDirs, csrf_token, make_person
from trainer.app import create_app
from trainer.config import Settings
from trainer.db import Database, utcnow
from trainer.people import api as people_api
from trainer.people import auth
from trainer.people import views as people_views
from trainer.people.throttle import ACCOUNT_LIMIT, FREE_FAILURES, Counts, decide

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def counts(**changes: object) -> Counts:
    base: dict[str, object] = {
        "pair_failures": 0,
        "pair_last_failure": None,
        "ip_failures": 0,
        "ip_oldest_failure": None,
        "account_failures": 0,
        "account_oldest_failure": None,
        "trusted_address": False,
    }
    base.update(changes)
    return Counts(**base)  # type: ignore[arg-type]


def test_a_few_failures_are_free() -> None:
    assert decide(counts(pair_failures=FREE_FAILURES - 1, pair_last_failure=NOW), NOW).allowed


def test_then_each_failure_doubles_the_wait() -> None:
    waits = [
        decide(counts(pair_failures=FREE_FAILURES + k, pair_last_failure=NOW), NOW).retry_after
        for k in range(12)
    ]
    assert waits[:5] == [1, 2, 4, 8, 16]
    assert max(waits) == 300  # capped at five minutes: slowed down, never locked for good
    assert decide(
        counts(pair_failures=FREE_FAILURES + 3, pair_last_failure=NOW - timedelta(seconds=9)), NOW
    ).allowed


def test_an_address_spraying_many_accounts_is_stopped() -> None:
    decision = decide(counts(ip_failures=50, ip_oldest_failure=NOW - timedelta(minutes=5)), NOW)
    assert not decision.allowed
    assert decision.retry_after == 600


def test_at_most_100_failures_an_hour_on_one_account_unless_from_a_trusted_address() -> None:
    flooded = counts(account_failures=ACCOUNT_LIMIT, account_oldest_failure=NOW - timedelta(minutes=10))
    assert not decide(flooded, NOW).allowed
    assert decide(flooded, NOW).retry_after == 3000
    trusted = counts(
        account_failures=ACCOUNT_LIMIT,
        account_oldest_failure=NOW - timedelta(minutes=10),
        trusted_address=True,
    )
    assert decide(trusted, NOW).allowed  # the inspector's own office is not locked out


def test_throttling_holds_across_two_app_instances(
    make_settings: Callable[..., Settings],
    content: ContentDirs,
    migrated_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sign-in clock stands still: the doubling wait after the free failures is a second or
    # two, which a loaded machine's next requests could outlast (the test is about the count
    # being shared by the instances, not about the wait's length: see the tests of decide above).
    frozen = utcnow()
    monkeypatch.setattr(people_views, "utcnow", lambda: frozen)
    monkeypatch.setattr(people_api, "utcnow", lambda: frozen)
    person = make_person(migrated_database, "inspector")
    first = create_app(make_settings(content))
    second = create_app(make_settings(content))
    try:
        with TestClient(first) as a, TestClient(second) as b:
            for client in [a, b] * 3:  # six failures, alternating between the instances
                response = client.post(
                    "/login",
                    data={
                        "username": person.username,
                        "password": "wrong-wrong-wrong",
                        "csrf_token": csrf_token(client, "/login"),
                    },
                )
                if response.status_code == 429:
                    break
                assert response.status_code == 400
            refused = b.post(
                "/login",
                data={
                    "username": person.username,
                    "password": person.password,
                    "csrf_token": csrf_token(b, "/login"),
                },
            )
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert "Too many attempts" in refused.text
            api = a.post(
                "/api/v1/auth/token", json={"username": person.username, "password": person.password}
            )
            assert api.status_code == 429
            assert "retry-after" in api.headers
    finally:
        first.state.database.dispose()
        second.state.database.dispose()


def test_the_wait_expires_and_a_success_clears_the_count(app, migrated_database: Database) -> None:  # type: ignore[no-untyped-def]
    settings = app.state.settings
    person = make_person(migrated_database, "inspector")
    start = utcnow()
    for i in range(FREE_FAILURES + 1):
        result = auth.login(
            migrated_database,
            settings,
            person.username,
            "nope-nope-nope",
            ip="192.0.2.7",
            now=start + timedelta(seconds=i),
        )
        assert result.outcome == "invalid"
    blocked = auth.login(
        migrated_database,
        settings,
        person.username,
        person.password,
        ip="192.0.2.7",
        now=start + timedelta(seconds=FREE_FAILURES + 0.5),
    )
    assert blocked.outcome == "throttled"
    # Another address is not slowed by this one's failures.
    elsewhere = auth.login(
        migrated_database,
        settings,
        person.username,
        person.password,
        ip="198.51.100.1",
        now=start + timedelta(seconds=FREE_FAILURES + 0.5),
    )
    assert elsewhere.outcome == "ok"
    later = auth.login(
        migrated_database,
        settings,
        person.username,
        person.password,
        ip="192.0.2.7",
        now=start + timedelta(seconds=FREE_FAILURES + 5),
    )
    assert later.outcome == "ok"
    again = auth.login(
        migrated_database,
        settings,
        person.username,
        "nope-nope-nope",
        ip="192.0.2.7",
        now=start + timedelta(seconds=FREE_FAILURES + 6),
    )
    assert again.outcome == "invalid"  # counting starts afresh after the success
