"""Signing in and out in the browser: server-side sessions, rotation, time-outs, revocation."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Person, csrf_token, make_person, sign_in
from trainer.db import Database, utcnow
from trainer.people import auth
from trainer.people.models import Session


def session_cookie(client: TestClient) -> str | None:
    return client.cookies.get("trainer_session")


def test_sign_in_sets_a_secure_server_side_session(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector")
    response = client.post(
        "/login",
        data={
            "username": person.username.upper(),
            "password": person.password,
            "csrf_token": csrf_token(client, "/login"),
            "next": "/courses/demo-course",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/courses/demo-course"
    cookie = response.headers["set-cookie"]
    assert "trainer_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    token = session_cookie(client)
    assert token is not None
    assert len(token) >= 43  # 256 bits, base64url
    with migrated_database.session() as db:
        stored = db.scalars(select(Session.token_hash).where(Session.user_id == person.id)).all()
    assert stored == [auth.token_hash(token)]  # only the hash is stored
    page = client.get("/courses").text
    assert f"Test {person.username}" in page
    assert "Sign out" in page


def test_the_session_cookie_is_secure_over_https(app: FastAPI, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector")
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, person)
        response = client.get("/courses")
        assert response.status_code == 200
        assert f"Test {person.username}" in response.text
    # The cookie jar only sends it over https because it was marked Secure.
    assert any(cookie.secure for cookie in client.cookies.jar if cookie.name == "trainer_session")


def test_wrong_password_and_unknown_user_look_the_same(
    client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector")
    for username, password in ((person.username, "wrong-password-123"), ("nobody-here", "whatever-password")):
        response = client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_token(client, "/login")},
        )
        assert response.status_code == 400
        assert "The username or password is not right." in response.text
        assert session_cookie(client) is None


def test_the_session_is_rotated_at_sign_in(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector")
    planted = "attacker-chosen-value-0123456789abcdefghijk"  # a session fixation attempt
    fixated = TestClient(client.app, cookies={"trainer_session": planted})
    response = fixated.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": csrf_token(fixated, "/login"),
        },
        follow_redirects=False,
    )
    issued = response.cookies.get("trainer_session")
    assert issued is not None
    assert issued != planted
    sign_in(client, person)
    first = session_cookie(client)
    assert first is not None
    sign_in(client, person)  # signing in again in the same browser
    second = session_cookie(client)
    assert second is not None
    assert second != first
    # The earlier session is over on the server.
    replay = TestClient(client.app, cookies={"trainer_session": first})
    assert "Sign out" not in replay.get("/courses").text


def test_a_replayed_cookie_after_logout_is_refused(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector")
    sign_in(client, person)
    token = session_cookie(client)
    assert client.get(f"/people/{person.id}").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_token(client)}, follow_redirects=False)
    assert response.status_code == 303
    replay = TestClient(client.app, cookies={"trainer_session": token or ""})
    response = replay.get(f"/people/{person.id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_idle_and_absolute_time_outs(app: FastAPI, migrated_database: Database) -> None:
    settings = app.state.settings
    person = make_person(migrated_database, "inspector")
    now = utcnow()
    result = auth.login(migrated_database, settings, person.username, person.password, ip="10.0.0.1", now=now)
    assert result.token is not None
    idle = timedelta(minutes=settings.session_idle_minutes)
    assert auth.load_session(migrated_database, settings, result.token, now + idle - timedelta(seconds=5))
    # Activity keeps it alive...
    later = now + 2 * idle - timedelta(seconds=10)
    assert auth.load_session(migrated_database, settings, result.token, later)
    # ...but not past the idle limit since the last activity,
    assert (
        auth.load_session(migrated_database, settings, result.token, later + idle + timedelta(minutes=2))
        is None
    )
    # and never past the absolute limit, however active.
    fresh = auth.login(migrated_database, settings, person.username, person.password, ip="10.0.0.1", now=now)
    assert fresh.token is not None
    t = now
    while t < now + timedelta(hours=settings.session_max_hours) - idle:
        t += idle - timedelta(minutes=1)
        auth.load_session(migrated_database, settings, fresh.token, t)
    assert (
        auth.load_session(
            migrated_database,
            settings,
            fresh.token,
            now + timedelta(hours=settings.session_max_hours, seconds=1),
        )
        is None
    )


def test_deactivation_ends_sessions_at_once(client: TestClient, migrated_database: Database) -> None:
    from trainer.audit import service as audit
    from trainer.people import service
    from trainer.people.models import User

    person = make_person(migrated_database, "inspector")
    sign_in(client, person)
    assert client.get(f"/people/{person.id}").status_code == 200
    with migrated_database.write() as db:
        service.set_active(db, audit.SYSTEM, db.get_one(User, person.id), False, utcnow())
    assert client.get(f"/people/{person.id}", follow_redirects=False).status_code == 303
    again = client.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert again.status_code == 400


def test_first_sign_in_forces_a_password_change(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector", must_change_password=True)
    response = client.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": csrf_token(client, "/login"),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/account/password"
    blocked = client.get("/courses", follow_redirects=False)
    assert blocked.status_code == 303
    assert blocked.headers["location"] == "/account/password"
    token = csrf_token(client, "/account/password")
    weak = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": person.password,
            "new_password": "password1234",
            "confirm_password": "password1234",
        },
    )
    assert weak.status_code == 400
    assert "too common" in weak.text
    new = "a much better passphrase 2026"
    done = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": person.password,
            "new_password": new,
            "confirm_password": new,
        },
    )
    assert done.status_code == 200
    assert "Your password has been changed" in done.text
    assert client.get("/courses").status_code == 200
    other = TestClient(client.app)
    sign_in(other, Person(person.id, person.username, new, person.unit_path))


def test_password_rules(client: TestClient, migrated_database: Database) -> None:
    from trainer.people.passwords import password_problems

    assert password_problems("short") == ["Use at least 12 characters."]
    assert "This password is too common or too simple to guess." in password_problems("qwertyuiop123")
    assert "This password is too common or too simple to guess." in password_problems("aaaaaaaaaaaaaaa")
    assert "The password must not contain the username." in password_problems(
        "xx-inspector.li-xx", username="inspector.li"
    )
    assert password_problems("a perfectly fine passphrase") == []


def test_a_private_library_needs_signing_in(make_settings, content, migrated_database: Database) -> None:  # type: ignore[no-untyped-def]
    from trainer.app import create_app

    app = create_app(make_settings(content, public_library=False))
    try:
        with TestClient(app) as client:
            for path in (
                "/courses",
                "/courses/demo-course/demo-first",
                "/search?q=air",
                "/courses/demo-course/assets/airflow.svg",
            ):
                response = client.get(path, follow_redirects=False)
                assert response.status_code == 303, path
                assert response.headers["location"].startswith("/login?next=")
            assert client.get("/healthz").status_code == 200
            sign_in(client, make_person(migrated_database, "inspector"))
            assert client.get("/courses/demo-course/demo-first").status_code == 200
    finally:
        app.state.database.dispose()


def test_a_checked_session_is_remembered_for_seconds_and_account_changes_apply_at_once(
    app: FastAPI, migrated_database: Database
) -> None:
    """Each process remembers a checked cookie for CREDENTIAL_CACHE_SECONDS (a page then needs
    no query): a revocation made by another process takes effect within that window, and one
    made through this process (role change, deactivation, sign-out) at once."""
    from sqlalchemy import update

    from trainer.audit import service as audit
    from trainer.people import service
    from trainer.people.models import Unit, User

    settings = app.state.settings
    person = make_person(migrated_database, "inspector")
    now = utcnow()
    result = auth.login(migrated_database, settings, person.username, person.password, ip="10.0.0.1", now=now)
    assert result.token is not None
    viewer = auth.load_session(migrated_database, settings, result.token, now)
    assert viewer is not None
    assert viewer.roles == {"inspector"}
    assert auth.remembered_session(migrated_database, settings, result.token, now) == viewer

    # A change through this process: the next request sees it.
    with migrated_database.write() as db:
        user = db.get_one(User, person.id)
        service.update_user(
            db,
            audit.SYSTEM,
            user,
            full_name=user.full_name,
            email=None,
            unit=db.get(Unit, user.unit_id),
            roles=["inspector", "manager"],
            now=now,
        )
    assert auth.remembered_session(migrated_database, settings, result.token, now) is None
    again = auth.load_session(migrated_database, settings, result.token, now + timedelta(seconds=1))
    assert again is not None
    assert again.roles == {"inspector", "manager"}

    # A revocation written by another process (here: straight to the database) is noticed once
    # the remembered check is older than the window.
    with migrated_database.write() as db:
        db.execute(update(Session).where(Session.user_id == person.id).values(revoked_at=now))
    window = timedelta(seconds=auth.CREDENTIAL_CACHE_SECONDS)
    assert auth.load_session(migrated_database, settings, result.token, now + window - timedelta(seconds=1))
    assert (
        auth.load_session(migrated_database, settings, result.token, now + timedelta(seconds=1) + window)
        is None
    )
    # and a clock that runs backwards never reads the memory.
    assert (
        auth.remembered_session(migrated_database, settings, result.token, now - timedelta(seconds=1)) is None
    )
