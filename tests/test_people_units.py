"""The people and admin pages and the people API in the request's unit of work (issue 14): their
queries moved into trainer.people.service, trainer.people.auth and trainer.audit.service.

What these tests hold the moved paths to: a refused form writes nothing (no row, no audit
entry), a change persists once the response is out and is audited, and a second submit of the
same form is harmless. Everything goes through the real app and database; what was stored is
read back with a session of the test's own."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Person, csrf_token, make_person, sign_in
from trainer.audit.models import AuditEvent
from trainer.db import Database
from trainer.people import auth, passwords
from trainer.people.models import ApiToken, Session, Unit, User, UserRole

NEW_PASSWORD = "a much better passphrase 2026"


def _events(database: Database, action: str, target_id: int | None = None) -> list[str]:
    """The details of every audit entry with this action (about this target, if given)."""
    statement = select(AuditEvent.details).where(AuditEvent.action == action)
    if target_id is not None:
        statement = statement.where(AuditEvent.target_id == str(target_id))
    with database.session() as db:
        return list(db.scalars(statement.order_by(AuditEvent.id)))


def _event_count(database: Database) -> int:
    with database.session() as db:
        return db.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _user(database: Database, user_id: int) -> User:
    with database.session() as db:
        return db.get_one(User, user_id)


def _users_named(database: Database, username: str) -> list[int]:
    with database.session() as db:
        return list(db.scalars(select(User.id).where(User.username == username)))


def _roles(database: Database, user_id: int) -> list[str]:
    with database.session() as db:
        return sorted(db.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def _admin(client: TestClient, database: Database) -> Person:
    admin = make_person(database, "admin", unit=None)
    sign_in(client, admin)
    return admin


def _signed_in_elsewhere(client: TestClient, person: Person) -> TestClient:
    """The person in another browser of their own."""
    other = TestClient(client.app)
    sign_in(other, person)
    assert not _signed_out(other, person)
    return other


def _signed_out(browser: TestClient, person: Person) -> bool:
    """Is this browser sent to sign in? (A signed-in person due to change their password is sent
    to do that instead.)"""
    response = browser.get(f"/people/{person.id}", follow_redirects=False)
    return response.status_code == 303 and response.headers["location"].startswith("/login")


# -- accounts -----------------------------------------------------------------------------------


def test_a_refused_new_account_writes_nothing_and_a_second_submit_is_refused(
    client: TestClient, migrated_database: Database
) -> None:
    _admin(client, migrated_database)
    name = f"new-{uuid.uuid4().hex[:8]}"
    form = {
        "csrf_token": csrf_token(client),
        "username": name,
        "full_name": "New Person",
        "roles": ["inspector"],
    }
    before = _event_count(migrated_database)
    no_unit = client.post("/admin/users/new", data=form)  # inspectors belong to a unit
    assert no_unit.status_code == 400
    assert "Inspectors and managers belong to a unit." in no_unit.text
    unknown_unit = client.post("/admin/users/new", data={**form, "unit_id": str(2**31 - 1)})
    assert unknown_unit.status_code == 400
    assert "Choose a unit from the list." in unknown_unit.text
    assert _users_named(migrated_database, name) == []
    assert _event_count(migrated_database) == before

    created = client.post("/admin/users/new", data={**form, "roles": ["trainer"]})
    assert created.status_code == 200
    shown = re.search(r'<code class="secret">([^<]+)</code>', created.text)
    assert shown is not None  # the initial password, shown once
    [user_id] = _users_named(migrated_database, name)
    assert _roles(migrated_database, user_id) == ["trainer"]
    assert passwords.verify_password(_user(migrated_database, user_id).password_hash, shown.group(1))
    assert len(_events(migrated_database, "user.created", user_id)) == 1

    again = client.post("/admin/users/new", data={**form, "roles": ["trainer"]})  # the same form, again
    assert again.status_code == 400
    assert "This username is taken." in again.text
    assert _users_named(migrated_database, name) == [user_id]
    assert len(_events(migrated_database, "user.created", user_id)) == 1


def test_a_refused_account_edit_changes_nothing(client: TestClient, migrated_database: Database) -> None:
    _admin(client, migrated_database)
    target = make_person(migrated_database, "inspector")
    stored = _user(migrated_database, target.id)
    before = _event_count(migrated_database)
    refused = client.post(
        f"/admin/users/{target.id}",
        data={
            "csrf_token": csrf_token(client),
            "full_name": "",  # required
            "email": "someone@example.org",
            "roles": ["manager"],
            "unit_id": str(stored.unit_id),
        },
    )
    assert refused.status_code == 400
    assert "The full name is required" in refused.text
    after = _user(migrated_database, target.id)
    assert (after.full_name, after.email, after.unit_id) == (stored.full_name, None, stored.unit_id)
    assert _roles(migrated_database, target.id) == ["inspector"]
    assert _event_count(migrated_database) == before


def test_an_account_edit_persists_and_is_audited_once(
    client: TestClient, migrated_database: Database
) -> None:
    _admin(client, migrated_database)
    target = make_person(migrated_database, "inspector")
    unit_id = _user(migrated_database, target.id).unit_id
    form = {
        "csrf_token": csrf_token(client),
        "full_name": "Renamed Person",
        "roles": ["inspector", "trainer"],
        "unit_id": str(unit_id),
    }
    for _ in range(2):  # the second submit finds nothing left to change
        response = client.post(f"/admin/users/{target.id}", data=form, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/admin/users/{target.id}"
    assert _user(migrated_database, target.id).full_name == "Renamed Person"
    assert _roles(migrated_database, target.id) == ["inspector", "trainer"]
    assert _events(migrated_database, "user.roles_changed", target.id) == [
        '{"from":["inspector"],"to":["inspector","trainer"]}'
    ]
    assert len(_events(migrated_database, "user.updated", target.id)) == 1


def test_a_deactivation_with_a_reason_persists_is_audited_and_a_second_submit_is_harmless(
    client: TestClient, migrated_database: Database
) -> None:
    _admin(client, migrated_database)
    target = make_person(migrated_database, "inspector")
    theirs = _signed_in_elsewhere(client, target)
    form = {"csrf_token": csrf_token(client), "confirm": "yes", "reason": "left the service"}
    for _ in range(2):
        response = client.post(f"/admin/users/{target.id}/deactivate", data=form, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/admin/users/{target.id}"
    assert not _user(migrated_database, target.id).is_active
    assert _events(migrated_database, "user.deactivated", target.id) == ['{"reason":"left the service"}']
    assert _signed_out(theirs, target)  # their session ended with the deactivation

    activated = client.post(
        f"/admin/users/{target.id}/activate", data={"csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert activated.status_code == 303
    assert _user(migrated_database, target.id).is_active
    assert len(_events(migrated_database, "user.activated", target.id)) == 1


def test_an_admin_cannot_deactivate_their_own_account_and_nothing_is_written(
    client: TestClient, migrated_database: Database
) -> None:
    admin = _admin(client, migrated_database)
    before = _event_count(migrated_database)
    refused = client.post(
        f"/admin/users/{admin.id}/deactivate",
        data={"csrf_token": csrf_token(client), "confirm": "yes", "reason": "testing"},
    )
    assert refused.status_code == 400
    assert "You cannot deactivate your own account." in refused.text
    assert _user(migrated_database, admin.id).is_active
    assert _event_count(migrated_database) == before
    assert client.get("/admin", follow_redirects=False).status_code == 200  # still signed in


def test_a_password_reset_with_a_reason_persists_and_is_audited(
    client: TestClient, migrated_database: Database
) -> None:
    _admin(client, migrated_database)
    target = make_person(migrated_database, "inspector")
    theirs = _signed_in_elsewhere(client, target)
    reset = client.post(
        f"/admin/users/{target.id}/reset-password",
        data={"csrf_token": csrf_token(client), "confirm": "yes", "reason": "forgot it"},
    )
    assert reset.status_code == 200
    shown = re.search(r'<code class="secret">([^<]+)</code>', reset.text)
    assert shown is not None
    stored = _user(migrated_database, target.id)
    assert passwords.verify_password(stored.password_hash, shown.group(1))
    assert stored.must_change_password
    assert _events(migrated_database, "user.password_reset", target.id) == ['{"reason":"forgot it"}']
    assert _signed_out(theirs, target)
    sign_in(TestClient(client.app), Person(target.id, target.username, shown.group(1), target.unit_path))


def test_an_account_page_of_nobody_is_a_404_and_writes_nothing(
    client: TestClient, migrated_database: Database
) -> None:
    _admin(client, migrated_database)
    before = _event_count(migrated_database)
    nobody = 2**31 - 1
    assert client.get(f"/admin/users/{nobody}").status_code == 404
    for action in ("deactivate", "activate", "reset-password"):
        form = {"csrf_token": csrf_token(client), "confirm": "yes", "reason": "x"}
        assert client.post(f"/admin/users/{nobody}/{action}", data=form).status_code == 404
    assert _event_count(migrated_database) == before


# -- units and the lists --------------------------------------------------------------------------


def test_a_new_unit_persists_once_and_refusals_write_nothing(
    client: TestClient, migrated_database: Database
) -> None:
    _admin(client, migrated_database)
    name = f"Unit {uuid.uuid4().hex[:8]}"
    form = {"csrf_token": csrf_token(client), "name": name}
    created = client.post("/admin/units", data=form, follow_redirects=False)
    assert created.status_code == 303
    before = _event_count(migrated_database)
    again = client.post("/admin/units", data=form)
    assert again.status_code == 400
    assert "A unit with this name already exists here." in again.text
    no_parent = client.post(
        "/admin/units", data={**form, "name": f"{name} child", "parent_id": str(2**31 - 1)}
    )
    assert no_parent.status_code == 400
    assert "The parent unit does not exist." in no_parent.text
    assert _event_count(migrated_database) == before
    with migrated_database.session() as db:
        units = db.scalars(select(Unit).where(Unit.name.like(f"{name}%"))).all()
    assert [(unit.path, unit.parent_id) for unit in units] == [(name, None)]
    assert _events(migrated_database, "unit.created", units[0].id) == [f'{{"path":"{name}"}}']

    child = client.post(
        "/admin/units",
        data={**form, "name": "Bureau", "parent_id": str(units[0].id)},
        follow_redirects=False,
    )
    assert child.status_code == 303
    listed = client.get("/admin/units")
    assert f"{name}/Bureau" in listed.text


def test_the_admin_lists_and_counts_match_the_database(
    client: TestClient, migrated_database: Database
) -> None:
    _admin(client, migrated_database)
    trainer = make_person(migrated_database, "trainer", unit="Searchable Province/Unit")
    inspector = make_person(migrated_database, "inspector", unit="Searchable Province/Unit")
    found = client.get("/admin/users", params={"q": trainer.username})
    assert found.status_code == 200
    assert trainer.username in found.text
    assert inspector.username not in found.text
    by_role = client.get("/admin/users", params={"q": "Searchable Province", "role": "inspector"}).text
    assert inspector.username in by_role
    assert trainer.username not in by_role

    overview = client.get("/admin").text
    with migrated_database.session() as db:
        users = db.scalar(select(func.count()).select_from(User))
        units = db.scalar(select(func.count()).select_from(Unit))
        events = db.scalar(select(func.count()).select_from(AuditEvent))
    assert f"<strong>{users}</strong>" in overview
    assert f"<strong>{units}</strong>" in overview
    assert f"<strong>{events}</strong>" in overview


# -- one's own account --------------------------------------------------------------------------


def test_a_refused_password_change_changes_nothing_and_a_right_one_persists(
    client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector", must_change_password=True)
    theirs_elsewhere = _signed_in_elsewhere(client, person)
    sign_in(client, person)
    stored = _user(migrated_database, person.id).password_hash
    before = _event_count(migrated_database)
    form = {
        "csrf_token": csrf_token(client, "/account/password"),
        "current_password": "not the password at all",
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    wrong = client.post("/account/password", data=form)
    assert wrong.status_code == 400
    assert "The current password is not right." in wrong.text
    assert _user(migrated_database, person.id).password_hash == stored
    assert _event_count(migrated_database) == before

    done = client.post("/account/password", data={**form, "current_password": person.password})
    assert done.status_code == 200
    assert "Your password has been changed" in done.text
    stored_now = _user(migrated_database, person.id)
    assert passwords.verify_password(stored_now.password_hash, NEW_PASSWORD)
    assert not stored_now.must_change_password
    assert len(_events(migrated_database, "user.password_changed", person.id)) == 1
    assert client.get("/courses", follow_redirects=False).status_code == 200  # this session goes on
    assert _signed_out(theirs_elsewhere, person)

    again = client.post("/account/password", data={**form, "current_password": person.password})
    assert again.status_code == 400  # the old password is no longer the current one
    assert len(_events(migrated_database, "user.password_changed", person.id)) == 1


def test_signing_out_and_signing_in_again_end_the_session_on_the_server(
    client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector")
    sign_in(client, person)
    sign_in(client, person)  # the first session of this browser ends
    assert (
        client.post("/logout", data={"csrf_token": csrf_token(client)}, follow_redirects=False).status_code
        == 303
    )
    with migrated_database.session() as db:
        open_sessions = db.scalar(
            select(func.count()).where(Session.user_id == person.id, Session.revoked_at.is_(None))
        )
    assert open_sessions == 0
    assert len(_events(migrated_database, "logout", person.id)) == 2


def test_the_api_password_change_and_revocation_persist_and_refusals_write_nothing(
    client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector")
    issued = client.post(
        "/api/v1/auth/token", json={"username": person.username, "password": person.password}
    )
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    stored = _user(migrated_database, person.id).password_hash
    before = _event_count(migrated_database)
    wrong = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": "not the password at all", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 400
    assert wrong.json()["detail"]["code"] == "wrong_password"
    assert _user(migrated_database, person.id).password_hash == stored
    assert _event_count(migrated_database) == before

    done = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": person.password, "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 204
    assert passwords.verify_password(_user(migrated_database, person.id).password_hash, NEW_PASSWORD)
    assert len(_events(migrated_database, "user.password_changed", person.id)) == 1

    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 401  # already revoked
    with migrated_database.session() as db:
        revoked = db.scalar(
            select(ApiToken.revoked_at).where(
                ApiToken.token_hash == auth.token_hash(issued.json()["access_token"])
            )
        )
    assert revoked is not None
    assert len(_events(migrated_database, "api_token.revoked", person.id)) == 1
