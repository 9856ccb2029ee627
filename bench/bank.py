"""Large question banks: does drawing a paper, or loading the content, cost what the bank holds?

Drawing: `trainer.quizzes.assembly.choose` fills a blueprint of 10 rows of 5 from synthetic banks
of 1,000 and 100,000 questions (bench/bank_gen.py, built in memory), --draws papers each, the two
sizes taking turns so that a noisy machine slows both alike. Goal: 100x the bank costs <= 2x.

Loading: content roots of 500 and 50,000 questions are written to a temporary folder, and each is
loaded (`load_library`, in a fresh process) cold (empty cache), warm (a restart: every file in the
on-disk parse cache) and, in a server's content store with --reload, after one bank file is
edited (only that file is parsed again). Goals for 50,000: cold <= 15 s, warm <= 3 s, reload
<= 2 s; reported beside 500 as a ratio. Wall time and the process's CPU time are both shown: on
a shared machine the CPU time is the steadier figure.

    .venv/bin/python bench/bank.py [--draws 200] [--quick]

--quick uses 10,000 instead of 100,000 and 5,000 instead of 50,000 (a smoke run). Prints a table
and writes bench/results/bank.md and bench/results/bank.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `trainer` importable
    sys.path.insert(0, str(ROOT))

from bench.bank_gen import ROWS, parsed_files, write_content  # noqa: E402

RESULTS = ROOT / "bench" / "results"

# Run in a fresh process for each load, so that "cold" really is.
_LOAD = """
import json, sys, time
from pathlib import Path
from trainer.content.parsecache import ParseCache
from trainer.content.store import ContentStore
root, cache, edit = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "edit"
wall, cpu = time.perf_counter(), time.process_time()
store = ContentStore(root / "courses", root / "question_bank", reload=True, cache_dir=cache)
result = {"load_s": time.perf_counter() - wall, "load_cpu_s": time.process_time() - cpu,
          "questions": len(store.library.bank.questions), "parsed": store.cache.misses}
if edit:
    path = sorted((root / "question_bank" / "synthetic").glob("s*[0-9].yaml"))[0]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Synthetic question 1:", f"Synthetic question 1 ({time.time()}):", 1),
                    encoding="utf-8")
    before = store.generation
    misses = store.cache.misses
    wall, cpu = time.perf_counter(), time.process_time()
    library = store.library  # the first request after the edit reloads
    result.update(reload_s=time.perf_counter() - wall, reload_cpu_s=time.process_time() - cpu,
                  reloaded=store.generation == before + 1, reparsed=store.cache.misses - misses)
print(json.dumps(result))
"""


def draw_times(sizes: list[int], draws: int) -> dict[int, list[float]]:
    from trainer.content.bank import build_bank
    from trainer.content.schemas import DrawRow
    from trainer.quizzes.assembly import choose

    class _AnyCode(set[str]):
        def __contains__(self, code: object) -> bool:
            return True

    rows = [DrawRow.model_validate(row) for row in ROWS]
    banks = {}
    for size in sizes:
        banks[size] = build_bank(parsed_files(size), _AnyCode(), lambda problem: None)
        choose(banks[size], "gas", rows, random.Random(0), purpose="exam")  # builds the index
    times: dict[int, list[float]] = {size: [] for size in sizes}
    for seed in range(draws):
        for size in sizes:  # taking turns: a burst of load from elsewhere hits both sizes
            start = time.perf_counter()
            paper = choose(banks[size], "gas", rows, random.Random(seed), purpose="exam")
            times[size].append(time.perf_counter() - start)
            if len(paper) != 50:
                raise SystemExit(f"a paper of {len(paper)} questions from {size}")
    return times


def load_once(root: Path, cache: Path, edit: bool) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", _LOAD, str(root), str(cache), "edit" if edit else "-"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_times(sizes: list[int], folder: Path) -> dict[int, dict[str, float]]:
    results = {}
    for size in sizes:
        root = write_content(folder / f"bank{size}", size)
        cache = folder / f"cache{size}"
        cold = load_once(root, cache, edit=False)
        warm = load_once(root, cache, edit=True)
        if cold["parsed"] == 0 or warm["parsed"] != 0 or not warm["reloaded"] or warm["reparsed"] != 1:
            raise SystemExit(f"the cache did not behave: cold {cold}, warm {warm}")
        results[size] = {
            "questions": cold["questions"],
            "cold_s": cold["load_s"],
            "cold_cpu_s": cold["load_cpu_s"],
            "warm_s": warm["load_s"],
            "warm_cpu_s": warm["load_cpu_s"],
            "reload_s": warm["reload_s"],
            "reload_cpu_s": warm["reload_cpu_s"],
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="drawing only")
    args = parser.parse_args()
    small_draw, large_draw = 1_000, (10_000 if args.quick else 100_000)
    small_load, large_load = 500, (5_000 if args.quick else 50_000)

    times = draw_times([small_draw, large_draw], args.draws)
    median = {size: statistics.median(t) * 1000 for size, t in times.items()}
    fastest = {size: min(t) * 1000 for size, t in times.items()}
    draw_ratio = median[large_draw] / median[small_draw]
    lines = [
        "# Large banks",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the start; {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"## Drawing a paper (10 rows of 5), {args.draws} papers per size, sizes taking turns",
        "",
        "| bank | median ms | fastest ms |",
        "|---:|---:|---:|",
        *(f"| {size:,} | {median[size]:.2f} | {fastest[size]:.2f} |" for size in times),
        "",
        f"{large_draw:,} vs {small_draw:,}: **{draw_ratio:.2f}x** the median time (goal <= 2x).",
    ]
    report: dict[str, object] = {
        "draw": {
            "sizes": [small_draw, large_draw],
            "median_ms": median,
            "fastest_ms": fastest,
            "ratio": draw_ratio,
        }
    }
    ok = draw_ratio <= 2
    if not args.skip_load:
        with tempfile.TemporaryDirectory(prefix="bench-bank-") as folder:
            loads = load_times([small_load, large_load], Path(folder))
        small, large = loads[small_load], loads[large_load]
        lines += [
            "",
            "## Loading the content (a fresh process each; seconds, wall / CPU)",
            "",
            "| questions | cold | warm restart | one-file reload |",
            "|---:|---:|---:|---:|",
            *(
                f"| {r['questions']:,} | {r['cold_s']:.2f} / {r['cold_cpu_s']:.2f} | "
                f"{r['warm_s']:.2f} / {r['warm_cpu_s']:.2f} | {r['reload_s']:.2f} / {r['reload_cpu_s']:.2f} |"
                for r in (small, large)
            ),
            "",
            f"{large_load:,} vs {small_load:,} (wall): cold {large['cold_s'] / small['cold_s']:.1f}x, warm "
            f"{large['warm_s'] / small['warm_s']:.1f}x, reload {large['reload_s'] / small['reload_s']:.1f}x; "
            f"(CPU): cold {large['cold_cpu_s'] / small['cold_cpu_s']:.1f}x, warm "
            f"{large['warm_cpu_s'] / small['warm_cpu_s']:.1f}x, reload "
            f"{large['reload_cpu_s'] / small['reload_cpu_s']:.1f}x. "
            f"Goals at {large_load:,}: cold <= 15 s, warm <= 3 s, reload <= 2 s.",
        ]
        report["load"] = loads
    text = "\n".join(lines) + "\n"
    print(text)
    name = "bank-quick" if args.quick else "bank"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if not ok:
        raise SystemExit(f"drawing from {large_draw:,} costs {draw_ratio:.2f}x drawing from {small_draw:,}")


if __name__ == "__main__":
    main()
