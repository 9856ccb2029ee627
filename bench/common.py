"""Plumbing the benchmarks share: a free loopback port, a server started on it and waited for,
the tail of a log for error messages, and the CPU time a server's processes have used."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(log: Path, lines: int = 30) -> str:
    if not log.exists():
        return ""
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@contextmanager
def serving(command: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    """`command --port P` on a free loopback port, up (GET /healthz answers 200) until the block
    ends, then stopped with SIGINT; its output goes to `log`. Yields the base URL."""
    with serving_process(command, env, log) as (base, _pid):
        yield base


@contextmanager
def serving_process(command: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """`serving`, yielding the base URL and the server's process id (for `cpu_seconds`)."""
    port = free_port()
    with log.open("a", encoding="utf-8") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{tail(log)}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not come up:\n{tail(log)}")
            time.sleep(0.3)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds) of a live process from /proc/PID/stat: its own
    user and system time and that of its children it has reaped (a backend or worker that ended
    during a phase is counted in its parent's)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:  # gone meanwhile
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()  # from field 3 (state) on
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])  # fields 14-17
    return name, int(fields[1]), (utime + stime + cutime + cstime) / _TICK


def cpu_seconds(pid: int | None = None, name: str | None = None) -> float:
    """The CPU time (user + system) used so far by process `pid` and its descendants (a server
    and its workers), or by the trees of the processes called `name` whose parent is not (the
    database server: the postmaster and its backends). Linux only; 0.0 elsewhere. Its change
    across a phase is what the server did in it."""
    if not Path("/proc/self/stat").exists():
        return 0.0
    stats = {p: s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(p)) is not None}
    if name is not None:
        roots = {
            p
            for p, (command, parent, _cpu) in stats.items()
            if command == name and stats.get(str(parent), ("",))[0] != name
        }
    else:
        roots = {str(pid)}
    tree, grew = set(roots), True
    while grew:  # the descendants: children whose parent is in the tree, until none is added
        more = {p for p, (_c, parent, _t) in stats.items() if str(parent) in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(stats[p][2] for p in tree if p in stats)
