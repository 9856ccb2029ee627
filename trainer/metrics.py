"""The numbers a province's monitoring scrapes from `/metrics` (Prometheus text format).

Declared here, in the base layer, so that any layer can count without knowing the web: the
request plumbing counts requests, the quiz service counts starts, saves and submits and times
grading, the content store counts reloads. Every update on a hot path is one labelled
increment or observation (a dictionary lookup and a lock, about a microsecond): never a query.
Certificates by state are the exception, counted by a query at scrape time (cached for a few
seconds, trainer.certification.service.certificate_counts).

Several worker processes (`trainer serve --workers N`) share one port, so a scrape reaches any
one of them: `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers
start, each worker's prometheus_client then keeps its values in files there, and a scrape sums
them (`exposition`). The variable must be set before prometheus_client is imported, which is why
`serve` sets it before importing the app. One process per port (the systemd units of deploy/)
needs none of this: each is scraped on its own port.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import event

from trainer.errors import DomainError

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "trainer_http_requests",
    "HTTP requests answered, by route template (never the raw path), method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "trainer_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ATTEMPT_ACTIONS = Counter(
    "trainer_attempt_actions",
    "Starts, answer saves and submits of exams and practice quizzes, by outcome: ok, the "
    "refusal's code (attempt_closed, time_up, ...) or error.",
    ["kind", "action", "outcome"],
)
GRADING_SECONDS = Histogram(
    "trainer_grading_seconds",
    "Time to grade one attempt (score its answers, close it, issue a certificate).",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ANSWER_BATCH_SIZE = Histogram(
    "trainer_answer_batch_size",
    "Exam answer saves per transaction of the group commit (trainer.quizzes.answer_writer): "
    "about 1 when saves are few, dozens when an exam's saves crowd in.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
DB_POOL_CHECKED_OUT = Gauge(
    "trainer_db_pool_checked_out",
    "Database connections in use (summed over the app processes).",
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "trainer_db_pool_capacity",
    "Connections the pools may open: TRAINER_DB_POOL_SIZE + TRAINER_DB_MAX_OVERFLOW per process, summed.",
    multiprocess_mode="livesum",
)
CONTENT_RELOADS = Counter(
    "trainer_content_reloads",
    "Reloads of the content library after an edit, by outcome (ok, failed: the last good "
    "library keeps serving).",
    ["outcome"],
)
CONTENT_PROBLEMS = Gauge(
    "trainer_content_problems",
    "Errors of the latest failed content reload (0 once a reload succeeds).",
    multiprocess_mode="livemax",
)


class Outcome:
    """What `counted` fills in: the attempt's kind, once the action has found it, and whether the
    action began at all (a caller whose token is refused never began one: not counted)."""

    __slots__ = ("began", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.began = True


@contextmanager
def counted(action: str, kind: str = "unknown") -> Iterator[Outcome]:
    """Count one attempt action by its outcome: ok, the DomainError's code, or error."""
    outcome = Outcome(kind)
    try:
        yield outcome
    except DomainError as refusal:
        ATTEMPT_ACTIONS.labels(outcome.kind, action, refusal.code).inc()
        raise
    except BaseException:
        if outcome.began:
            ATTEMPT_ACTIONS.labels(outcome.kind, action, "error").inc()
        raise
    ATTEMPT_ACTIONS.labels(outcome.kind, action, "ok").inc()


def watch_pool(engine: Any, capacity: int) -> None:
    """Keep the pool gauges of this process: +1 at each checkout, -1 at each checkin."""
    DB_POOL_CAPACITY.set(capacity)
    event.listen(engine, "checkout", lambda *_: DB_POOL_CHECKED_OUT.inc())
    event.listen(engine, "checkin", lambda *_: DB_POOL_CHECKED_OUT.dec())


# -- who may scrape ---------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """ "127.0.0.1, ::1, 10.0.0.0/8" as networks; ValueError names a bad entry."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def allowed(client: str | None, networks: tuple[Network, ...]) -> bool:
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in networks)


def open_to_everyone(networks: tuple[Network, ...]) -> bool:
    return any(network.prefixlen == 0 for network in networks)


# -- the scrape -------------------------------------------------------------------------------

_LIVE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def _forget_dead_workers(folder: Path) -> None:
    """A worker that died (and was replaced) leaves its live gauges' file: drop it, so its
    last pool count stops adding to the sum."""
    for path in folder.glob("gauge_live*_*.db"):
        match = _LIVE_FILE.match(path.name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, someone else's
            pass


def leave() -> None:
    """This process serves no more requests (`serve`'s supervising process, once it has checked
    that the app starts): its live gauges stop counting in the sum."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    if folder:
        mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]


class _Scrape:
    """One scrape's collectors: this process's (or every worker's) metrics plus extra ones."""

    def __init__(self, extra: Iterable[Collector]) -> None:
        folder = os.environ.get(MULTIPROCESS_ENV)
        if folder:
            _forget_dead_workers(Path(folder))
            registry = CollectorRegistry()
            MultiProcessCollector(registry, folder)  # type: ignore[no-untyped-call]
            self.base: Any = registry
        else:
            self.base = REGISTRY
        self.extra = list(extra)

    def collect(self) -> Iterator[Metric]:
        yield from self.base.collect()
        for collector in self.extra:
            yield from collector.collect()


class StateCounts(Collector):
    """A gauge family computed at scrape: `counts()` gives {state: number}."""

    def __init__(self, name: str, documentation: str, label: str, counts: Callable[[], dict[str, int]]):
        self.name, self.documentation, self.label, self.counts = name, documentation, label, counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=[self.label])
        for key, number in sorted(self.counts().items()):
            family.add_metric([key], number)
        yield family


def exposition(*extra: Collector) -> bytes:
    """The text a scrape answers with."""
    return generate_latest(_Scrape(extra))
