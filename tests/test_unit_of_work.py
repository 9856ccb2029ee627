"""One unit of work per request (trainer.web.unit, trainer.db.UnitOfWork): opened by the
plumbing for pages and API routes alike, committed when the handler returns, rolled back when
it raises, and a second write unit in the same thread is refused on SQLite instead of waiting
for itself. Exercised through the real app with a few routes added for the purpose."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tests.conftest import csrf_token
from trainer.access import Access
from trainer.db import Database, UnitOfWork, utcnow
from trainer.people.models import Unit
from trainer.web.pages import page
from trainer.web.unit import Db, session_of


def _add_unit(db: object, name: str) -> None:
    db.add(Unit(name=name, kind="unit", lineage=f"/{name}/", path=name, created_at=utcnow()))  # type: ignore[attr-defined]


def _exists(database: Database, name: str) -> bool:
    with database.session() as db:
        return db.scalar(select(Unit.id).where(Unit.name == name)) is not None


@pytest.fixture
def uow_client(app: FastAPI) -> Iterator[TestClient]:
    def write_then(request: Request) -> Response:
        name = str(request.state.form.get("name", ""))
        _add_unit(session_of(request), name)
        session_of(request).flush()  # the row is written; only the end of the unit decides
        if request.state.form.get("fail") == "1":
            raise HTTPException(status_code=409)
        return PlainTextResponse("kept", status_code=400 if request.state.form.get("refuse") == "1" else 200)

    def read(request: Request) -> Response:
        session_of(request).execute(select(Unit.id).limit(1)).all()
        return PlainTextResponse("read")

    api = APIRouter(prefix="/api/v1/test-uow")

    @api.put("/{name}")
    def put(name: str, db: Db, fail: bool = False) -> dict[str, str]:
        _add_unit(db, name)
        db.flush()
        if fail:
            raise HTTPException(status_code=409, detail="refused after writing")
        return {"name": name}

    app.router.routes[0:0] = [
        page("/test-uow/write", write_then, access=Access.PUBLIC, methods=("POST",)),
        page("/test-uow/read", read, access=Access.PUBLIC),
    ]
    app.include_router(api)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def test_a_page_commits_when_its_handler_returns_and_rolls_back_when_it_raises(
    uow_client: TestClient, migrated_database: Database
) -> None:
    csrf = csrf_token(uow_client)
    kept, refused, failed = (f"uow-{uuid.uuid4().hex[:8]}" for _ in range(3))
    assert uow_client.post("/test-uow/write", data={"csrf_token": csrf, "name": kept}).status_code == 200
    answered = uow_client.post("/test-uow/write", data={"csrf_token": csrf, "name": refused, "refuse": "1"})
    assert answered.status_code == 400  # an answered refusal keeps what it recorded
    gone = uow_client.post("/test-uow/write", data={"csrf_token": csrf, "name": failed, "fail": "1"})
    assert gone.status_code == 409
    assert (_exists(migrated_database, kept), _exists(migrated_database, refused)) == (True, True)
    assert not _exists(migrated_database, failed)


def test_a_read_page_gets_a_read_session(uow_client: TestClient) -> None:
    assert uow_client.get("/test-uow/read").text == "read"


def test_an_api_route_commits_before_answering_and_rolls_back_on_a_refusal(
    uow_client: TestClient, migrated_database: Database
) -> None:
    kept, failed = (f"uow-{uuid.uuid4().hex[:8]}" for _ in range(2))
    assert uow_client.put(f"/api/v1/test-uow/{kept}").json() == {"name": kept}
    assert _exists(migrated_database, kept)  # committed by the time the client has the answer
    assert uow_client.put(f"/api/v1/test-uow/{failed}", params={"fail": "true"}).status_code == 409
    assert not _exists(migrated_database, failed)


def test_an_unused_unit_takes_no_connection(migrated_database: Database) -> None:
    unit = UnitOfWork(migrated_database, write=True)
    before = migrated_database.engine.pool.checkedout()  # type: ignore[attr-defined]
    unit.finish(ok=True)
    assert migrated_database.engine.pool.checkedout() == before  # type: ignore[attr-defined]
    with migrated_database.write() as db:  # and no write lock was left behind
        db.execute(select(1))


def test_a_second_write_unit_in_the_same_thread_is_refused_on_sqlite(migrated_database: Database) -> None:
    if not migrated_database.is_sqlite:
        pytest.skip("PostgreSQL takes concurrent writers; the one-writer lock is SQLite's")
    unit = UnitOfWork(migrated_database, write=True)
    unit.session.execute(select(1))
    try:
        with pytest.raises(RuntimeError, match="already open in this thread"), migrated_database.write():
            pass
    finally:
        unit.finish(ok=False)
    with migrated_database.write() as db:  # the lock was released
        db.execute(select(1))
