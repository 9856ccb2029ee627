"""Steady answering: answer-save throughput and latency as a ratio to a bare single-row-write
endpoint (bench/reference_write_app.py), then proof that nothing acknowledged was lost.

Set-up (not measured): N inspectors are imported from a CSV file into a throwaway SQLite
database, sign in through the API, change their passwords, read every module of the coal course
and pass each practice quiz (the right answers are read from the attempts' snapshots in the
database), then start the course's final exam.

Load: the app and the reference run side by side on loopback, one uvicorn process each, served
the same way (`trainer serve` vs `python -m bench.reference_write_app`). One asyncio client with
`--concurrency` connections loads them in alternating rounds, so machine noise hits both alike.
Each request is one virtual inspector saving a valid answer to a slot of their own exam (slots
and answers vary; an inspector never has two saves in flight, so the last acknowledged answer per
slot is well defined). A response counts only if it is 200 with `{"slot": N, "saved": true}`.

Afterwards: every acknowledged answer must be stored, as last acknowledged, in both databases;
then every exam is submitted twice at once and must be graded exactly once (status graded, one
`exam.graded` audit event, score equal to a fresh regrade of the stored answers), and
`trainer audit verify` must pass.

    .venv/bin/python bench/answer_saves.py [--inspectors 200] [--seconds 10] [--rounds 3] [--concurrency 32]

Prints a table and writes bench/results/answer_saves.md; exits 1 on any error or failed check.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import hashlib
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvloop

from trainer.quizzes.snapshot import to_served

ROOT = Path(__file__).resolve().parent.parent
COURSE = "coal-mine-inspection"
MODULES = ("cm-ventilation-basics", "cm-methane-control", "cm-inspection-procedure")
UNIT = "Bench/City/County/Bureau"
SETUP_CONCURRENCY = 8  # set-up is mostly argon2 (two cores): more only queues
TIMEOUT = httpx.Timeout(60.0)
APP = "answer save"
REFERENCE = "reference (single-row write)"


# -- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the server accepts connections (uvicorn listens only once the app has started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not come up")


def trainer_cli(env: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "trainer.cli", *arguments],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"trainer {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def start_server(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # stdout is the access log (both servers write one, as `trainer serve` does); stderr is kept.
    with log.open("wb") as errors:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# -- inspectors and their answers -------------------------------------------------------------


@dataclass
class Inspector:
    index: int
    username: str
    password: str
    token: str = ""
    user_id: int = 0
    exam_id: int = 0
    questions: list[dict[str, Any]] = field(default_factory=list)
    turn: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def next_answer(self) -> tuple[int, dict[str, Any]]:
        """The next save: slots in turn, and a different valid answer each time round."""
        turn = self.turn
        self.turn += 1
        question = self.questions[turn % len(self.questions)]
        return int(question["slot"]), response_for(question, turn // len(self.questions) + self.index)


def response_for(question: dict[str, Any], n: int) -> dict[str, Any]:
    """A valid (not necessarily right) response of the question's type; varies with n."""
    kind = question["type"]
    if kind in ("single", "truefalse"):
        keys = [o["key"] for o in question["options"]]
        return {"selected": [keys[n % len(keys)]]}
    if kind == "multi":
        keys = [o["key"] for o in question["options"]]
        picks = {keys[n % len(keys)], keys[(n + 1) % len(keys)]} if n % 2 else {keys[n % len(keys)]}
        return {"selected": sorted(picks)}
    if kind == "numeric":
        numeric: dict[str, Any] = {"value": n + 0.5}
        if question.get("unit"):
            numeric["unit"] = question["unit"]
        return numeric
    if kind == "text":
        return {"text": f"bench answer {n}"}
    if kind == "order":
        keys = [i["key"] for i in question["items"]]
        shift = n % len(keys)
        return {"order": keys[shift:] + keys[:shift]}
    if kind == "match":
        rights = [r["key"] for r in question["right"]]
        return {
            "pairs": {left["key"]: rights[(i + n) % len(rights)] for i, left in enumerate(question["left"])}
        }
    raise ValueError(f"no response for question type {kind!r}")


def correct_response(entry: dict[str, Any]) -> dict[str, Any]:
    """The right answer, from a snapshot entry's stored key (trainer/quizzes/snapshot.py)."""
    key = entry["key"]
    kind = key["kind"]
    if kind == "choice":
        return {"selected": list(key["correct"])}
    if kind == "numeric":
        return {"value": key["value"], "unit": key["unit"]} if key["unit"] else {"value": key["value"]}
    if kind == "text":
        return {"text": key.get("display", key["accept"][0])}
    if kind == "order":
        return {"order": list(key["order"])}
    return {"pairs": dict(key["pairs"])}


def canonical(response: Any) -> str:
    return json.dumps(response, ensure_ascii=False, sort_keys=True)


@dataclass
class SlotRecord:
    acknowledged: str | None = None  # the last response answered 200 {"saved": true}
    unsure: set[str] = field(default_factory=set)  # sent but not acknowledged: may or may not be stored


Ledger = dict[tuple[int, int], SlotRecord]


# -- set-up -----------------------------------------------------------------------------------


def import_inspectors(work: Path, env: dict[str, str], count: int) -> list[Inspector]:
    users = work / "inspectors.csv"
    with users.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "full_name", "unit", "roles", "email"])
        for i in range(count):
            writer.writerow([f"bench.inspector.{i:05d}", f"Bench Inspector {i}", UNIT, "inspector", ""])
    passwords_file = work / "initial-passwords.csv"
    trainer_cli(env, "users", "import", str(users), "--passwords-out", str(passwords_file))
    with passwords_file.open(encoding="utf-8", newline="") as rows:
        initial = {row["username"]: row["password"] for row in csv.DictReader(rows)}
    return [
        Inspector(index=i, username=name, password=initial[name])
        for i, name in enumerate(sorted(initial))
        if name.startswith("bench.inspector.")
    ]


def expect(response: httpx.Response, status: int, what: str) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


async def prepare_inspector(
    client: httpx.AsyncClient, app: str, db: sqlite3.Connection, inspector: Inspector
) -> None:
    """Sign in, change the password, complete the course's prerequisites, start the exam."""
    name = inspector.username
    body = expect(
        await client.post(
            f"{app}/api/v1/auth/token", json={"username": name, "password": inspector.password}
        ),
        200,
        f"token for {name}",
    )
    inspector.token = body["access_token"]
    new_password = f"steady answering {inspector.index:05d} bench pass"
    expect(
        await client.post(
            f"{app}/api/v1/me/password",
            json={"current_password": inspector.password, "new_password": new_password},
            headers=inspector.headers,
        ),
        204,
        f"password change for {name}",
    )
    inspector.password = new_password
    me = expect(await client.get(f"{app}/api/v1/me", headers=inspector.headers), 200, f"me for {name}")
    inspector.user_id = int(me["id"])
    for module in MODULES:
        read = expect(
            await client.get(f"{app}/api/v1/courses/{COURSE}/modules/{module}", headers=inspector.headers),
            200,
            f"read {module} for {name}",
        )
        if read.get("read") is not True:
            raise RuntimeError(f"read {module} for {name}: {read}")
        practice = expect(
            await client.post(f"{app}/api/v1/modules/{module}/practice/attempts", headers=inspector.headers),
            200,
            f"practice {module} for {name}",
        )
        paper_of = (
            "SELECT p.snapshot FROM attempt_papers l JOIN papers p ON p.id = l.paper_id "
            "WHERE l.attempt_id = ?"
        )
        (paper,) = db.execute(paper_of, (practice["id"],)).fetchone()
        for entry in json.loads(paper):
            saved = expect(
                await client.put(
                    f"{app}/api/v1/attempts/{practice['id']}/answers/{entry['slot']}",
                    json=to_served(entry, correct_response(entry)),  # the paper's opaque keys
                    headers=inspector.headers,
                ),
                200,
                f"practice answer for {name}",
            )
            if saved.get("review", {}).get("score") != 1.0:
                raise RuntimeError(f"practice answer for {name} was not scored right: {saved}")
        result = expect(
            await client.post(f"{app}/api/v1/attempts/{practice['id']}/submit", headers=inspector.headers),
            200,
            f"practice submit for {name}",
        )
        if result.get("passed") is not True:
            raise RuntimeError(f"practice {module} for {name} not passed: {result}")
    exam = expect(
        await client.post(f"{app}/api/v1/courses/{COURSE}/exam/attempts", headers=inspector.headers),
        200,
        f"exam start for {name}",
    )
    if exam["status"] != "in_progress" or exam["kind"] != "exam" or not exam["questions"]:
        raise RuntimeError(f"exam start for {name}: {exam}")
    if any("key" in q for q in exam["questions"]):
        raise RuntimeError("the exam paper reveals its answer key")
    inspector.exam_id = int(exam["id"])
    inspector.questions = exam["questions"]


async def bounded(limit: int, jobs: Iterable[Callable[[], Awaitable[None]]]) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with semaphore:
            await job()

    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(run(job))


# -- load -------------------------------------------------------------------------------------


@dataclass
class Round:
    good: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    client_cpu: float  # the client's CPU time over the round's wall time (1.0 = one core)
    error_kinds: Counter[str]

    def percentile(self, pct: int) -> float:
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100)[pct - 1]

    @property
    def rps(self) -> float:
        return self.good / self.seconds


async def load_round(
    client: httpx.AsyncClient,
    base: str,
    inspectors: list[Inspector],
    ledger: Ledger,
    seconds: float,
    concurrency: int,
) -> Round:
    """`concurrency` workers, each taking the next idle inspector and saving one answer, until
    the time is up (saves in flight then are finished and counted)."""
    idle = list(inspectors)
    latencies: list[float] = []
    kinds: Counter[str] = Counter()
    good = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal good
        while time.perf_counter() < deadline:
            inspector = idle.pop(0)
            slot, body = inspector.next_answer()
            record = ledger.setdefault((inspector.exam_id, slot), SlotRecord())
            started = time.perf_counter()
            problem = None
            try:
                response = await client.put(
                    f"{base}/api/v1/attempts/{inspector.exam_id}/answers/{slot}",
                    json=body,
                    headers=inspector.headers,
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    problem = f"status {response.status_code}: {response.text[:120]}"
                elif response.json() != {"slot": slot, "saved": True}:
                    problem = f"unexpected body: {response.text[:120]}"
            except (httpx.HTTPError, ValueError) as error:
                elapsed = time.perf_counter() - started
                problem = f"{type(error).__name__}: {error}"
            if problem is None:
                good += 1
                latencies.append(elapsed * 1000)
                record.acknowledged = canonical(body)
            else:
                kinds[problem] += 1
                record.unsure.add(canonical(body))
            idle.append(inspector)

    cpu, wall = time.process_time(), time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    wall = time.perf_counter() - wall
    return Round(
        good=good,
        errors=sum(kinds.values()),
        seconds=wall,
        latencies_ms=latencies,
        client_cpu=(time.process_time() - cpu) / wall,
        error_kinds=kinds,
    )


# -- checks -----------------------------------------------------------------------------------


def read_only(db_file: Path) -> sqlite3.Connection:
    # Read-only: this connection never writes or checkpoints the server's WAL.
    return sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)


def check_answers(stored: dict[tuple[int, int], str], ledger: Ledger, label: str) -> tuple[list[str], int]:
    """Every acknowledged answer stored as last acknowledged; nothing stored that was never sent."""
    problems: list[str] = []
    for (attempt, slot), record in ledger.items():
        value = stored.get((attempt, slot))
        if value is None:
            if record.acknowledged is not None:
                problems.append(f"{label}: attempt {attempt} slot {slot}: acknowledged answer missing")
            continue
        value = canonical(json.loads(value))
        if value != record.acknowledged and value not in record.unsure:
            problems.append(
                f"{label}: attempt {attempt} slot {slot}: stored {value}, "
                f"last acknowledged {record.acknowledged}"
            )
    problems += [
        f"{label}: attempt {attempt} slot {slot}: stored but never sent"
        for attempt, slot in stored.keys() - ledger.keys()
    ]
    return problems, sum(1 for r in ledger.values() if r.acknowledged is not None)


def as_served(stored: dict[tuple[int, int], str], papers: dict[int, str]) -> dict[tuple[int, int], str]:
    """Stored responses name the bank's option keys; the client sent (and the ledger holds) the
    keys its paper served: translate back with each paper's own key map before comparing."""
    from trainer.quizzes.snapshot import to_served

    entries: dict[int, dict[int, Any]] = {}
    out: dict[tuple[int, int], str] = {}
    for (attempt, slot), response in stored.items():
        if attempt not in papers:
            out[(attempt, slot)] = response
            continue
        if attempt not in entries:
            entries[attempt] = {entry["slot"]: entry for entry in json.loads(papers[attempt])}
        entry = entries[attempt].get(slot)
        out[(attempt, slot)] = (
            response if entry is None else json.dumps(to_served(entry, json.loads(response)))
        )
    return out


def stored_answers(db_file: Path, query: str, exam_ids: list[int]) -> dict[tuple[int, int], str]:
    conn = read_only(db_file)
    try:
        rows = conn.execute(query).fetchall()
    finally:
        conn.close()
    wanted = set(exam_ids)
    return {(attempt, slot): response for attempt, slot, response in rows if attempt in wanted}


async def submit_all(
    client: httpx.AsyncClient, app: str, inspectors: list[Inspector], concurrency: int
) -> list[str]:
    """Each exam submitted twice at once: both must answer the same graded result."""
    problems: list[str] = []

    async def submit_twice(inspector: Inspector) -> None:
        url = f"{app}/api/v1/attempts/{inspector.exam_id}/submit"
        replies = await asyncio.gather(
            client.post(url, headers=inspector.headers), client.post(url, headers=inspector.headers)
        )
        bodies = [r.json() if r.status_code == 200 else None for r in replies]
        if any(b is None or b["status"] != "graded" or b["id"] != inspector.exam_id for b in bodies):
            problems.append(f"submit {inspector.exam_id}: {[r.status_code for r in replies]} {bodies}")
        elif bodies[0] != bodies[1]:
            problems.append(f"submit {inspector.exam_id}: two different results {bodies}")

    await bounded(
        max(1, concurrency // 2),
        [functools.partial(submit_twice, inspector) for inspector in inspectors],
    )
    return problems


def check_grading(db_file: Path, exam_ids: list[int]) -> list[str]:
    """Graded exactly once, audited exactly once, and the stored score is a fresh regrade."""
    from trainer.quizzes.scoring import score
    from trainer.quizzes.snapshot import answer_key

    problems: list[str] = []
    conn = read_only(db_file)
    try:
        attempts = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT t.id, t.status, t.score, p.snapshot FROM attempts t "
                "JOIN attempt_papers l ON l.attempt_id = t.id JOIN papers p ON p.id = l.paper_id "
                "WHERE t.kind = 'exam'"
            )
        }
        audited = Counter(
            int(target)
            for (target,) in conn.execute(
                "SELECT target_id FROM audit_events WHERE action = 'exam.graded' AND target_type = 'attempt'"
            )
        )
        answers: dict[int, list[tuple[int, str]]] = {}
        for attempt, slot, response in conn.execute("SELECT attempt_id, slot, response FROM attempt_answers"):
            answers.setdefault(attempt, []).append((slot, response))
    finally:
        conn.close()
    for exam_id in exam_ids:
        if exam_id not in attempts:
            problems.append(f"exam {exam_id}: missing")
            continue
        status, stored_score, paper = attempts[exam_id]
        if status != "graded":
            problems.append(f"exam {exam_id}: status {status}")
        if audited[exam_id] != 1:
            problems.append(f"exam {exam_id}: {audited[exam_id]} exam.graded audit events")
        entries = {entry["slot"]: entry for entry in json.loads(paper)}
        regrade = sum(
            score(answer_key(entries[slot]), json.loads(response))
            for slot, response in answers.get(exam_id, [])
            if slot in entries
        )
        if stored_score is None or abs(stored_score - regrade) > 1e-9:
            problems.append(f"exam {exam_id}: stored score {stored_score}, regrade {regrade}")
    return problems


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    runs: dict[str, list[Round]]
    acknowledged: dict[str, int]
    problems: list[str]
    questions: int


async def bench(args: argparse.Namespace, work: Path, env: dict[str, str]) -> Outcome:
    db_file = work / "data" / "trainer.db"
    trainer_cli(env, "db", "upgrade")
    inspectors = import_inspectors(work, env, args.inspectors)
    started = time.perf_counter()
    app_port, ref_port = free_port(), free_port()
    app_base, ref_base = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{ref_port}"
    python = sys.executable
    app = reference = None
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    # trust_env=False: no proxy from the environment, the traffic stays on loopback.
    client = httpx.AsyncClient(timeout=TIMEOUT, limits=limits, trust_env=False)
    try:
        app = start_server(
            [python, "-m", "trainer.cli", "serve", "--port", str(app_port)], env, work / "app.log"
        )
        wait_for_port(app_port, app)
        setup_db = read_only(db_file)
        try:
            await bounded(
                SETUP_CONCURRENCY,
                [functools.partial(prepare_inspector, client, app_base, setup_db, i) for i in inspectors],
            )
        finally:
            setup_db.close()
        print(
            f"set-up: {len(inspectors)} inspectors signed in, prerequisites done, exams started "
            f"in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )

        tokens_file = work / "reference-tokens.csv"
        tokens_file.write_text(
            "".join(f"{hashlib.sha256(i.token.encode()).hexdigest()},{i.user_id}\n" for i in inspectors),
            encoding="ascii",
        )
        reference = start_server(
            [python, "-m", "bench.reference_write_app", "--port", str(ref_port)],
            {
                **env,
                "REFERENCE_DATABASE_FILE": str(work / "reference.db"),
                "REFERENCE_TOKENS_FILE": str(tokens_file),
            },
            work / "reference.log",
        )
        wait_for_port(ref_port, reference)

        ledgers: dict[str, Ledger] = {APP: {}, REFERENCE: {}}
        bases = {APP: app_base, REFERENCE: ref_base}
        runs: dict[str, list[Round]] = {APP: [], REFERENCE: []}
        warm_ups: dict[str, Round] = {}
        for name, base in bases.items():  # warm-up: connections, caches, the threadpool
            warm_ups[name] = await load_round(client, base, inspectors, ledgers[name], 2, args.concurrency)
        for number in range(args.rounds):
            for name, base in bases.items():
                result = await load_round(
                    client, base, inspectors, ledgers[name], args.seconds, args.concurrency
                )
                runs[name].append(result)
                print(
                    f"round {number + 1} {name}: {result.rps:,.0f}/s p99 {result.percentile(99):.1f} ms "
                    f"errors {result.errors}",
                    file=sys.stderr,
                )

        exam_ids = [i.exam_id for i in inspectors]
        problems: list[str] = []
        acknowledged: dict[str, int] = {}
        paper_rows = (
            "SELECT l.attempt_id, 0, p.snapshot FROM attempt_papers l JOIN papers p ON p.id = l.paper_id"
        )
        papers = dict(stored_answers(db_file, paper_rows, exam_ids))
        found, acknowledged[APP] = check_answers(
            as_served(
                stored_answers(db_file, "SELECT attempt_id, slot, response FROM attempt_answers", exam_ids),
                {attempt: paper for (attempt, _), paper in papers.items()},
            ),
            ledgers[APP],
            APP,
        )
        problems += found
        found, acknowledged[REFERENCE] = check_answers(
            stored_answers(work / "reference.db", "SELECT attempt_id, slot, response FROM answers", exam_ids),
            ledgers[REFERENCE],
            REFERENCE,
        )
        problems += found
        problems += await submit_all(client, app_base, inspectors, args.concurrency)
        problems += check_grading(db_file, exam_ids)
        try:
            trainer_cli(env, "audit", "verify")
        except RuntimeError as error:
            problems.append(str(error))
        for name, rounds in runs.items():
            kinds: Counter[str] = Counter()
            for result in [warm_ups[name], *rounds]:
                kinds.update(result.error_kinds)
            problems += [f"{name}: {count} x {kind}" for kind, count in kinds.most_common(5)]
        return Outcome(runs, acknowledged, problems, sum(len(i.questions) for i in inspectors))
    except BaseException:
        for log in (work / "app.log", work / "reference.log"):
            if log.exists():
                print(
                    f"--- {log.name} (last lines) ---",
                    *log.read_text(errors="replace").splitlines()[-20:],
                    sep="\n",
                    file=sys.stderr,
                )
        raise
    finally:
        await client.aclose()
        stop(app)
        stop(reference)


def report(args: argparse.Namespace, outcome: Outcome) -> str:
    runs = outcome.runs

    def median(name: str, value: Callable[[Round], float]) -> float:
        return statistics.median(value(r) for r in runs[name])

    ratio = median(APP, lambda r: r.rps) / median(REFERENCE, lambda r: r.rps)
    p99_ratio = median(APP, lambda r: r.percentile(99)) / median(REFERENCE, lambda r: r.percentile(99))
    lines = [
        f"Answer saves vs a bare single-row-write endpoint, {args.inspectors} inspectors "
        f"({outcome.questions // max(1, args.inspectors)} questions each) on one SQLite database per "
        f"server, {args.rounds} alternating rounds of {args.seconds} s, {args.concurrency} connections "
        "from one asyncio client (httpx2 on uvloop); median of rounds.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {time.strftime('%Y-%m-%d')}",
        "",
        "| endpoint | requests/s | p50 ms | p95 ms | p99 ms | checked responses | errors | client CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rounds in runs.items():
        lines.append(
            f"| {name} | {median(name, lambda r: r.rps):,.0f} "
            f"| {median(name, lambda r: r.percentile(50)):.2f} "
            f"| {median(name, lambda r: r.percentile(95)):.2f} "
            f"| {median(name, lambda r: r.percentile(99)):.2f} "
            f"| {sum(r.good for r in rounds):,} | {sum(r.errors for r in rounds):,} "
            f"| {median(name, lambda r: r.client_cpu):.0%} |"
        )
    verdict_rps = "met" if ratio >= 0.5 else "not met"
    verdict_p99 = "met" if p99_ratio <= 3 else "not met"
    lines += [
        "",
        f"**Throughput ratio {ratio:.2f}** (goal >= 0.5: {verdict_rps}); "
        f"**p99 ratio {p99_ratio:.2f}** (goal <= 3: {verdict_p99}).",
        "",
        f"Checks: {outcome.acknowledged[APP]:,} (attempt, slot) answers acknowledged by the app and "
        f"{outcome.acknowledged[REFERENCE]:,} by the reference, each found stored as last acknowledged; "
        f"{args.inspectors} exams submitted twice at once, each graded once (one exam.graded audit "
        "event, score equal to a regrade); audit chain verified. "
        + ("All passed." if not outcome.problems else f"**{len(outcome.problems)} problem(s)**:"),
    ]
    lines += [f"- {problem}" for problem in outcome.problems[:20]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inspectors", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if not 1 <= args.concurrency <= args.inspectors:
        parser.error("--concurrency must be between 1 and --inspectors (one save in flight per inspector)")
    if args.rounds < 1 or not 0 < args.seconds <= 600 or args.inspectors > 10_000:
        parser.error("--rounds >= 1, 0 < --seconds <= 600, --inspectors <= 10000")

    work = Path(tempfile.mkdtemp(prefix="trainer-bench-"))
    env = {
        **os.environ,
        "TRAINER_DATA_DIR": str(work / "data"),
        "TRAINER_DATABASE_URL": "",
        "TRAINER_ENV": "development",
    }
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            outcome = runner.run(bench(args, work, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(args, outcome)
    print(text)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "answer_saves.md").write_text(text + "\n", encoding="utf-8")
    failed = outcome.problems or any(r.errors for rounds in outcome.runs.values() for r in rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
