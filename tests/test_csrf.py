"""Every state-changing form refuses a missing or wrong CSRF token, and writes nothing."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import csrf_token, make_person, page_routes, sign_in
from trainer.db import Database
from trainer.models import metadata


def form_routes(app: FastAPI) -> list[str]:
    return sorted({r.path for r in page_routes(app) if "POST" in (r.methods or ())})


def row_counts(database: Database) -> dict[str, int]:
    with database.session() as db:
        return {
            table.name: db.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
        }


def test_there_are_forms_to_check(app: FastAPI) -> None:
    assert len(form_routes(app)) >= 10


@pytest.mark.parametrize("token", ["missing", "wrong", "from another browser"])
def test_every_form_rejects_a_bad_token(app: FastAPI, migrated_database: Database, token: str) -> None:
    admin = make_person(migrated_database, "admin", unit=None)
    target = make_person(migrated_database, "inspector")
    client = TestClient(app)
    sign_in(client, admin)
    other = TestClient(app)
    other_token = csrf_token(other)  # a valid token, but for another browser's cookie
    before = row_counts(migrated_database)
    checked = []
    for path in form_routes(app):
        url = path.replace("{user_id}", str(target.id))
        data = {
            "lang": "zh-CN",
            "next": "/",
            "name": "New Unit",
            "username": admin.username,
            "password": admin.password,
            "full_name": "Changed",
            "roles": "admin",
        }
        if token == "wrong":
            data["csrf_token"] = "0" * 64
        elif token == "from another browser":
            data["csrf_token"] = other_token
        response = client.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403, (path, response.status_code)
        checked.append(path)
    assert row_counts(migrated_database) == before  # nothing written, not even an audit entry
    assert '<html lang="en">' in client.get("/courses").text  # the language did not change
    assert "Sign out" in client.get("/courses").text  # and the logout did not happen
    assert len(checked) == len(form_routes(app))


def test_login_tokens_change_when_the_session_does(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector")
    before = csrf_token(client)
    sign_in(client, person)
    after = csrf_token(client)
    assert before != after
    response = client.post("/logout", data={"csrf_token": before}, follow_redirects=False)
    assert response.status_code == 403


def test_no_state_changes_on_get(app: FastAPI) -> None:
    for route in page_routes(app):
        if "GET" in (route.methods or ()):
            assert route.path not in {"/logout", "/language"}
            assert not route.path.endswith(("/deactivate", "/activate", "/reset-password"))
