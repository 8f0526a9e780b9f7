"""`tlo schedule`: upcoming runs of scheduled tasks, and one scheduler step."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tlo_embed

Tlo = Callable[..., Any]


def heartbeat() -> None:
    """A scheduled task (module level, so it has an import path)."""


def _scheduled_file(path: Path) -> None:
    with tlo_embed.open(path) as db:
        db.task(heartbeat, interval=60.0)


def test_schedule_lists_upcoming_runs_without_writing(tlo: Tlo, db_path: Path) -> None:
    """`tlo schedule --json` lists the next runs of an interval task and writes nothing."""
    _scheduled_file(db_path)
    with tlo_embed.open(db_path, readonly=True) as db:
        before = db.last_seq
    ran = tlo("schedule", db_path, "--limit", "3", "--json")
    assert ran.code == 0, ran.err
    runs = [json.loads(line) for line in ran.out.splitlines()]
    assert [r["task"] for r in runs] == ["heartbeat"] * 3
    assert [r["interval"] for r in runs] == [60.0] * 3
    assert runs[1]["due_us"] - runs[0]["due_us"] == 60_000_000
    with tlo_embed.open(db_path, readonly=True) as db:
        assert db.last_seq == before


def test_schedule_says_when_nothing_is_scheduled(tlo: Tlo, db_path: Path) -> None:
    """A file without scheduled tasks lists no runs."""
    assert tlo("init", db_path).code == 0
    ran = tlo("schedule", db_path)
    assert (ran.code, ran.out) == (0, "(no scheduled runs)\n")


def test_schedule_tick_records_the_schedule_and_releases_the_lease(
    tlo: Tlo, db_path: Path
) -> None:
    """`--tick` runs one scheduler step: the schedule is recorded and the lease is free."""
    _scheduled_file(db_path)
    ran = tlo("schedule", db_path, "--tick", "--json")
    assert ran.code == 0, ran.err
    result = json.loads(ran.out)
    assert result["leader"] is True
    assert result["next_due"] is not None
    with tlo_embed.open(db_path) as db:
        assert [s.task for s in db.scheduler().schedules()] == ["heartbeat"]
        assert db.scheduler().lease_holder() is None
        assert db.check().ok


def test_schedule_rejects_a_negative_limit(tlo: Tlo, db_path: Path) -> None:
    """A negative --limit is refused with a usage-style error."""
    _scheduled_file(db_path)
    ran = tlo("schedule", db_path, "--limit", "-1")
    assert ran.code != 0
    assert "--limit" in ran.err
