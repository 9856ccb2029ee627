"""`trainer doctor`: a deployment's settings and surroundings checked one by one, each with what
to do about it. Every check runs even when an earlier one failed (a refused start names only
the first problem; an operator fixing a new server wants them all at once).

A check is "ok", a "warning" (works, but not as it should in production) or a "problem" (will
not start, or is unsafe): any problem makes the command exit 1.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import text

from trainer import metrics, migrate
from trainer.certification import credentials
from trainer.config import Settings, SettingsError, check_secret_strength
from trainer.content.loader import load_library
from trainer.db import Database
from trainer.localtime import load_zone

Status = Literal["ok", "warning", "problem"]
CLOCK_SKEW_SECONDS = 5.0
SMTP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    text: str

    def line(self) -> str:
        return f"{self.status:<8} {self.name}: {self.text}"


def run(settings: Settings, *, workers: int = 1) -> list[Check]:
    checks: list[Check] = []
    for check in _CHECKS:
        try:
            for found in check(settings, workers):
                checks.append(found)
        except Exception as error:  # a check that cannot run is itself a problem to look at
            checks.append(Check("problem", check.__name__.removeprefix("_"), f"could not check: {error}"))
    return checks


def _secret_key(settings: Settings, _workers: int) -> Iterator[Check]:
    name = "secret key"
    if not settings.secret_key and not settings.is_production:
        yield Check(
            "warning", name, "development mode: generated into the data folder; set TRAINER_SECRET_KEY"
        )
        return
    try:
        check_secret_strength(settings.secret_key)
    except SettingsError as error:
        yield Check("problem" if settings.is_production else "warning", name, str(error))
        return
    if settings.audit_key:
        try:
            check_secret_strength(settings.audit_key, "TRAINER_AUDIT_KEY")
        except SettingsError as error:
            yield Check("problem", "audit key", str(error))
            return
    yield Check("ok", name, "set and strong")


def _badge_key(settings: Settings, _workers: int) -> Iterator[Check]:
    name = "badge key"
    if not settings.badge_key:
        status: Status = "problem" if settings.is_production else "warning"
        yield Check(
            status,
            name,
            "TRAINER_BADGE_KEY is not set: generate one with `openssl genpkey -algorithm ed25519`",
        )
        return
    try:
        credentials.load_key(settings.badge_key)
    except credentials.BadgeKeyError as error:
        yield Check("problem", name, str(error))
        return
    yield Check("ok", name, "a valid Ed25519 key")


def _public_url(settings: Settings, _workers: int) -> Iterator[Check]:
    name = "public URL"
    url = settings.public_url
    if not url:
        status: Status = "problem" if settings.is_production else "warning"
        yield Check(status, name, "TRAINER_PUBLIC_URL is not set: certificates' QR codes and badges carry it")
    elif not url.startswith(("https://", "http://")):
        yield Check("problem", name, f"TRAINER_PUBLIC_URL {url!r} must start with https://")
    elif settings.is_production and not url.startswith("https://"):
        yield Check("problem", name, f"{url} is not https: serve the site over TLS and set an https:// URL")
    else:
        yield Check("ok", name, url)


def _mode(settings: Settings, _workers: int) -> Iterator[Check]:
    if settings.is_production:
        yield Check("ok", "mode", "production")
    else:
        yield Check(
            "warning", "mode", "development (demo accounts, generated keys): set TRAINER_ENV=production"
        )


def _trusted_proxies(settings: Settings, _workers: int) -> Iterator[Check]:
    name = "trusted proxies"
    networks = settings.trusted_proxy_networks
    if any(network.prefixlen == 0 for network in networks):
        yield Check(
            "problem",
            name,
            "TRAINER_TRUSTED_PROXIES trusts every address: any client can pick its own address "
            "(and slip past throttling); name only the proxy's address",
        )
    elif not networks:
        status: Status = "warning" if settings.is_production else "ok"
        yield Check(
            status,
            name,
            "none: behind a reverse proxy, set TRAINER_TRUSTED_PROXIES to its address, or every "
            "client looks like the proxy (one throttle for all, and no HTTPS seen)",
        )
    else:
        yield Check("ok", name, ", ".join(str(network) for network in networks))


def _metrics(settings: Settings, _workers: int) -> Iterator[Check]:
    name = "metrics"
    if settings.metrics == "off":
        yield Check("ok", name, "off (TRAINER_METRICS=on to scrape /metrics)")
        return
    networks = metrics.parse_networks(settings.metrics_allow)
    if metrics.open_to_everyone(networks):
        yield Check(
            "problem", name, "TRAINER_METRICS_ALLOW lets every address read /metrics: name the scrapers"
        )
    elif (
        settings.is_production
        and not settings.trusted_proxy_networks
        and any(network.is_loopback for network in networks)
    ):
        yield Check(
            "warning",
            name,
            "allowed from loopback with no trusted proxy: a local reverse proxy's requests come from "
            "loopback, so /metrics is open through it; set TRAINER_TRUSTED_PROXIES or block /metrics "
            "in the proxy",
        )
    else:
        yield Check("ok", name, f"on, for {', '.join(str(n) for n in networks)}")


def _time_zone(settings: Settings, _workers: int) -> Iterator[Check]:
    try:
        load_zone(settings.time_zone)
    except ValueError as error:
        yield Check("problem", "time zone", str(error))
        return
    yield Check("ok", "time zone", settings.time_zone)


def _data_folder(settings: Settings, _workers: int) -> Iterator[Check]:
    name = "data folder"
    folder = settings.data_dir
    needed = not settings.database_url or not settings.secret_key or not settings.badge_key
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), None)
        if needed and (parent is None or not os.access(parent, os.W_OK)):
            yield Check("problem", name, f"{folder} does not exist and cannot be made by this user")
        else:
            yield Check("ok", name, f"{folder} not there yet" + (" (made when needed)" if needed else ""))
        return
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as error:
        yield Check("problem", name, f"{folder} is not writable by this user: {error.strerror}")
        return
    yield Check("ok", name, f"{folder} is writable")


def _database(settings: Settings, workers: int) -> Iterator[Check]:
    database = Database(
        settings.effective_database_url, connect_timeout=settings.db_connect_timeout, statement_timeout=10
    )
    sqlite_file = None if settings.database_url else settings.data_dir / "trainer.db"
    if sqlite_file is not None and not sqlite_file.exists():
        database.dispose()
        yield Check("problem", "database", f"{sqlite_file} does not exist yet: run `trainer db upgrade`")
        return
    try:
        try:
            database.ping()
        except Exception as error:
            yield Check(
                "problem", "database", f"cannot reach it: {type(error).__name__}: {_first_line(error)}"
            )
            return
        kind = "SQLite" if database.is_sqlite else "PostgreSQL"
        note = " (several app processes need PostgreSQL)" if database.is_sqlite else ""
        status: Status = "warning" if settings.is_production and database.is_sqlite else "ok"
        yield Check(status, "database", f"{kind} reachable{note}")
        current, head = migrate.current_revision(database), migrate.head_revision()
        if current != head:
            yield Check(
                "problem",
                "migrations",
                f"at {current or 'none'}, the code expects {head}: run `trainer db upgrade`",
            )
        else:
            yield Check("ok", "migrations", f"at head ({head})")
        shortfall = database.connection_shortfall(workers, settings.db_pool_size + settings.db_max_overflow)
        if shortfall:
            yield Check("problem", "connection pool", shortfall)
        elif not database.is_sqlite:
            per_process = settings.db_pool_size + settings.db_max_overflow
            yield Check("ok", "connection pool", f"{workers} process(es) x {per_process} fit max_connections")
        yield from _clock(database)
    finally:
        database.dispose()


def _clock(database: Database) -> Iterator[Check]:
    """Deadlines are the server's clock: this machine and the database must agree."""
    if database.is_sqlite:
        yield Check("ok", "clock", f"{datetime.now(UTC).isoformat(timespec='seconds')} (SQLite: one clock)")
        return
    with database.engine.connect() as conn:
        before = datetime.now(UTC)
        theirs = conn.execute(text("SELECT now()")).scalar_one()
        after = datetime.now(UTC)
    ours = before + (after - before) / 2
    skew = abs((theirs - ours).total_seconds())
    if skew > CLOCK_SKEW_SECONDS:
        yield Check(
            "problem",
            "clock",
            f"this machine and the database differ by {skew:.1f} s: run NTP (chrony) on both",
        )
    else:
        yield Check("ok", "clock", f"within {skew:.2f} s of the database's")


def _content(settings: Settings, _workers: int) -> Iterator[Check]:
    library, problems = load_library(settings.courses_dir, settings.question_bank_dir)
    errors = [p for p in problems if p.severity == "error"]
    if library is None:
        first = f": {errors[0]}" if errors else ""
        yield Check("problem", "content", f"{len(errors)} error(s), run `trainer check`{first}")
        return
    warnings = len(problems)
    yield Check(
        "ok" if not warnings else "warning",
        "content",
        f"{len(library.courses)} courses, {library.module_count} modules, "
        f"{len(library.bank.questions)} questions"
        + (f", {warnings} warning(s) (`trainer check`)" if warnings else ""),
    )


def _smtp(settings: Settings, _workers: int) -> Iterator[Check]:
    name = "email"
    if not settings.smtp_host:
        yield Check("ok", name, "no SMTP host: renewal reminders are not emailed")
        return
    if settings.smtp_user and not settings.smtp_password:
        yield Check("problem", name, "TRAINER_SMTP_USER is set without TRAINER_SMTP_PASSWORD")
        return
    if settings.smtp_starttls and settings.smtp_implicit_tls:
        yield Check("problem", name, "choose TRAINER_SMTP_STARTTLS or TRAINER_SMTP_IMPLICIT_TLS, not both")
        return
    if settings.smtp_ca_file and not Path(settings.smtp_ca_file).is_file():
        yield Check("problem", name, f"TRAINER_SMTP_CA_FILE {settings.smtp_ca_file} is not a file")
        return
    if settings.smtp_from.endswith("@localhost"):
        yield Check("warning", name, f"TRAINER_SMTP_FROM is {settings.smtp_from}: set a real sender address")
    try:
        with socket.create_connection((settings.smtp_host, settings.smtp_port), timeout=SMTP_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        yield Check(
            "problem",
            name,
            f"cannot reach {settings.smtp_host}:{settings.smtp_port}: {error.strerror or error}",
        )
        return
    yield Check("ok", name, f"{settings.smtp_host}:{settings.smtp_port} reachable")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


_CHECKS: list[Callable[[Settings, int], Iterator[Check]]] = [
    _mode,
    _secret_key,
    _badge_key,
    _public_url,
    _trusted_proxies,
    _metrics,
    _time_zone,
    _data_folder,
    _database,
    _content,
    _smtp,
]
