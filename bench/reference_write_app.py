"""The ceiling for an answer save: the same framework, server and database, doing only the work
no answer save can avoid.

For the bearer token in the header: one indexed lookup (token hash -> user) and one single-row
upsert of the response, in one SQLite write transaction through `trainer.db.Database` (so the
same engine settings: WAL, foreign keys, busy timeout, synchronous=NORMAL, BEGIN IMMEDIATE and the
process-wide write lock), from a sync route run in the threadpool like the real one. It answers
what the real endpoint answers for an exam: `{"slot": N, "saved": true}`.

Started by bench/answer_saves.py, which names the database file and a file of `hash,user_id`
lines (the SHA-256 of each inspector's real token):

    REFERENCE_DATABASE_FILE=... REFERENCE_TOKENS_FILE=... python -m bench.reference_write_app --port P

It is served exactly as `trainer serve` serves the app: one process, `uvicorn.run(app, host,
port, proxy_headers=True, log_level="info")`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, HTTPException, Path
from fastapi.responses import JSONResponse
from sqlalchemy import text

from trainer.config import Settings
from trainer.db import Database, utcnow

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id INTEGER PRIMARY KEY,
        token_hash VARCHAR(64) NOT NULL UNIQUE,
        user_id INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS answers (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL,
        attempt_id INTEGER NOT NULL,
        slot INTEGER NOT NULL,
        response TEXT NOT NULL,
        saved_at DATETIME NOT NULL,
        UNIQUE (attempt_id, slot)
    )""",
)
LOOKUP = text("SELECT user_id FROM api_tokens WHERE token_hash = :token_hash")
UPSERT = text(
    "INSERT INTO answers (user_id, attempt_id, slot, response, saved_at) "
    "VALUES (:user_id, :attempt_id, :slot, :response, :saved_at) "
    "ON CONFLICT (attempt_id, slot) DO UPDATE SET response = excluded.response, saved_at = excluded.saved_at"
)
INSERT_TOKEN = text("INSERT OR IGNORE INTO api_tokens (token_hash, user_id) VALUES (:token_hash, :user_id)")


def prepare(database: Database, tokens_file: FilePath) -> None:
    """Create the two tables and load the token hashes (set-up, not measured)."""
    rows = []
    for line in tokens_file.read_text(encoding="ascii").splitlines():
        token_hash, _, user_id = line.partition(",")
        rows.append({"token_hash": token_hash, "user_id": int(user_id)})
    with database.write_connection() as conn:
        for statement in SCHEMA:
            conn.execute(text(statement))
        if rows:
            conn.execute(INSERT_TOKEN, rows)


def create_app() -> FastAPI:
    settings = Settings()
    database = Database(
        f"sqlite:///{os.environ['REFERENCE_DATABASE_FILE']}",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    prepare(database, FilePath(os.environ["REFERENCE_TOKENS_FILE"]))
    app = FastAPI(title="reference write", docs_url=None, redoc_url=None, openapi_url=None)

    @app.put("/api/v1/attempts/{attempt_id}/answers/{slot}")
    def save_answer(
        attempt_id: Annotated[int, Path(ge=1, le=2**62)],
        slot: Annotated[int, Path(ge=1, le=10_000)],
        response: Annotated[dict[str, Any], Body()],
        authorization: Annotated[str, Header()] = "",
    ) -> JSONResponse:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(status_code=401, detail="a valid bearer token is required")
        token_hash = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
        stored = json.dumps(response, ensure_ascii=False, sort_keys=True)
        with database.write() as db:
            user_id = db.execute(LOOKUP, {"token_hash": token_hash}).scalar_one_or_none()
            if user_id is None:
                raise HTTPException(status_code=401, detail="a valid bearer token is required")
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

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, proxy_headers=True, log_level="info")


if __name__ == "__main__":
    main()
