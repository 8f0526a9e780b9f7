"""tlo_embed/tasks/metrics.py: counts, throughput and latency percentiles of the job queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tlo_embed
from tlo_embed.tasks.metrics import PROGRESS_EVERY, Latency
from tlo_embed.tasks.model import STATES, TaskOptions
from tlo_embed.tasks.queue import JobQueue

US = 1_000_000
START_US = 1_700_000_000_000_000
MAIN = "main"


def work(n: int = 0) -> int:
    """A task the tests register (its jobs are driven by hand, never run)."""
    return n


def other(n: int = 0) -> int:
    """A second task, in its own queue."""
    return n


@pytest.fixture
def clock() -> tlo_embed.FixedClock:
    """A clock that stands still until a test moves it."""
    return tlo_embed.FixedClock(now_us=START_US, step_us=0)


@pytest.fixture
def db(tmp_path: Path, clock: tlo_embed.FixedClock) -> Iterator[tlo_embed.Database]:
    """A fresh file with tasks `work` (queue default, one retry) and `other` (queue q2)."""
    database = tlo_embed.open(tmp_path / "app.tlo", clock=clock)
    database.task(work, retries=1, backoff=10.0)
    database.task(other, queue="q2", retries=0)
    try:
        yield database
    finally:
        database.close()


def at(clock: tlo_embed.FixedClock, seconds: float) -> None:
    """Move the clock to START + `seconds`."""
    clock.now = START_US + round(seconds * US)


def run_one(db: tlo_embed.Database, clock: tlo_embed.FixedClock, *, claim_at: float,
            duration: float, queues: list[str] | None = None, ok: bool = True) -> str:
    """Claim the next job at `claim_at` and report it after `duration` seconds."""
    queue = JobQueue(db.journal)
    at(clock, claim_at)
    (job,) = queue.claim(MAIN, "w1", queues, 1, 30.0)
    at(clock, claim_at + duration)
    if ok:
        queue.succeed(MAIN, job.id, "w1", job.attempts, None, round(duration * US))
    else:
        queue.fail(MAIN, job.id, "w1", job.attempts, "boom", TaskOptions(retries=1, backoff=10.0),
                   round(duration * US))
    return job.id


def ten_jobs(db: tlo_embed.Database, clock: tlo_embed.FixedClock) -> None:
    """Job i is enqueued at i s, claimed at 100 + 10 i s and runs (i + 1) / 10 s."""
    for i in range(10):
        at(clock, i)
        db.enqueue("work", {"n": i})
    for i in range(10):
        run_one(db, clock, claim_at=100 + 10 * i, duration=(i + 1) / 10)


def test_an_empty_file_has_zero_counts_and_no_samples(db: tlo_embed.Database) -> None:
    """With no jobs, every count is 0, no latency has samples and throughput is undefined."""
    stats = db.stats()
    assert stats.counts == dict.fromkeys(STATES, 0)
    assert stats.by_task == {} and stats.by_queue == {}
    assert stats.throughput is None
    assert stats.start_us is None and stats.end_us is None
    assert stats.wait == Latency(count=0, min_us=None, mean_us=None, p50_us=None, p90_us=None,
                                 p99_us=None, max_us=None)
    assert stats.events == 0


def test_latencies_are_percentiles_of_the_recorded_times(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """Queue wait, run time and end to end are the p50/p90/p99 of the recorded times."""
    ten_jobs(db, clock)
    stats = db.stats()
    # Waits are 100 + 9 i seconds: linear interpolation between the sorted samples.
    assert stats.wait.count == 10
    assert stats.wait.p50_us == 140_500_000
    assert stats.wait.p90_us == 172_900_000
    assert stats.wait.p99_us == 180_190_000
    assert (stats.wait.min_us, stats.wait.max_us) == (100 * US, 181 * US)
    assert stats.wait.mean_us == 140_500_000
    runs = [(i + 1) * 100_000 for i in range(10)]
    assert stats.run.count == 10
    assert stats.run.p50_us == round(float(np.percentile(runs, 50)))
    assert stats.run.p99_us == round(float(np.percentile(runs, 99)))
    totals = [100 * US + 9 * i * US + runs[i] for i in range(10)]
    assert stats.end_to_end.p90_us == round(float(np.percentile(totals, 90)))
    assert stats.end_to_end.max_us == max(totals)


def test_throughput_is_finished_jobs_per_second_over_the_window(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """Throughput divides the jobs finished by the span from the first to the last event."""
    ten_jobs(db, clock)
    stats = db.stats()
    assert (stats.enqueued, stats.started, stats.succeeded, stats.finished) == (10, 10, 10, 10)
    assert stats.start_us == START_US
    assert stats.end_us == START_US + 191 * US  # the last job finished at 190 + 1.0 s
    assert stats.window_seconds == 191.0
    assert stats.throughput == pytest.approx(10 / 191)


def test_a_time_range_selects_what_happened_in_it(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """since/until keep the samples whose ending event is in range; counts keep jobs enqueued
    in range."""
    ten_jobs(db, clock)
    since = dt.datetime.fromtimestamp((START_US + 150 * US) / US, dt.UTC)
    stats = db.stats(since=since)
    assert stats.enqueued == 0
    assert stats.started == 5 and stats.succeeded == 5  # claims at 150, 160, ..., 190 s
    assert stats.wait.min_us == 145 * US
    assert stats.start_us == START_US + 150 * US and stats.end_us == START_US + 191 * US
    assert stats.throughput == pytest.approx(5 / 41)
    assert sum(stats.counts.values()) == 0  # no job was enqueued at or after `since`
    early = db.stats(until=(START_US + 5 * US) / US)
    assert early.enqueued == 5 and early.started == 0
    assert sum(early.counts.values()) == 5 and early.counts["succeeded"] == 5


def test_task_and_queue_filters_follow_each_job(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """task= keeps one task's jobs; queue= follows a job moved to another queue."""
    first = db.enqueue("work")
    db.enqueue("other")
    db.enqueue("work")
    db.queue.move(first.id, "q2")
    run_one(db, clock, claim_at=1, duration=0.5, queues=["q2"])
    run_one(db, clock, claim_at=2, duration=0.5, queues=["q2"])
    assert db.stats(task="other").succeeded == 1
    assert db.stats(task="work").succeeded == 1
    moved = db.stats(queue="q2")
    assert moved.succeeded == 2 and moved.enqueued == 1  # `first` was enqueued in default
    assert moved.counts["succeeded"] == 2
    stats = db.stats()
    assert stats.by_task["work"]["succeeded"] == 1 and stats.by_task["work"]["pending"] == 1
    assert stats.by_queue == {
        "q2": {**dict.fromkeys(STATES, 0), "succeeded": 2},
        "default": {**dict.fromkeys(STATES, 0), "pending": 1},
    }
    assert stats.counts == {**dict.fromkeys(STATES, 0), "succeeded": 2, "pending": 1}


def test_a_retry_waits_from_its_backoff_time(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """After a failed attempt the wait counts from the retry's due time, not the enqueue."""
    job = db.enqueue("work")
    run_one(db, clock, claim_at=2, duration=1, ok=False)
    due = db.job(job.id).run_at_us
    assert db.job(job.id).state == "retrying"
    retry_at = (due - START_US) / US
    run_one(db, clock, claim_at=retry_at + 4, duration=0.25)
    stats = db.stats()
    assert (stats.started, stats.retried, stats.succeeded, stats.dead) == (2, 1, 1, 0)
    assert (stats.wait.min_us, stats.wait.max_us) == (2 * US, 4 * US)
    assert (stats.run.min_us, stats.run.max_us) == (250_000, US)
    assert stats.end_to_end.count == 1
    assert stats.end_to_end.max_us == due - START_US + 4 * US + 250_000


def test_an_expired_lease_gives_a_dead_letter_without_a_run_sample(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """A job failed because its lease ran out counts as dead, with no run time measured."""
    job = db.enqueue("other")  # one attempt only
    queue = JobQueue(db.journal)
    at(clock, 1)
    queue.claim(MAIN, "w1", None, 1, 30.0)
    at(clock, 40)  # the lease (30 s) has expired: the next claim fails the job
    assert queue.claim(MAIN, "w2", None, 1, 30.0) == []
    assert db.job(job.id).state == "failed"
    stats = db.stats()
    assert (stats.started, stats.dead) == (1, 1)
    assert stats.run.count == 0
    assert stats.end_to_end.max_us == 40 * US


def test_a_requeued_job_runs_end_to_end_from_its_requeue(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """Requeueing a dead letter restarts its end-to-end time and makes it due again."""
    job = db.enqueue("other")
    run_one(db, clock, claim_at=1, duration=1, ok=False)
    at(clock, 100)
    assert db.queue.requeue(job.id) == 1
    run_one(db, clock, claim_at=103, duration=2)
    stats = db.stats()
    assert (stats.dead, stats.succeeded) == (1, 1)
    assert stats.wait.max_us == 3 * US
    assert (stats.end_to_end.min_us, stats.end_to_end.max_us) == (2 * US, 5 * US)


def test_cancelled_and_blocked_jobs_are_counted(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """Cancelling a parent counts one cancelled and one blocked (its child) transition."""
    parent = db.enqueue("work")
    db.enqueue("work", after=[parent])
    db.queue.cancel(parent.id)
    stats = db.stats()
    assert (stats.cancelled, stats.blocked, stats.finished) == (1, 1, 0)
    assert stats.counts["cancelled"] == 1 and stats.counts["blocked"] == 1
    assert stats.throughput is None  # every event was recorded at the same instant


def test_an_empty_range_is_refused(db: tlo_embed.Database) -> None:
    """until at or before since is an InvalidArgumentError; so is a naive datetime."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.stats(since=START_US / US + 10, until=START_US / US + 10)
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.stats(since=dt.datetime(2024, 1, 1))  # noqa: DTZ001 - the point of the test


def test_progress_is_reported_up_to_the_head(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """The progress callback sees (seq, head) every PROGRESS_EVERY job events, then (head, head)."""
    for i in range(PROGRESS_EVERY + 10):
        db.enqueue("work", {"n": i})
    seen: list[tuple[int, int]] = []
    db.stats(progress=lambda done, total: seen.append((done, total)))
    head = db.last_seq
    assert seen[-1] == (head, head)
    assert len(seen) == 2 and seen[0][0] < head


def test_stats_read_a_readonly_handle_and_repeat(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock, tmp_path: Path
) -> None:
    """Stats need no write access, and the same history gives the same figures."""
    ten_jobs(db, clock)
    before = db.last_seq
    with tlo_embed.open(tmp_path / "app.tlo", readonly=True) as reader:
        assert reader.stats() == db.stats()
    assert db.last_seq == before


def test_latency_of_one_sample_is_that_sample() -> None:
    """One sample is its own minimum, mean, percentiles and maximum."""
    assert Latency.of([1234]) == Latency(count=1, min_us=1234, mean_us=1234, p50_us=1234,
                                         p90_us=1234, p99_us=1234, max_us=1234)
