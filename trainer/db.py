"""Database engine, sessions and the rules for writing safely on SQLite and PostgreSQL.

A request's work goes through one `UnitOfWork` (opened by the request plumbing, trainer.web.unit:
a read session for GET, a write session for the other methods, committed when the handler
returns and rolled back if it raises); services take its session and never commit. Tools and
background jobs use `Database.write()`, the same unit of work as a block. Reads outside a
request use a plain session. On SQLite a write transaction starts with `BEGIN IMMEDIATE` (so it takes the
write lock up front instead of failing half-way with "database is locked"), and a process-wide
lock lets only one connection write - and therefore checkpoint the WAL - at a time. That keeps us
clear of the WAL-reset corruption race of SQLite releases before 3.51.3 (this machine links
3.40); several app processes are what PostgreSQL is for.
"""

from __future__ import annotations

import select
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, MetaData, create_engine, event, exc, text
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

from trainer import localtime
from trainer.caching import Caches

# Stable constraint names, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite has no time zones: stored as naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Ids are 32-bit INTEGER columns: PostgreSQL refuses a larger number in a query (a 500, not a
# 404), so ids from paths and forms stop here (pages answer 404, API path parameters 422).
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


# A pooled PostgreSQL connection idle longer than this is pinged before use (one round trip),
# so one left broken by a database restart or a dropped link is replaced instead of failing a
# request. Not on every checkout (SQLAlchemy's pool_pre_ping): on exam day a save checks out
# twice, and the pings were a quarter of the app's time in bench/exam_day.py on PostgreSQL.
PING_AFTER_IDLE_SECONDS = 10.0


# Timeouts (PostgreSQL): a database that accepts connections but never answers must not hold a
# request (or /healthz) forever. A statement running longer than the limit is cancelled and the
# request answers 503; migrations lift the limit for their own transaction.
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_SECONDS = 30


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        max_overflow: int = 10,
        ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
        audit_key: bytes | None = None,
        time_zone: ZoneInfo | None = None,
        connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
        statement_timeout: int = STATEMENT_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        # The audit chain's HMAC key (trainer.audit.service.derive_key): kept here, not in the
        # database, and handed to each unit of work so that `audit.record` can sign.
        self.audit_key = audit_key
        # The zone the reports' month keys are written and read in (TRAINER_TIME_ZONE); every
        # session carries it, so grading counts an exam in the right month without settings.
        self.time_zone = time_zone or localtime.default_zone()
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            # check_same_thread: FastAPI runs sync routes in a threadpool; a connection is still
            # used by one thread at a time, handed over through the pool.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if ":memory:" not in url:
                kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
            kwargs["connect_args"] = {
                "connect_timeout": connect_timeout,
                "options": f"-c statement_timeout={statement_timeout * 1000}",
            }
        # hide_parameters: a statement's values stay out of error messages, which are logged (an
        # answer, a password hash or a token digest must never reach a log line: trainer.logs).
        self.engine: Engine = create_engine(url, hide_parameters=True, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_after_idle(self.engine, ping_after_idle)
        self._write_engine = self.engine.execution_options(trainer_write=True)
        # Reads on PostgreSQL run without a transaction (autocommit). At READ COMMITTED, the
        # app's level, each statement of a transaction takes its own snapshot anyway, so a
        # read-only transaction added only its BEGIN and ROLLBACK: two round trips, and psycopg
        # forgets its prepared statements at every ROLLBACK, so the reads every request makes
        # (a token, a start's rules) were planned afresh each time (the rules: 0.6 ms planned,
        # 0.2 ms prepared). SQLite keeps its read transaction: one snapshot for the whole read.
        self._read_engine = (
            self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._write_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None
        self._write_lock_owner: int | None = None  # the thread holding _write_lock (SQLite)
        # What this process remembers of this database's rows (checked credentials, module reads,
        # papers), filled by the modules that declare each cache (`database.caches[SLOT]`).
        self.caches = Caches()

    def clear_caches(self) -> None:
        """Forget everything this process remembers of this database (for tests that change rows
        behind the app's back; the app itself keeps its caches exact)."""
        self.caches.clear()

    def session(self) -> Session:
        """A session for reading. Do not write through it: use `write()` (on PostgreSQL it holds
        no transaction: a write through it would commit at once)."""
        return Session(self._read_engine, expire_on_commit=False, info=self.session_info())

    def read_connection(self) -> Connection:
        """A Core connection for reading (as `session()`), to use as a context manager."""
        return self._read_engine.connect()

    def session_info(self) -> dict[str, Any]:
        """What every session of this database carries for the services it is handed to: the
        reports' time zone (`localtime.zone_of`) and this database's caches (`caching.caches_of`),
        so a service that takes only the caller's session still reads and fills the right caches."""
        return {"time_zone": self.time_zone, "caches": self.caches}

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back if it raises."""
        unit = UnitOfWork(self, write=True)
        try:
            yield unit.session
        except BaseException:
            unit.finish(ok=False)
            raise
        unit.finish(ok=True)

    def _take_write_lock(self) -> None:
        """SQLite: one writer per process. A second write begun by the thread that holds the lock
        would wait for itself forever: it is a bug (a service opening its own unit of work under
        the request's), said at once instead."""
        if self._write_lock is None:
            return
        if self._write_lock_owner == threading.get_ident():
            raise RuntimeError("a write unit of work is already open in this thread: pass its session down")
        self._write_lock.acquire()
        self._write_lock_owner = threading.get_ident()

    def _release_write_lock(self) -> None:
        if self._write_lock is not None:
            self._write_lock_owner = None
            self._write_lock.release()

    @contextmanager
    def write_connection(self, *, unlimited: bool = True) -> Iterator[Connection]:
        """A Core connection in a write transaction. `unlimited` (migrations, bulk loads): no
        statement limit, one statement more on PostgreSQL. The exam-day hot paths' prebuilt
        statements keep the limit (`unlimited=False`): a start or a save is a few short
        statements, and the extra round trip was one in seven of a save's."""
        self._take_write_lock()
        try:
            with self._write_engine.begin() as conn:
                if unlimited and not self.is_sqlite:
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                yield conn
        finally:
            self._release_write_lock()

    def connection_shortfall(self, processes: int, per_process: int) -> str | None:
        """PostgreSQL: a warning if `processes` app processes, each allowed `per_process` pooled
        connections, could ask for more than the server accepts (on exam day the pools fill,
        and the connection past the limit fails a request instead of waiting). None if they fit
        or on SQLite."""
        if self.is_sqlite:
            return None
        with self.engine.connect() as conn:
            limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
            reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
        available = limit - reserved
        wanted = processes * per_process
        if wanted <= available:
            return None
        return (
            f"{processes} process(es) x {per_process} connections (TRAINER_DB_POOL_SIZE + "
            f"TRAINER_DB_MAX_OVERFLOW) = {wanted}, but PostgreSQL accepts {available} "
            f"(max_connections {limit} - {reserved} reserved): lower the pool settings or raise "
            "max_connections (or put PgBouncer in front)"
        )

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def streamed(session: Session, statement: Executable, rows: int) -> Iterator[Any]:
    """A large read's rows, fetched `rows` at a time (a server-side cursor on PostgreSQL) so
    that they never sit in memory at once; read to the end. PostgreSQL keeps such a cursor only
    inside a transaction, and a read session holds none (`Database.session`): then the rows come
    through a connection of their own that does (at READ COMMITTED a statement sees the same
    rows on any connection)."""
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        yield from session.execute(statement, execution_options={"yield_per": rows})
        return
    with bind.connect() as conn:
        conn.execution_options(isolation_level="READ COMMITTED")  # this connection, from now on
        yield from conn.execute(statement, execution_options={"yield_per": rows})


class UnitOfWork:
    """One unit of work: a session opened on first use, then finished once, committed if the work
    ended normally (and it writes), rolled back otherwise.

    Opened lazily, so a request that never touches the database takes no connection and, on
    SQLite, a write request holds the process's write lock only from the first use of `session`
    (for an API route declaring `Db`, that is when its dependencies run: trainer.web.unit). The
    work may start and finish on different threads (FastAPI runs a dependency's exit apart from
    the handler); the session is used by one of them at a time."""

    def __init__(self, database: Database, *, write: bool) -> None:
        self.database = database
        self.write = write
        self._session: Session | None = None
        self._locked = False

    @property
    def session(self) -> Session:
        if self._session is None:
            database = self.database
            if self.write:
                database._take_write_lock()
                self._locked = True
                self._session = Session(
                    database._write_engine,
                    expire_on_commit=False,
                    info={**database.session_info(), "audit_key": database.audit_key},
                )
            else:
                self._session = database.session()
        return self._session

    def finish(self, *, ok: bool) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if ok and self.write:
                session.commit()
            else:
                session.rollback()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            if self._locked:
                self._locked = False
                self.database._release_write_lock()


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None:
            return  # just connected
        if time.monotonic() - idle_since < seconds and not _readable(dbapi_connection):
            return  # in use moments ago, and the server has said nothing since
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another (a new one if need be).
            raise exc.DisconnectionError("a pooled connection went away while idle") from error


def _readable(dbapi_connection: Any) -> bool:
    """Has the server sent anything to an idle connection? Between requests it has nothing to
    say, unless it is closing the connection (a restart, pg_terminate_backend: a FATAL message,
    then end of file). One select() on the socket, no round trip: so a connection killed inside
    the no-ping window is pinged, found dead and replaced, instead of failing the request that
    draws it (which was one 500 page per killed connection)."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError, AttributeError):
        return True  # cannot tell: ping
    return bool(readable)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of pysqlite's own guesswork.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("trainer_write", False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        # Straight to the driver: SQLAlchemy's execution path for it (exec_driver_sql) cost more
        # than the statement, on every transaction (measured in process, alternating: an exam
        # start 2.7-3.1 ms of CPU against 2.9-4.0, of three transactions). An error is raised as
        # SQLAlchemy's, as it would have been (trainer.web.errors answers 503 for a lock timeout).
        driver = conn.connection.driver_connection
        assert driver is not None  # checked out: a live sqlite3 connection
        try:
            driver.execute(statement)
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(statement, (), error, sqlite3.Error) from error
