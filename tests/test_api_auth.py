"""The JSON API's bearer tokens and the signed-in person's own endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import make_person
from trainer.db import Database, utcnow
from trainer.people import auth


def token_for(client: TestClient, username: str, password: str) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=23) < expires - utcnow() <= timedelta(hours=24)
    return str(body["access_token"])


def test_token_and_me(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector", "trainer", unit="Prov/City/County/Bureau")
    token = token_for(client, person.username, person.password)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    body = me.json()
    assert body["id"] == person.id
    assert body["username"] == person.username
    assert body["full_name"] == f"Test {person.username}"
    assert body["roles"] == ["inspector", "trainer"]
    assert body["unit"]["name"] == "Bureau"
    assert body["unit"]["path"] == "Prov/City/County/Bureau"
    assert isinstance(body["unit"]["id"], int)


def test_wrong_credentials_and_bad_tokens_are_401(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector")
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": person.username, "password": "nope-nope"}
        ).status_code
        == 401
    )
    assert client.post("/api/v1/auth/token", json={"username": person.username}).status_code == 422
    for header in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/me", headers=header)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_tokens_are_stored_hashed_revocable_and_expire(
    client: TestClient, migrated_database: Database, app
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from trainer.people.models import ApiToken

    person = make_person(migrated_database, "inspector")
    token = token_for(client, person.username, person.password)
    with migrated_database.session() as db:
        hashes = db.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == person.id)).all()
    assert hashes == [auth.token_hash(token)]
    assert auth.load_api_token(migrated_database, token, utcnow() + timedelta(hours=25)) is None
    headers = {"Authorization": f"Bearer {token}"}
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_required_password_change_blocks_everything_else(
    client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector", must_change_password=True)
    token = token_for(client, person.username, person.password)
    headers = {"Authorization": f"Bearer {token}"}
    blocked = client.get("/api/v1/me", headers=headers)
    assert blocked.status_code == 403
    assert "password change required" in blocked.json()["detail"]
    weak = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": person.password, "new_password": "short"},
    )
    assert weak.status_code == 400
    # A refusal by the rules (trainer.errors.DomainError): every problem, the first as the message.
    assert weak.json()["detail"] == {
        "message": "Use at least 12 characters.",
        "code": "weak_password",
        "problems": ["Use at least 12 characters."],
    }
    wrong = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": "not-it-at-all", "new_password": "a fine new passphrase"},
    )
    assert wrong.status_code == 400
    done = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": person.password, "new_password": "a fine new passphrase"},
    )
    assert done.status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # the same token goes on working
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": person.username, "password": person.password}
        ).status_code
        == 401
    )


def test_the_api_is_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/v1/auth/token", "/api/v1/me", "/api/v1/me/password"} <= set(schema["paths"])
    assert not any(path.startswith(("/courses", "/admin", "/login")) for path in schema["paths"])
