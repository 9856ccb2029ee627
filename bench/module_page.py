"""Module page throughput as a ratio to a bare endpoint serving the same HTML from memory,
for an anonymous reader and for a signed-in inspector (session looked up on every request).

Both servers run side by side (one uvicorn process each, same settings), and wrk loads them
in alternating rounds so that machine noise hits both alike. Every response is checked by
check_response.lua; a round with a bad response is reported as failed.

    .venv/bin/python bench/module_page.py [--seconds 10] [--rounds 3] [--connections 32]

Needs wrk (Debian: apt-get install wrk). Prints a table and writes bench/results/module_page.md.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE_PATH = "/courses/coal-mine-inspection/cm-methane-control"
# A returning browser: a language preference, and the CSRF cookie it was given on its first visit.
BROWSER_HEADERS = [("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8"), ("Cookie", "trainer_csrf=" + "x" * 43)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def sign_in(base: str, secret_key: str) -> str:
    """Sign a demo inspector in through the login form; returns the browser's Cookie header."""
    from trainer.people.demo import demo_password

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login") as response:
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', response.read().decode()).group(1)  # type: ignore[union-attr]
    form = {
        "username": "inspector.li",
        "password": demo_password(secret_key, "inspector.li"),
        "csrf_token": token,
    }
    with opener.open(f"{base}/login", data=urllib.parse.urlencode(form).encode()) as response:
        if "Sign out" not in response.read().decode():
            raise RuntimeError("could not sign the demo inspector in")
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def run_wrk(url: str, seconds: int, connections: int, cookie: str | None = None) -> dict[str, float]:
    pairs = [(n, v) for n, v in BROWSER_HEADERS if not (cookie and n == "Cookie")]
    pairs += [("Cookie", cookie)] if cookie else []
    headers = [arg for name, value in pairs for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            *headers,
            "-s",
            str(ROOT / "bench" / "check_response.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "90", "99"):
        match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(match.group(1)), match.group(2)  # type: ignore[union-attr]
        result[f"p{pct}_ms"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    checked = re.search(r"CHECKED good=(\d+) bad=(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["good"] = float(checked.group(1))  # type: ignore[union-attr]
    result["bad"] = float(checked.group(2)) + (sum(map(int, errors.groups())) if errors else 0)  # type: ignore[union-attr]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="trainer-bench-"))
    app_port, ref_port = free_port(), free_port()
    env = {**os.environ, "TRAINER_DATA_DIR": str(work / "data"), "TRAINER_DATABASE_URL": ""}
    python = sys.executable
    app = subprocess.Popen(
        [python, "-m", "trainer.cli", "serve", "--port", str(app_port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reference = None
    try:
        app_url = f"http://127.0.0.1:{app_port}{MODULE_PATH}"
        wait_for(app_url)
        # The reference serves exactly the bytes our page sends to the same browser.
        request = urllib.request.Request(app_url, headers=dict(BROWSER_HEADERS))
        with urllib.request.urlopen(request) as response:
            page = response.read().decode()
        if "<h1" not in page or "</html>" not in page:
            raise RuntimeError("the module page did not render")
        (work / "page.html").write_text(page, encoding="utf-8")
        reference = subprocess.Popen(
            [
                python,
                "-m",
                "uvicorn",
                "bench.reference_app:app",
                "--port",
                str(ref_port),
                "--log-level",
                "warning",
            ],
            env={**env, "REFERENCE_PAGE_FILE": str(work / "page.html")},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ref_url = f"http://127.0.0.1:{ref_port}/page"
        wait_for(ref_url)
        # Warm both up, then alternate so noise falls on both alike.
        cookie = sign_in(f"http://127.0.0.1:{app_port}", (work / "data" / "secret_key").read_text().strip())
        run_wrk(app_url, 2, args.connections)
        run_wrk(app_url, 2, args.connections, cookie)
        run_wrk(ref_url, 2, args.connections)
        runs: dict[str, list[dict[str, float]]] = {
            "module page": [],
            "module page, signed in": [],
            "reference": [],
        }
        for _ in range(args.rounds):
            runs["module page"].append(run_wrk(app_url, args.seconds, args.connections))
            runs["module page, signed in"].append(run_wrk(app_url, args.seconds, args.connections, cookie))
            runs["reference"].append(run_wrk(ref_url, args.seconds, args.connections))
    finally:
        app.terminate()
        if reference is not None:
            reference.terminate()
        app.wait(10)
        if reference is not None:
            reference.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    ratio = median("module page", "rps") / median("reference", "rps")
    signed_in_ratio = median("module page, signed in", "rps") / median("reference", "rps")
    lines = [
        f"Module page vs bare endpoint (same HTML, {len(page)} bytes), {args.rounds} alternating rounds "
        f"of {args.seconds} s, {args.connections} connections, wrk -t1; median of rounds.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
        "| endpoint | requests/s | p50 ms | p90 ms | p99 ms | checked responses | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, results in runs.items():
        lines.append(
            f"| {name} | {median(name, 'rps'):,.0f} | {median(name, 'p50_ms'):.2f} "
            f"| {median(name, 'p90_ms'):.2f} | {median(name, 'p99_ms'):.2f} "
            f"| {sum(r['good'] for r in results):,.0f} | {sum(r['bad'] for r in results):,.0f} |"
        )
    lines += [
        "",
        f"**Ratio to the reference: {ratio:.2f} anonymous, {signed_in_ratio:.2f} signed in** (goal >= 0.5)",
    ]
    report = "\n".join(lines)
    print(report)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "module_page.md").write_text(report + "\n", encoding="utf-8")
    errors = sum(r["bad"] for rs in runs.values() for r in rs)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
