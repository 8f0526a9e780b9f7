"""Helpers shared by the task-layer tests: a clock that only moves when told, module-level
task functions (importable by path), and small readers of the journal and the file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tlo_embed
from tlo_embed.tasks.queue import JobQueue

US = 1_000_000
MAIN = "main"
START_US = 1_700_000_000_000_000


def still_clock() -> tlo_embed.FixedClock:
    """A clock that reads the same instant until a test moves `clock.now`."""
    return tlo_embed.FixedClock(now_us=START_US, step_us=0)


@contextmanager
def opened(path: Path, clock: tlo_embed.FixedClock) -> Iterator[tlo_embed.Database]:
    """A Database on `path` with `clock`, closed afterwards."""
    db = tlo_embed.open(path, clock=clock)
    try:
        yield db
    finally:
        db.close()


def queue_of(db: tlo_embed.Database) -> JobQueue:
    """A JobQueue over the database's journal (the object the facade and workers use)."""
    return JobQueue(db.journal)


def turns(db: tlo_embed.Database) -> int:
    """How many turns the file holds."""
    return db.status().turns


def types_of(db: tlo_embed.Database, job_id: str) -> list[str]:
    """The event types of a job's history, in order."""
    return [e.type for e in db.job_history(job_id)]


def assert_checks(db: tlo_embed.Database) -> None:
    """The task tables equal the fold of the journal."""
    report = db.check()
    assert report.ok, report.problems


# -- module-level task functions: another handle (or process) can import these by path --------


def add(a: int, b: int) -> int:
    """A task: the sum of its arguments."""
    return a + b


def echo(value: Any = None) -> Any:
    """A task: returns its argument."""
    return value


def noop() -> None:
    """A task that does nothing."""
