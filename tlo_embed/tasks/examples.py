"""Example tasks, and the shape of a module `tlo worker --import` loads.

    tlo worker app.tlo --import tlo_embed.tasks.examples --executor process --concurrency 2

A tasks module defines its functions at the top level (so a process executor can import
them by `module:qualname`) and a `register(db)` function that registers them on the open
database. The worker imports the module and calls `register(db)`; nothing happens at import
time, so the module can also be imported by an application that opens its own database.

The tasks here are useful to try a worker out or to check a deployment:

- `tlo.echo`: returns its payload;
- `tlo.add`: returns `a + b`;
- `tlo.sleep`: sleeps `seconds` (timeout 60 s), returns them;
- `tlo.fail`: raises RuntimeError with `message` (no retries).
"""

from __future__ import annotations

import time
from typing import Any


def echo(value: Any = None) -> Any:
    """Return the payload."""
    return value


def add(a: float, b: float) -> float:
    """Return `a + b`."""
    return a + b


def sleep(seconds: float) -> float:
    """Sleep `seconds`, return them."""
    time.sleep(seconds)
    return seconds


def fail(message: str = "failed on purpose") -> None:
    """Raise RuntimeError(message)."""
    raise RuntimeError(message)


def register(db: Any) -> None:
    """Register the example tasks on `db` (a `tlo_embed.Database`) as `tlo.*`."""
    db.task(echo, name="tlo.echo")
    db.task(add, name="tlo.add")
    db.task(sleep, name="tlo.sleep", timeout=60.0)
    db.task(fail, name="tlo.fail", retries=0)
