"""Login cost: argon2id password checks per second on this machine, at the parameters in use.

    .venv/bin/python bench/password_hash.py [--seconds 5]

One check is what a sign-in costs the server; the figure bounds sign-ins per second per core
(and is the point: it bounds an attacker's guesses per second against a stolen hash too).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor

from trainer.people import passwords

STORED = passwords.hash_password("a realistic pass phrase 2026")


def rate(workers: int, seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    counts = [0] * workers

    def work(index: int) -> None:
        while time.perf_counter() < deadline:
            passwords.verify_password(STORED, "a realistic pass phrase 2026")
            counts[index] += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    return sum(counts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    print(f"argon2id m=19 MiB t=2 p=1; {machine}")
    print("| threads | checks/s | ms per check |")
    print("|---:|---:|---:|")
    for workers in (1, os.cpu_count() or 1):
        per_second = rate(workers, args.seconds)
        print(f"| {workers} | {per_second:.1f} | {1000 * workers / per_second:.1f} |")


if __name__ == "__main__":
    main()
