"""tlo_embed/tasks/admin.py: db.queue — peek, move, reschedule, cancel, requeue, purge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import tlo_embed
from tlo_embed.tasks import model
from tlo_embed.tasks.admin import QueueAdmin, to_us

from .support import (
    MAIN,
    START_US,
    US,
    assert_checks,
    noop,
    queue_of,
    still_clock,
    types_of,
)


@pytest.fixture
def clock() -> tlo_embed.FixedClock:
    """A clock that only moves when a test moves it."""
    return still_clock()


@pytest.fixture
def db(db_path: Path, clock: tlo_embed.FixedClock) -> Iterator[tlo_embed.Database]:
    """A file with tasks 'noop' (3 retries) and 'once' (no retries); checked at the end."""
    database = tlo_embed.open(db_path, clock=clock)
    try:
        database.task(noop)
        database.task(noop, name="once", retries=0)
        yield database
        assert_checks(database)
    finally:
        database.close()


def fail_next(db: tlo_embed.Database) -> tlo_embed.Job:
    """Claim the next job and fail it for good."""
    q = queue_of(db)
    [job] = q.claim(MAIN, "w", None, 1, 30)
    return q.fail(MAIN, job.id, "w", job.attempts, "boom", tlo_embed.TaskOptions(), 0,
                  retry=False)


def test_to_us_takes_aware_datetimes_and_epoch_seconds() -> None:
    """Aware datetimes and epoch seconds become microseconds; naive datetimes are refused."""
    when = datetime(2024, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)
    assert to_us(when) == int(when.timestamp()) * US + 600_000
    assert to_us(when.astimezone(timezone(timedelta(hours=5)))) == to_us(when)
    assert to_us(1.5) == 1_500_000
    with pytest.raises(tlo_embed.InvalidArgumentError):
        to_us(datetime(2024, 1, 2))


def test_db_queue_is_an_admin_of_the_handle_branch(db: tlo_embed.Database) -> None:
    """db.queue is a QueueAdmin."""
    assert isinstance(db.queue, QueueAdmin)


def test_peek_lists_waiting_jobs_in_claim_order(db: tlo_embed.Database) -> None:
    """peek: priority desc, then due time, then FIFO; only waiting jobs; limit and queue."""
    low = db.enqueue("noop", priority=0)
    later = db.enqueue("noop", priority=2, delay=5)
    sooner = db.enqueue("noop", priority=2, delay=1)
    fifo1 = db.enqueue("noop", priority=1, queue="other")
    fifo2 = db.enqueue("noop", priority=1)
    running = db.enqueue("noop", priority=9)
    queue_of(db).claim(MAIN, "w", None, 1, 30)
    assert [j.id for j in db.queue.peek()] == [
        sooner.id, later.id, fifo1.id, fifo2.id, low.id]
    assert running.id not in [j.id for j in db.queue.peek()]
    assert [j.id for j in db.queue.peek(limit=2)] == [sooner.id, later.id]
    assert [j.id for j in db.queue.peek("other")] == [fifo1.id]
    assert db.queue.peek("nothing-here") == []


def test_peek_includes_retrying_jobs(db: tlo_embed.Database) -> None:
    """A job waiting for its next attempt is in the queue too."""
    job = db.enqueue("noop")
    q = queue_of(db)
    [held] = q.claim(MAIN, "w", None, 1, 30)
    q.fail(MAIN, job.id, "w", held.attempts, "e", tlo_embed.TaskOptions(), 0)
    assert [(j.id, j.state) for j in db.queue.peek()] == [(job.id, "retrying")]


def test_counts_by_state(db: tlo_embed.Database) -> None:
    """counts() tallies the jobs of every state present."""
    assert db.queue.counts() == {}
    db.enqueue("noop")
    db.enqueue("once")
    fail_next(db)
    assert db.queue.counts() == {"pending": 1, "failed": 1}


def test_move_takes_an_id_or_a_list(db: tlo_embed.Database) -> None:
    """move() accepts one id or many and returns how many moved."""
    a, b = db.enqueue("noop"), db.enqueue("noop")
    assert db.queue.move(a.id, "slow") == 1
    assert db.queue.move([a.id, b.id], "slow") == 1
    assert {db.job(a).queue, db.job(b).queue} == {"slow"}
    assert types_of(db, a.id) == [model.JOB_ENQUEUED, model.JOB_MOVED]


def test_move_queue_moves_every_waiting_job_of_a_queue(db: tlo_embed.Database) -> None:
    """move_queue(source, target) moves all waiting jobs of source, not running ones."""
    jobs = [db.enqueue("noop", queue="src") for _ in range(3)]
    other = db.enqueue("noop", queue="keep")
    queue_of(db).claim(MAIN, "w", ["src"], 1, 30)
    assert db.queue.move_queue("src", "dst") == 2
    assert sorted(j.queue for j in db.jobs(task="noop")) == ["dst", "dst", "keep", "src"]
    assert db.queue.move_queue("empty", "dst") == 0
    assert db.job(other).queue == "keep" and len(jobs) == 3


def test_reschedule_by_delay_eta_and_priority(db: tlo_embed.Database,
                                              clock: tlo_embed.FixedClock) -> None:
    """reschedule() sets run_at (delay, datetime, epoch) and priority; peek order follows."""
    a = db.enqueue("noop")
    b = db.enqueue("noop")
    assert [j.id for j in db.queue.peek()] == [a.id, b.id]
    db.queue.reschedule(a.id, delay=10)
    assert db.job(a).run_at_us == START_US + 10 * US
    assert [j.id for j in db.queue.peek()] == [b.id, a.id]
    when = datetime.fromtimestamp(START_US / US + 20, tz=UTC)
    assert db.queue.reschedule(b.id, eta=when).run_at_us == START_US + 20 * US
    assert db.queue.reschedule(b.id, eta=START_US / US + 30).run_at_us == START_US + 30 * US
    db.queue.reschedule(b.id, priority=5)
    assert db.job(b).priority == 5
    assert [j.id for j in db.queue.peek()] == [b.id, a.id]
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.queue.reschedule(b.id, eta=datetime(2030, 1, 1))


def test_cancel_and_get(db: tlo_embed.Database) -> None:
    """cancel() cancels with a reason; get() returns the job or raises NotFoundError."""
    job = db.enqueue("noop")
    assert db.queue.cancel(job.id, "changed my mind").error == "changed my mind"
    assert db.queue.get(job.id).state == "cancelled"
    with pytest.raises(tlo_embed.NotFoundError):
        db.queue.get("missing")


def test_requeue_without_ids_requeues_every_dead_letter(db: tlo_embed.Database) -> None:
    """requeue() with no ids takes every failed job (of a queue, if given); not cancelled."""
    first = db.enqueue("once", queue="a")
    second = db.enqueue("once", queue="b")
    fail_next(db)
    fail_next(db)
    cancelled = db.enqueue("noop", queue="a")
    db.queue.cancel(cancelled.id)
    assert db.queue.requeue(queue="b") == 1
    assert db.job(second).state == "pending" and db.job(first).state == "failed"
    assert db.queue.requeue() == 1
    assert db.job(first).state == "pending"
    assert db.job(cancelled).state == "cancelled"
    assert db.queue.requeue() == 0


def test_requeue_by_id_takes_cancelled_and_blocked_jobs(db: tlo_embed.Database) -> None:
    """Given ids, requeue() also takes cancelled and blocked jobs back."""
    parent = db.enqueue("noop")
    child = db.enqueue("noop", after=[parent])
    db.queue.cancel(parent.id)
    assert db.job(child).state == "blocked"
    assert db.queue.requeue([parent.id, child.id]) == 2
    assert db.queue.requeue(parent.id) == 0
    assert (db.job(parent).state, db.job(child).state) == ("pending", "pending")


def test_requeue_leaves_a_job_blocked_while_its_parent_is_a_dead_letter(
    db: tlo_embed.Database
) -> None:
    """A blocked job whose parent is still failed is not requeued (nor counted) and
    requeue_report() names the parent; requeued with the parent, both run."""
    parent = db.enqueue("once")
    child = db.enqueue("noop", after=[parent])
    fail_next(db)
    assert db.job(child).state == "blocked"
    assert db.queue.requeue(child.id) == 0
    assert db.queue.requeue_report([child.id]) == tlo_embed.Requeued(
        requeued=(), blocked_by={child.id: parent.id}, skipped=())
    assert (db.job(child).state, types_of(db, child.id)[-1]) == ("blocked", model.JOB_BLOCKED)
    assert db.queue.requeue([child.id, parent.id]) == 2
    assert db.worker().run(until_idle=True).succeeded == 2
    assert db.job(child).state == "succeeded"


def test_a_requeued_dead_letter_runs_again(db: tlo_embed.Database) -> None:
    """A requeued job gets its attempts back and a worker runs it to success."""
    job = db.enqueue("once")
    fail_next(db)
    db.queue.requeue(job.id)
    stats = db.worker().run(until_idle=True)
    assert stats.succeeded == 1
    assert db.job(job).state == "succeeded"
    assert types_of(db, job.id) == [
        model.JOB_ENQUEUED, model.JOB_CLAIMED, model.JOB_FAILED, model.JOB_REQUEUED,
        model.JOB_CLAIMED, model.JOB_SUCCEEDED]


def test_purge_removes_waiting_jobs_of_a_queue_and_keeps_history(
    db: tlo_embed.Database,
) -> None:
    """purge(queue) removes its waiting jobs (by default) and job_history still reads them."""
    purged = db.enqueue("noop", queue="q")
    kept_elsewhere = db.enqueue("noop", queue="other")
    dead = db.enqueue("once", queue="q", priority=5)
    fail_next(db)
    assert db.queue.purge("q") == 1
    with pytest.raises(tlo_embed.NotFoundError):
        db.job(purged.id)
    assert [e.type for e in db.job_history(purged.id)] == [model.JOB_ENQUEUED, model.JOB_PURGED]
    assert db.job(kept_elsewhere).state == "pending"
    assert db.job(dead).state == "failed"
    assert db.queue.purge("q", states=["failed"]) == 1
    assert db.job_history(dead.id)[-1].type == model.JOB_PURGED
    assert db.queue.purge("q") == 0


def test_purge_of_running_jobs_is_refused(db: tlo_embed.Database) -> None:
    """Running jobs cannot be purged: InvalidArgumentError, nothing written."""
    db.enqueue("noop")
    queue_of(db).claim(MAIN, "w", None, 1, 30)
    seq = db.last_seq
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.queue.purge("default", states=["pending", "running"])
    assert db.last_seq == seq
