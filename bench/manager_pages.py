"""Manager page latency against the size of the province: does a page cost what it shows, or
what the province holds?

For each database and each size (inspectors; attempts = 10 x inspectors) a fresh database is
migrated and filled with `trainer seed-synthetic` (the organisation tree has the same 664 units
at every size, so each size shows the same pages), the app is started with `trainer serve`
(SQLite: one process; PostgreSQL: --workers 2), the synthetic province manager signs in through
the login form, and every page below is requested sequentially: 5 warm-up requests, then
--requests timed ones. Every response must be 200 and contain a table; anything else counts as
an error and makes the run exit non-zero. Databases and temporary files are removed afterwards.

    .venv/bin/python bench/manager_pages.py [--databases sqlite,postgresql] [--sizes 10000,100000]
        [--requests 40] [--quick] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432]

--quick runs sizes 1000,10000 (a smoke run). PostgreSQL must accept connections at --postgres
from a role that may CREATE DATABASE; each size gets a database bench_mgr_<size>, dropped at the
end. Prints a table per database and writes bench/results/manager_pages.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.common import serving, tail  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "manager_pages.md"
PASSWORD = "bench-manager-password-2026"
MANAGER = "province-manager"
WARM_UP = 5
MARKER = "<table"


@dataclass
class Measured:
    seed_seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)  # page -> ms
    errors: list[str] = field(default_factory=list)


def trainer(*args: str, env: dict[str, str], log: Path) -> float:
    """Run a `trainer` command; its wall time in seconds. Raises with the log's tail on failure."""
    began = time.monotonic()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ trainer {' '.join(args)}\n")
        out.flush()
        result = subprocess.run(
            [sys.executable, "-m", "trainer.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"trainer {args[0]} failed:\n{tail(log)}")
    return time.monotonic() - began


@contextmanager
def database(kind: str, size: int, work: Path, postgres: str) -> Iterator[str]:
    """A fresh, empty database for one run; removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'trainer.db'}"
        return
    name = f"bench_mgr_{size}"
    server = make_url(postgres)
    admin = psycopg.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        user=server.username or "postgres",
        password=server.password,
        dbname="postgres",
        autocommit=True,
    )
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def server(env: dict[str, str], workers: int, log: Path) -> AbstractContextManager[str]:
    command = [sys.executable, "-m", "trainer.cli", "serve"]
    return serving([*command, "--workers", str(workers)] if workers > 1 else command, env, log)


def sign_in(client: httpx.Client) -> None:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code != 200 or match is None:
        raise RuntimeError(f"no login form (status {page.status_code})")
    response = client.post(
        "/login",
        data={"username": MANAGER, "password": PASSWORD, "csrf_token": match.group(1)},
        follow_redirects=False,
    )
    if response.status_code != 303 or "trainer_session" not in client.cookies:
        raise RuntimeError(f"could not sign {MANAGER} in (status {response.status_code})")


def pages(url: str) -> dict[str, str]:
    """The pages to time, with the ids they need read from the seeded database."""
    engine = create_engine(url)
    with engine.connect() as conn:
        city = conn.scalar(text("SELECT min(id) FROM units WHERE kind = 'city'"))
        county = conn.scalar(text("SELECT min(id) FROM units WHERE kind = 'county'"))
    engine.dispose()
    course = first_course()
    return {
        "roll-up: province": "/manage",
        "roll-up: a city": f"/manage?unit={city}",
        "roll-up: a county, one course": f"/manage?unit={county}&course={course}",
        "list: expiring in 30 days": "/manage/inspectors?state=expiring&within=30",
        "list: expired": "/manage/inspectors?state=expired",
        "list: never certified, one course": f"/manage/inspectors?state=never_certified&course={course}",
        "list: grace, a city": f"/manage/inspectors?state=grace&unit={city}",
    }


def first_course() -> str:
    from trainer.config import Settings
    from trainer.content.loader import load_library_or_raise

    settings = Settings()
    library = load_library_or_raise(settings.courses_dir, settings.question_bank_dir)
    return next(c.id for c in library.courses.values() if c.certification is not None)


def time_pages(base: str, paths: dict[str, str], requests: int, measured: Measured) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        sign_in(client)
        for name, path in paths.items():
            timings = []
            for n in range(WARM_UP + requests):
                began = time.perf_counter()
                try:
                    response = client.get(path)
                except httpx.HTTPError as error:
                    measured.errors.append(f"{path}: {type(error).__name__}: {error}")
                    continue
                elapsed = (time.perf_counter() - began) * 1000
                if response.status_code != 200 or MARKER not in response.text:
                    measured.errors.append(f"{path}: status {response.status_code}")
                    continue
                if n >= WARM_UP:
                    timings.append(elapsed)
            measured.latencies[name] = timings


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def run_one(kind: str, size: int, requests: int, postgres: str) -> Measured:
    measured = Measured()
    work = Path(tempfile.mkdtemp(prefix=f"bench-mgr-{kind}-{size}-"))
    log = work / "log.txt"
    try:
        with database(kind, size, work, postgres) as url:
            env = {
                **os.environ,
                "TRAINER_DATABASE_URL": url,
                "TRAINER_ENV": "development",
                "TRAINER_DATA_DIR": str(work / "data"),
            }
            trainer("db", "upgrade", env=env, log=log)
            measured.seed_seconds = trainer(
                "seed-synthetic",
                "--inspectors",
                str(size),
                "--attempts",
                str(size * 10),
                "--manager-password",
                PASSWORD,
                env=env,
                log=log,
            )
            print(f"  {kind} {size:,}: seeded in {measured.seed_seconds:.0f}s", flush=True)
            paths = pages(url)
            with server(env, 1 if kind == "sqlite" else 2, log) as base:
                time_pages(base, paths, requests, measured)
    except Exception as error:  # an error of this run; the other runs go on
        measured.errors.append(f"{type(error).__name__}: {error}")
    finally:
        for name, timings in measured.latencies.items():
            print(
                f"    {name:<36} p50 {statistics.median(timings) if timings else math.nan:8.1f} ms"
                f"   p95 {percentile(timings, 0.95):8.1f} ms",
                flush=True,
            )
        for problem in measured.errors[:10]:
            print(f"    ERROR {problem}", flush=True)
        if measured.errors and log.exists():
            print(f"    log (tail):\n{tail(log)}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    return measured


def table(kind: str, sizes: list[int], results: dict[int, Measured]) -> str:
    head = ["page"]
    for size in sizes:
        head += [f"p50 {size:,} (ms)", f"p95 {size:,} (ms)"]
    head.append(f"p50 {sizes[-1]:,} / {sizes[0]:,}")
    lines = [f"### {kind}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = list(dict.fromkeys(name for measured in results.values() for name in measured.latencies))
    for name in names:
        cells = [name]
        medians = []
        for size in sizes:
            timings = results[size].latencies.get(name, [])
            median = statistics.median(timings) if timings else math.nan
            medians.append(median)
            cells += [f"{median:.1f}", f"{percentile(timings, 0.95):.1f}"]
        ratio = medians[-1] / medians[0] if medians[0] else math.nan
        cells.append(f"{ratio:.2f}" + ("" if ratio <= 2.0 else " (over 2.0)"))
        lines.append("| " + " | ".join(cells) + " |")
    seeds = ", ".join(f"{size:,} inspectors {results[size].seed_seconds:.0f}s" for size in sizes)
    lines += ["", f"Seed time (db upgrade excluded): {seeds}.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="sizes 1000,10000")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if unknown := set(kinds) - {"sqlite", "postgresql"}:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    sizes = [1000, 10000] if args.quick else sorted(int(s) for s in args.sizes.split(","))

    sections = []
    errors = 0
    for kind in kinds:
        print(f"{kind}:", flush=True)
        results = {size: run_one(kind, size, args.requests, args.postgres) for size in sizes}
        errors += sum(len(m.errors) for m in results.values())
        section = table(kind, sizes, results)
        print(section, flush=True)
        sections.append(section)

    report = [
        "# Manager pages against the size of the province",
        "",
        "`.venv/bin/python bench/manager_pages.py"
        + (" --quick" if args.quick else f" --sizes {','.join(map(str, sizes))}")
        + f" --databases {','.join(kinds)} --requests {args.requests}`",
        "",
        f"Sequential requests as `{MANAGER}` (whole province in scope), {WARM_UP} warm-up then "
        f"{args.requests} timed per page; attempts = 10 x inspectors; 664 units at every size. "
        "SQLite: one app process; PostgreSQL: two.",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        f"Errors: {errors}.",
        "",
        *sections,
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(report), encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    if errors:
        print(f"{errors} error response(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
