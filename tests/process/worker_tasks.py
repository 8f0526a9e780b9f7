"""Tasks run by worker processes in test_task_workers.py (copied to a temp dir; not a test).

The tests copy this file into their temp directory as `tlo_worker_tasks.py` and start
`tlo worker --app-dir <that dir> --import tlo_worker_tasks`, so every worker process (and
every child of a process executor) imports the tasks by the same `module:qualname` that
the test process recorded when it registered them.
"""

from __future__ import annotations

import os
import time
from typing import Any


def work(n: int) -> int:
    """A no-op job: returns its number."""
    return n


def hang_once(marker: str) -> str:
    """The first run writes its pid to `marker` and hangs (to be killed); later runs finish."""
    if not os.path.exists(marker):
        with open(marker + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(marker + ".tmp", marker)  # the test sees the whole pid or nothing
        time.sleep(600)
    return "finished"


def stamp(log_dir: str, name: str, seconds: float) -> dict[str, Any]:
    """Record `name start end pid` (monotonic ns) in this process's log, sleeping between."""
    start = time.monotonic_ns()
    time.sleep(seconds)
    end = time.monotonic_ns()
    with open(os.path.join(log_dir, f"{os.getpid()}.log"), "a") as f:
        f.write(f"{name} {start} {end} {os.getpid()}\n")
    return {"start": start, "end": end}


def broken(name: str) -> None:
    """Always fails."""
    raise RuntimeError(f"{name} fails on purpose")


def register(db: Any) -> None:
    """Register the tasks (the `tlo worker --import` convention)."""
    db.task(work, retries=3)  # a lease lost under load is retried, never a dead letter
    db.task(hang_once, retries=2)
    db.task(stamp, retries=0)
    db.task(stamp, name="stamp_exclusive", retries=0, exclusive=True)
    db.task(broken, retries=0)
