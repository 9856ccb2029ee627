"""The exam-day bench's server CPU per request (bench.common.cpu_seconds): a server's own time,
its live workers' and the workers it has reaped, so a phase's figure never misses a worker or a
database backend that ended during it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import cpu_seconds

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def test_a_worker_that_ended_is_still_counted() -> None:
    before = cpu_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", BURN.format(seconds=0.4)], check=True)  # reaped by run()
    assert cpu_seconds(os.getpid()) - before >= 0.35


def test_a_live_worker_is_counted_under_its_parent_and_not_by_another_name() -> None:
    script = BURN.format(seconds=0.4) + "print('done', flush=True)\ntime.sleep(30)\n"
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as worker:
        try:
            before = cpu_seconds(os.getpid())
            assert worker.stdout is not None
            assert worker.stdout.readline() == "done\n"
            time.sleep(0.05)
            assert cpu_seconds(os.getpid()) - before >= 0.3  # still running: its own time
            assert cpu_seconds(worker.pid) >= 0.35  # by its own pid
        finally:
            worker.kill()
    assert cpu_seconds(name="no-such-process-name") == 0.0


def test_by_name_the_trees_of_the_processes_so_called_are_counted() -> None:
    """As the database server is measured: every tree whose root has the name (the postmaster
    and its backends), here this test's own process, whatever its parent is called."""
    raw = Path("/proc/self/stat").read_text(encoding="ascii")
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    subprocess.run([sys.executable, "-c", BURN.format(seconds=0.3)], check=True)
    assert cpu_seconds(name=name) >= cpu_seconds(os.getpid()) >= 0.25
