"""What PostgreSQL spends storing and reading an exam paper, compressed with pglz and with lz4
(migration 0016 chose lz4).

    .venv/bin/python bench/paper_compression.py [--postgres postgresql://postgres@127.0.0.1:5432/test]
        [--papers 200] [--rounds 5]

Papers of the bench's exam (bench/exam_day.py's library: the sample coal course widened to 50
questions), half in English and half in Chinese, are inserted one at a time into two scratch
tables whose text column is compressed one way and the other, then read back one at a time by
id; the methods take turns each round and the medians are printed, with each table's size. The
scratch tables are dropped at the end.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.exam_day import COURSE, bench_library
from trainer.content.loader import load_library
from trainer.quizzes import service, snapshot
from trainer.quizzes.assembly import assemble

METHODS = ("pglz", "lz4")


def papers(count: int) -> list[str]:
    """Papers as the app stores them (service._create's JSON of snapshot entries)."""
    courses, bank = bench_library(Path(tempfile.mkdtemp()))
    library, problems = load_library(courses, bank)
    if library is None:
        raise SystemExit(f"the bench library does not load: {problems}")
    course = library.courses[COURSE]
    assert course.certification is not None
    made = []
    for index in range(count):
        lang = "zh-CN" if index % 2 else "en"
        served = assemble(
            library.bank,
            course.domain,
            course.certification.exam.blueprint,
            secrets.randbits(63),
            purpose="exam",
        )
        entries = [service._entry_text(snapshot.snapshot_question(q, library, lang)) for q in served]
        made.append("[" + ",".join(entries) + "]")
    return made


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--papers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = papers(args.papers)
    timings: dict[str, dict[str, list[float]]] = {m: {"insert": [], "read": []} for m in METHODS}
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        for method in METHODS:
            conn.execute(f"DROP TABLE IF EXISTS bench_paper_{method}")
            conn.execute(
                f"CREATE TABLE bench_paper_{method} (id serial PRIMARY KEY, paper text COMPRESSION {method})"
            )
        try:
            for _ in range(args.rounds):
                for method in METHODS:
                    table = f"bench_paper_{method}"
                    conn.execute(f"TRUNCATE {table} RESTART IDENTITY")
                    began = time.perf_counter()
                    for text in texts:
                        conn.execute(f"INSERT INTO {table} (paper) VALUES (%s)", (text,))
                    timings[method]["insert"].append((time.perf_counter() - began) / len(texts))
                    began = time.perf_counter()
                    for paper_id in range(1, len(texts) + 1):
                        conn.execute(f"SELECT paper FROM {table} WHERE id = %s", (paper_id,)).fetchone()
                    timings[method]["read"].append((time.perf_counter() - began) / len(texts))
            sizes = {
                m: conn.execute("SELECT pg_total_relation_size(%s)", (f"bench_paper_{m}",)).fetchone()[0]  # type: ignore[index]
                for m in METHODS
            }
        finally:
            for method in METHODS:
                conn.execute(f"DROP TABLE IF EXISTS bench_paper_{method}")
    average_kb = sum(len(t.encode("utf-8")) for t in texts) / len(texts) / 1024
    print(f"{args.papers} papers of {average_kb:.1f} kB on average, {args.rounds} rounds, medians:")
    print("| compression | insert ms | read ms | table MB |")
    print("|---|---:|---:|---:|")
    for method in METHODS:
        insert = statistics.median(timings[method]["insert"]) * 1000
        read = statistics.median(timings[method]["read"]) * 1000
        print(f"| {method} | {insert:.2f} | {read:.2f} | {sizes[method] / 1024 / 1024:.1f} |")


if __name__ == "__main__":
    main()
