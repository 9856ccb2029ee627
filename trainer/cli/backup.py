"""`trainer backup DIR` and `trainer restore DIR`: a consistent copy of the database while the
app serves, and its return into an empty database.

What a backup folder holds:
- the database: SQLite through its online backup API (`sqlite3.Connection.backup`: pages copied
  under a read transaction, so writers keep going and the copy is one consistent moment);
  PostgreSQL through `pg_dump --format=custom` (one snapshot transaction, restorable table by
  table with `pg_restore`);
- `manifest.json`: when and from which schema revision it was taken, the file's size and
  SHA-256, the row count of every table (what `restore` checks afterwards), and where the two
  things that are *not* in the database live: the content library (courses and question bank
  folders: back them up with the files, or keep them in git) and the secret key (the audit chain's
  key derives from it, so `trainer audit verify` on a restored copy needs the same key).

The secret itself is never written into the backup: a backup is often kept where the server's
secrets should not be.

`restore` refuses a database that holds any table (restoring over live data is not a restore but
a merge) and a folder whose file does not match its manifest's hash; after restoring it counts
every table against the manifest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, func, inspect, select, text
from sqlalchemy.engine import make_url

from trainer import migrate
from trainer.config import Settings
from trainer.db import Database, utcnow

MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.dump"
FORMAT = 1  # the manifest's own format, raised when its meaning changes


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Outcome:
    folder: Path
    file: Path
    size: int
    tables: int
    rows: int


def backup(settings: Settings, database: Database, folder: Path) -> Outcome:
    """Write a backup of `database` into `folder` (new or empty)."""
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: back up into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    taken = utcnow()
    revision = migrate.current_revision(database)
    if database.is_sqlite:
        target = folder / SQLITE_FILE
        _sqlite_backup(_sqlite_path(database.url), target)
        rows = _sqlite_row_counts(target)  # on the copy: the live database has moved on since
    else:
        target = folder / POSTGRES_FILE
        rows = _pg_dump(database, target)
    size = target.stat().st_size
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "taken_at": taken.isoformat(),
        "database": "sqlite" if database.is_sqlite else "postgresql",
        "schema_revision": revision,
        "file": target.name,
        "size": size,
        "sha256": _sha256(target),
        "rows": rows,
        "content_library": {
            "courses_dir": str(settings.courses_dir.resolve()),
            "question_bank_dir": str(settings.question_bank_dir.resolve()),
            "note": "not in this backup: keep the content folders in git or back them up with the files",
        },
        "secret_key": {
            "location": _secret_location(settings),
            "audit_key": "environment variable TRAINER_AUDIT_KEY"
            if settings.audit_key
            else "derived from the secret key",
            "note": "not in this backup: restore with the same key, "
            "or `trainer audit verify` cannot check the chain",
        },
    }
    (folder / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return Outcome(folder, target, size, len(rows), sum(rows.values()))


def restore(database: Database, folder: Path) -> Outcome:
    """Load the backup in `folder` into `database`, which must hold no table."""
    manifest = read_manifest(folder)
    source = folder / manifest["file"]
    if not source.is_file():
        raise BackupError(f"{source} is missing")
    if _sha256(source) != manifest["sha256"]:
        raise BackupError(f"{source} does not match the SHA-256 in {MANIFEST}: the copy is damaged")
    kind = "sqlite" if database.is_sqlite else "postgresql"
    if manifest["database"] != kind:
        raise BackupError(f"this backup is of a {manifest['database']} database; the target is {kind}")
    existing = inspect(database.engine).get_table_names()
    if existing:
        raise BackupError(
            f"the target database is not empty ({len(existing)} tables, e.g. {sorted(existing)[0]}): "
            "restore into a new, empty database"
        )
    if database.is_sqlite:
        database.engine.dispose()
        _sqlite_backup(source, _sqlite_path(database.url), immutable=True)
    else:
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--dbname",
                _libpq(database.url),
                str(source),
            ]
        )
    database.engine.dispose()
    rows = _row_counts(database)
    expected = manifest["rows"]
    if rows != expected:
        differ = sorted(name for name in set(rows) | set(expected) if rows.get(name) != expected.get(name))
        raise BackupError(f"restored, but row counts differ from the manifest in: {', '.join(differ)}")
    return Outcome(folder, source, source.stat().st_size, len(rows), sum(rows.values()))


def _secret_location(settings: Settings) -> str:
    kept = settings.data_dir / "secret_key"
    if kept.is_file() and kept.read_text(encoding="utf-8").strip() == settings.secret_key:
        return str(kept.resolve())  # generated on first start (development)
    return "environment variable TRAINER_SECRET_KEY"


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path} not found: not a trainer backup folder") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from None
    if manifest.get("format") != FORMAT or not {"file", "sha256", "database", "rows"} <= manifest.keys():
        raise BackupError(f"{path} is not a trainer backup manifest of format {FORMAT}")
    return manifest


def taken_at(folder: Path) -> datetime:
    return datetime.fromisoformat(read_manifest(folder)["taken_at"])


def _sqlite_backup(source: Path, target: Path, *, immutable: bool = False) -> None:
    """Copy one SQLite database file into another through the online backup API (consistent while
    the source is being written; WAL contents included)."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    # One step (pages=-1) under one read transaction: in WAL mode writers go on meanwhile, and a
    # stepwise copy would start over each time another connection writes.
    # A backup file (immutable) is read without the -wal and -shm files a WAL database's
    # readers otherwise create beside it.
    src = sqlite3.connect(f"file:{source.as_posix()}?{'immutable=1' if immutable else 'mode=ro'}", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
    finally:
        dst.close()
        src.close()


def _sqlite_path(url: str) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(name)


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it (no `+psycopg` driver part)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(
            f"{command[0]} not found: install the PostgreSQL client tools of the server's version"
        )
    # The command is ours (pg_dump/pg_restore) and takes a list, never a shell string.
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip() or done.returncode}")


def _pg_dump(database: Database, target: Path) -> dict[str, int]:
    """pg_dump into `target`, and the row counts of the very snapshot it dumped: this transaction
    exports its snapshot and pg_dump takes it over (`--snapshot`), so the manifest's counts and
    the dump are the same moment however busy the database is."""
    with database.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        _run(
            [
                "pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                "--snapshot", snapshot, "--file", str(target), _libpq(database.url),
            ]
        )  # fmt: skip
        return _count(conn)


def _sqlite_row_counts(path: Path) -> dict[str, int]:
    """Row counts of a SQLite file opened as immutable: counting leaves no -wal or -shm beside it."""
    conn = sqlite3.connect(f"file:{path.as_posix()}?immutable=1", uri=True)
    try:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}  # noqa: S608
    finally:
        conn.close()


def _row_counts(database: Database) -> dict[str, int]:
    with database.engine.connect() as conn:
        return _count(conn)


def _count(conn: Connection) -> dict[str, int]:
    metadata = MetaData()
    metadata.reflect(conn)
    return {
        name: conn.execute(select(func.count()).select_from(table)).scalar_one()
        for name, table in sorted(metadata.tables.items())
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
