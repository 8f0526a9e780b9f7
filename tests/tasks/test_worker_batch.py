"""Worker(batch=N): inline batches claim N jobs in one turn and record their outcomes in one."""

from __future__ import annotations

from pathlib import Path

import pytest

import tlo_embed
from .support import opened, still_clock, turns


def double(n: int) -> int:
    """A module-level task."""
    return n * 2


def test_a_batch_runs_every_job_in_two_turns_per_batch(tmp_path: Path) -> None:
    """20 jobs with batch=8 take 3 claim turns and 3 outcome turns, and all succeed."""
    with opened(tmp_path / "b.tlo", still_clock()) as db:
        db.task(double)
        jobs = [db.enqueue("double", [i]) for i in range(20)]
        before = turns(db)
        stats = db.worker(batch=8).run(until_idle=True, idle_horizon=0.0)
        assert (stats.claimed, stats.succeeded) == (20, 20)
        assert turns(db) - before == 6
        assert [db.job(j.id).result for j in jobs] == [2 * i for i in range(20)]
        assert db.check().ok


def test_a_failure_in_a_batch_retries_only_that_job(tmp_path: Path) -> None:
    """One failing job in a batch is retried; the others are recorded as succeeded."""
    with opened(tmp_path / "f.tlo", still_clock()) as db:
        db.task(double, retries=1, backoff=0.0)
        good = [db.enqueue("double", [i]) for i in range(3)]
        bad = db.enqueue("double", ["x", "y"])  # double() takes one argument: a TypeError
        db.worker(batch=4).run(until_idle=True, idle_horizon=0.0)
        assert [db.job(j.id).state for j in good] == ["succeeded"] * 3
        assert db.job(bad.id).state == "failed"
        assert db.job(bad.id).attempts == 2


def test_batches_are_for_the_inline_executor_only(tmp_path: Path) -> None:
    """batch above 1 with another executor, or below 1, is refused."""
    with opened(tmp_path / "r.tlo", still_clock()) as db:
        with pytest.raises(tlo_embed.InvalidArgumentError):
            db.worker(executor="thread", concurrency=2, batch=4)
        with pytest.raises(tlo_embed.InvalidArgumentError):
            db.worker(batch=0)
