"""The ceiling for exam day: the same framework, server and database as the app, doing only the
work each exam-day request cannot avoid (bench/exam_day.py measures the app against it).

- exam start (POST /api/v1/courses/{course}/exam/attempts): one token lookup, one single-row
  upsert returning the attempt id, and the paper's JSON from memory (the bytes the app sent for a
  real exam of the same course, with this attempt's id);
- answer save (PUT /api/v1/attempts/{id}/answers/{slot}): one token lookup and one single-row
  upsert, as bench/reference_write_app.py, answering `{"slot": N, "saved": true}`;
- submit (POST /api/v1/attempts/{id}/submit): one token lookup and one single-row update,
  answering a result of the app's shape (nothing is graded);
- module page and manager roll-up (GET /courses/{course}/{module}, GET /manage): the HTML the app
  served for them, from memory.

Every write is one transaction through `trainer.db.Database` (so on SQLite: WAL, BEGIN IMMEDIATE,
the process-wide write lock), from a sync route run in the threadpool, like the app's. The tables
are created and the tokens loaded by the bench (`prepare`) before the server starts, so several
workers never race to create them. Configuration comes from the environment:

    REFERENCE_DATABASE_URL=... REFERENCE_PAPER_FILE=... REFERENCE_MODULE_FILE=...
    REFERENCE_MANAGE_FILE=... python -m bench.reference_exam_app --port P [--workers 2]

Served as `trainer serve` serves the app: `uvicorn.run(app, host, port, proxy_headers=True,
timeout_keep_alive=75, log_level="info")`, or with `--workers` the factory import string, as
`trainer serve --workers`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, HTTPException, Path
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from trainer.config import Settings
from trainer.db import Database, utcnow


def schema(is_sqlite: bool) -> tuple[str, ...]:
    key = "INTEGER PRIMARY KEY" if is_sqlite else "BIGSERIAL PRIMARY KEY"
    return (
        f"""CREATE TABLE ref_tokens (id {key}, token_hash VARCHAR(64) NOT NULL UNIQUE,
            user_id INTEGER NOT NULL)""",
        f"""CREATE TABLE ref_attempts (id {key}, user_id INTEGER NOT NULL, course_id VARCHAR(100) NOT NULL,
            status VARCHAR(16) NOT NULL, started_at TIMESTAMP NOT NULL, UNIQUE (user_id, course_id))""",
        f"""CREATE TABLE ref_answers (id {key}, user_id INTEGER NOT NULL, attempt_id INTEGER NOT NULL,
            slot INTEGER NOT NULL, response TEXT NOT NULL, saved_at TIMESTAMP NOT NULL,
            UNIQUE (attempt_id, slot))""",
    )


LOOKUP = text("SELECT user_id FROM ref_tokens WHERE token_hash = :token_hash")
START = text(
    "INSERT INTO ref_attempts (user_id, course_id, status, started_at) "
    "VALUES (:user_id, :course_id, 'in_progress', :now) "
    "ON CONFLICT (user_id, course_id) DO UPDATE SET started_at = ref_attempts.started_at RETURNING id"
)
UPSERT = text(
    "INSERT INTO ref_answers (user_id, attempt_id, slot, response, saved_at) "
    "VALUES (:user_id, :attempt_id, :slot, :response, :saved_at) "
    "ON CONFLICT (attempt_id, slot) DO UPDATE SET response = excluded.response, saved_at = excluded.saved_at"
)
SUBMIT = text("UPDATE ref_attempts SET status = 'graded' WHERE id = :attempt_id AND user_id = :user_id")


def prepare(url: str, tokens: Iterable[tuple[str, int]]) -> None:
    """Create the tables and load (token hash, user id) pairs (set-up, not measured)."""
    database = Database(url)
    try:
        with database.write_connection() as conn:
            for statement in schema(database.is_sqlite):
                conn.execute(text(statement))
            rows = [{"token_hash": h, "user_id": u} for h, u in tokens]
            if rows:
                conn.execute(
                    text("INSERT INTO ref_tokens (token_hash, user_id) VALUES (:token_hash, :user_id)"), rows
                )
    finally:
        database.dispose()


def create_app() -> FastAPI:
    settings = Settings()
    database = Database(
        os.environ["REFERENCE_DATABASE_URL"],
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    # The paper as the app sent it, without its id: `{"id": N, ` is put in front per attempt.
    paper = json.loads(FilePath(os.environ["REFERENCE_PAPER_FILE"]).read_text(encoding="utf-8"))
    paper.pop("id", None)
    paper_tail = json.dumps(paper, ensure_ascii=False, separators=(",", ":")).encode("utf-8")[1:]
    max_score = float(paper.get("max_score", 0.0))
    module_html = FilePath(os.environ["REFERENCE_MODULE_FILE"]).read_text(encoding="utf-8")
    manage_html = FilePath(os.environ["REFERENCE_MANAGE_FILE"]).read_text(encoding="utf-8")
    app = FastAPI(title="reference exam day", docs_url=None, redoc_url=None, openapi_url=None)

    def user_of(db: Any, authorization: str) -> int:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(status_code=401, detail="a valid bearer token is required")
        token_hash = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
        user_id = db.execute(LOOKUP, {"token_hash": token_hash}).scalar_one_or_none()
        if user_id is None:
            raise HTTPException(status_code=401, detail="a valid bearer token is required")
        return int(user_id)

    @app.post("/api/v1/courses/{course_id}/exam/attempts")
    def start_exam(
        course_id: Annotated[str, Path(max_length=100)], authorization: Annotated[str, Header()] = ""
    ) -> Response:
        with database.write() as db:
            user_id = user_of(db, authorization)
            attempt_id = db.execute(
                START, {"user_id": user_id, "course_id": course_id, "now": utcnow().replace(tzinfo=None)}
            ).scalar_one()
        body = b'{"id":' + str(attempt_id).encode() + b"," + paper_tail
        return Response(body, media_type="application/json")

    @app.put("/api/v1/attempts/{attempt_id}/answers/{slot}")
    def save_answer(
        attempt_id: Annotated[int, Path(ge=1, le=2**62)],
        slot: Annotated[int, Path(ge=1, le=10_000)],
        response: Annotated[dict[str, Any], Body()],
        authorization: Annotated[str, Header()] = "",
    ) -> JSONResponse:
        stored = json.dumps(response, ensure_ascii=False, sort_keys=True)
        with database.write() as db:
            user_id = user_of(db, authorization)
            db.execute(
                UPSERT,
                {
                    "user_id": user_id,
                    "attempt_id": attempt_id,
                    "slot": slot,
                    "response": stored,
                    "saved_at": utcnow().replace(tzinfo=None),
                },
            )
        return JSONResponse({"slot": slot, "saved": True})

    @app.post("/api/v1/attempts/{attempt_id}/submit")
    def submit(
        attempt_id: Annotated[int, Path(ge=1, le=2**62)], authorization: Annotated[str, Header()] = ""
    ) -> JSONResponse:
        with database.write() as db:
            user_id = user_of(db, authorization)
            if not db.execute(SUBMIT, {"attempt_id": attempt_id, "user_id": user_id}).rowcount:  # type: ignore[attr-defined]
                raise HTTPException(status_code=404, detail="no such attempt")
        return JSONResponse(
            {"id": attempt_id, "status": "graded", "score": 0.0, "max_score": max_score, "passed": False}
        )

    @app.get("/courses/{course_id}/{module_id}", response_class=HTMLResponse)
    async def module_page(course_id: str, module_id: str) -> HTMLResponse:
        return HTMLResponse(module_html)

    @app.get("/manage", response_class=HTMLResponse)
    async def manage() -> HTMLResponse:
        return HTMLResponse(manage_html)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    import uvicorn

    from trainer.cli import KEEP_ALIVE_SECONDS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers > 1:
        uvicorn.run(
            "bench.reference_exam_app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            log_level="info",
        )
    else:
        uvicorn.run(
            create_app(),
            host=args.host,
            port=args.port,
            proxy_headers=True,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            log_level="info",
        )


if __name__ == "__main__":
    main()
