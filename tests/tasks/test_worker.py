"""tlo_embed/tasks/worker.py: workers claim, run (inline or in threads) and record outcomes."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tlo_embed
from tlo_embed.tasks import model
from tlo_embed.tasks.process import call_task
from tlo_embed.tasks.worker import HOOK_EVENTS, Worker, default_worker_id

from .support import (
    MAIN,
    US,
    add,
    assert_checks,
    echo,
    noop,
    opened,
    queue_of,
    still_clock,
    types_of,
)

EXECUTORS = [("inline", 1), ("thread", 4)]
EXECUTOR_IDS = ["inline", "thread"]


@pytest.fixture
def clock() -> tlo_embed.FixedClock:
    """A clock that only moves when a test (or a hook) moves it."""
    return still_clock()


@pytest.fixture
def db(db_path: Path, clock: tlo_embed.FixedClock) -> Iterator[tlo_embed.Database]:
    """A fresh file, checked (projections == fold) after the test."""
    database = tlo_embed.open(db_path, clock=clock)
    try:
        yield database
        assert_checks(database)
    finally:
        database.close()


class Recorder:
    """A hook that remembers (event, job id, job state)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, event: str, job: tlo_embed.Job) -> None:
        self.calls.append((event, job.id, job.state))

    def events(self, job_id: str | None = None) -> list[str]:
        """The event names seen (for one job, if given)."""
        return [e for e, i, _ in self.calls if job_id is None or i == job_id]


def successes(db: tlo_embed.Database, job_id: str) -> int:
    """How many JobSucceeded events the job's history holds."""
    return types_of(db, job_id).count(model.JOB_SUCCEEDED)


# -- helpers of the module -----------------------------------------------------------------------


def test_call_task_maps_payloads_to_arguments() -> None:
    """dict -> keywords, list -> positional, None -> no arguments, else one argument."""
    assert call_task(add, {"a": 1, "b": 2}) == 3
    assert call_task(add, [3, 4]) == 7
    assert call_task(noop, None) is None
    assert call_task(echo, "x") == "x"
    assert call_task(echo, 5) == 5


def test_default_worker_id_names_host_pid_and_a_nonce() -> None:
    """Worker ids read host:pid:random and differ between workers."""
    first, second = default_worker_id(), default_worker_id()
    assert re.fullmatch(r".+:\d+:[0-9a-f]{6}", first)
    assert first != second


def test_hook_event_names() -> None:
    """The documented lifecycle events."""
    assert HOOK_EVENTS == ("enqueued", "started", "succeeded", "failed", "retrying", "dead")


@pytest.mark.parametrize(
    "kwargs",
    [{"executor": "fiber"}, {"lease": 0.0}, {"poll": 0.0}, {"concurrency": 0},
     {"executor": "inline", "concurrency": 2}],
    ids=["executor", "lease", "poll", "concurrency", "inline-concurrency"],
)
def test_bad_worker_options_are_refused(db: tlo_embed.Database, kwargs: dict[str, Any]) -> None:
    """Unknown executors, non-positive lease/poll/concurrency, inline with 2 raise."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.worker(**kwargs)


# -- running jobs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("executor", "concurrency"), EXECUTORS, ids=EXECUTOR_IDS)
def test_until_idle_runs_every_due_job_once(
    db: tlo_embed.Database, executor: str, concurrency: int
) -> None:
    """Every due job runs exactly once; results are stored; stats count them."""
    db.task(add)
    jobs = [db.enqueue("add", {"a": i, "b": 1}) for i in range(12)]
    stats = db.worker(executor=executor, concurrency=concurrency).run(until_idle=True)
    assert (stats.claimed, stats.succeeded, stats.retried, stats.dead, stats.lost) == (
        12, 12, 0, 0, 0)
    assert [db.job(j).result for j in jobs] == [i + 1 for i in range(12)]
    assert all(successes(db, j.id) == 1 for j in jobs)
    assert db.job(jobs[0]).worker is None


def test_two_thread_workers_on_one_handle_run_each_job_once(db: tlo_embed.Database) -> None:
    """Two workers running at once share the jobs; none is run twice or lost."""
    db.task(echo)
    jobs = [db.enqueue("echo", [i]) for i in range(30)]
    workers = [db.worker(executor="thread", concurrency=3, worker_id=f"w{i}") for i in (1, 2)]
    results: list[tlo_embed.WorkerStats] = []
    threads = [threading.Thread(target=lambda w=w: results.append(w.run(until_idle=True)))
               for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(s.succeeded for s in results) == 30
    assert all(successes(db, j.id) == 1 for j in jobs)
    assert db.queue.counts() == {"succeeded": 30}


def test_a_worker_takes_only_its_queues(db: tlo_embed.Database) -> None:
    """queues=[...] limits the worker to those queues."""
    db.task(noop, queue="fast")
    fast = db.enqueue("noop")
    slow = db.enqueue("noop", queue="slow")
    assert db.worker(queues=["fast"]).run(until_idle=True).claimed == 1
    assert (db.job(fast).state, db.job(slow).state) == ("succeeded", "pending")


def test_parents_run_before_children(db: tlo_embed.Database) -> None:
    """A worker runs a chain in dependency order, whatever the priorities."""
    order: list[int] = []

    def step(n: int) -> None:
        order.append(n)

    db.task(step)
    first = db.enqueue("step", [1], priority=0)
    second = db.enqueue("step", [2], priority=5, after=[first])
    db.enqueue("step", [3], priority=9, after=[second])
    db.worker().run(until_idle=True)
    assert order == [1, 2, 3]


def test_max_jobs_stops_after_that_many_claims(db: tlo_embed.Database) -> None:
    """run(max_jobs=n) claims n jobs and returns; the rest wait."""
    db.task(noop)
    for _ in range(5):
        db.enqueue("noop")
    assert db.worker().run(max_jobs=2).claimed == 2
    assert db.queue.counts() == {"succeeded": 2, "pending": 3}


def test_stop_before_run_returns_at_once(db: tlo_embed.Database) -> None:
    """A stopped worker claims nothing."""
    db.task(noop)
    db.enqueue("noop")
    worker = db.worker()
    worker.stop()
    assert worker.run().claimed == 0
    event = threading.Event()
    event.set()
    assert db.worker().run(stop=event).claimed == 0
    assert db.queue.counts() == {"pending": 1}


def test_stop_from_a_task_finishes_the_job_in_flight(db: tlo_embed.Database) -> None:
    """stop() during a job lets it finish and record, then run returns."""
    worker_box: list[Worker] = []

    def halt() -> str:
        worker_box[0].stop()
        return "done"

    db.task(halt)
    job = db.enqueue("halt")
    later = db.enqueue("halt")
    worker_box.append(db.worker())
    stats = worker_box[0].run()
    assert (stats.claimed, stats.succeeded) == (1, 1)
    assert (db.job(job).result, db.job(later).state) == ("done", "pending")


# -- failures and retries --------------------------------------------------------------------------


@pytest.mark.parametrize(("executor", "concurrency"), EXECUTORS, ids=EXECUTOR_IDS)
def test_a_failing_task_retries_then_is_a_dead_letter(
    db: tlo_embed.Database, executor: str, concurrency: int
) -> None:
    """Each exception is a failed attempt; after retries+1 attempts the job is failed."""

    def broken() -> None:
        raise ValueError("always")

    db.task(broken, retries=2, backoff=0)
    job = db.enqueue("broken")
    hook = Recorder()
    db.on(hook)
    stats = db.worker(executor=executor, concurrency=concurrency).run(until_idle=True)
    assert (stats.claimed, stats.retried, stats.dead, stats.succeeded) == (3, 2, 1, 0)
    dead = db.job(job)
    assert (dead.state, dead.attempts) == ("failed", 3)
    assert "ValueError: always" in (dead.error or "")
    assert hook.events(job.id) == ["started", "failed", "retrying"] * 2 + [
        "started", "failed", "dead"]


def test_a_flaky_task_succeeds_on_a_later_attempt(db: tlo_embed.Database) -> None:
    """A job that fails once and then works ends succeeded with its result."""
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first time")
        return len(calls)

    db.task(flaky, backoff=0)
    job = db.enqueue("flaky")
    stats = db.worker().run(until_idle=True)
    assert (stats.retried, stats.succeeded) == (1, 1)
    assert (db.job(job).state, db.job(job).result, db.job(job).attempts) == ("succeeded", 2, 2)


@pytest.mark.parametrize(("executor", "concurrency"), EXECUTORS, ids=EXECUTOR_IDS)
def test_a_result_that_is_not_cbor_is_a_failure_not_a_crash(
    db: tlo_embed.Database, executor: str, concurrency: int
) -> None:
    """An unencodable result fails the job (no retry); the worker carries on."""

    def weird() -> object:
        return object()

    db.task(weird)
    db.task(noop)
    bad = db.enqueue("weird")
    good = db.enqueue("noop")
    stats = db.worker(executor=executor, concurrency=concurrency).run(until_idle=True)
    assert (stats.dead, stats.succeeded) == (1, 1)
    assert db.job(bad).state == "failed"
    assert "result not recorded" in (db.job(bad).error or "")
    assert db.job(good).state == "succeeded"


def test_a_task_with_no_function_here_fails_with_task_not_found(db_path: Path) -> None:
    """A job whose function this process cannot find or import is a failed attempt."""
    clock = still_clock()

    def local() -> None:
        """Registered by one handle only, and not importable."""

    with opened(db_path, clock) as first, opened(db_path, clock) as second:
        first.task(local, retries=0)
        job = first.enqueue("local")
        stats = second.worker().run(until_idle=True)
        assert stats.dead == 1
        assert "TaskNotFoundError" in (second.job(job).error or "")


def test_a_worker_imports_a_module_level_task_by_path(db_path: Path) -> None:
    """A handle that registered nothing runs a task by its recorded import path."""
    clock = still_clock()
    with opened(db_path, clock) as app, opened(db_path, clock) as other:
        app.task(add)
        job = app.enqueue("add", [2, 40])
        assert other.worker().run(until_idle=True).succeeded == 1
        assert app.job(job).result == 42


# -- until_idle -----------------------------------------------------------------------------------


def test_until_idle_leaves_jobs_due_beyond_the_horizon(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """Nothing due within idle_horizon: run returns at once; the job waits for a later run."""
    db.task(noop)
    job = db.enqueue("noop", delay=60)
    assert db.worker().run(until_idle=True, idle_horizon=5).claimed == 0
    assert db.job(job).state == "pending"
    clock.now += 60 * US
    assert db.worker().run(until_idle=True, idle_horizon=5).succeeded == 1


def test_until_idle_waits_for_a_retry_due_within_the_horizon(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """A retry due sooner than idle_horizon is waited for and run (time moves by a hook)."""
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("not yet")
        return "ok"

    def pass_time(event: str, job: tlo_embed.Job) -> None:
        if event == "retrying":
            assert job.run_at_us - clock.now <= 2.5 * US
            clock.now = job.run_at_us

    db.task(flaky, backoff=2.0)
    db.on(pass_time)
    job = db.enqueue("flaky")
    stats = db.worker().run(until_idle=True, idle_horizon=5)
    assert (stats.claimed, stats.retried, stats.succeeded) == (2, 1, 1)
    assert db.job(job).result == "ok"


def test_until_idle_does_not_wait_for_a_retry_beyond_the_horizon(
    db: tlo_embed.Database,
) -> None:
    """A retry due later than idle_horizon is left waiting; run returns."""

    def broken() -> None:
        raise RuntimeError("no")

    db.task(broken, backoff=10.0)
    job = db.enqueue("broken")
    stats = db.worker().run(until_idle=True, idle_horizon=5)
    assert (stats.claimed, stats.retried) == (1, 1)
    assert db.job(job).state == "retrying"


# -- hooks, leases, cancellation, timeouts -------------------------------------------------------


@pytest.mark.parametrize(("executor", "concurrency"), EXECUTORS, ids=EXECUTOR_IDS)
def test_hooks_fire_after_each_recorded_transition(
    db: tlo_embed.Database, executor: str, concurrency: int
) -> None:
    """enqueued, started, succeeded fire with the job as recorded by that transition."""
    db.task(echo)
    hook = Recorder()
    assert db.on(hook) is hook
    job = db.enqueue("echo", ["hi"])
    db.worker(executor=executor, concurrency=concurrency).run(until_idle=True)
    assert [(e, s) for e, i, s in hook.calls if i == job.id] == [
        ("enqueued", "pending"), ("started", "running"), ("succeeded", "succeeded")]


@pytest.mark.parametrize(("executor", "concurrency"), EXECUTORS, ids=EXECUTOR_IDS)
def test_a_lease_expired_on_the_last_attempt_fires_dead_once(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock, executor: str, concurrency: int
) -> None:
    """The worker whose claim dead-letters a job (its last lease expired) fires failed and
    dead for it once, counts it, and the job's dependants (and theirs) are blocked."""
    db.task(noop, retries=0)
    job = db.enqueue("noop")
    child = db.enqueue("noop", after=[job])
    grandchild = db.enqueue("noop", after=[child])
    queue_of(db).claim(MAIN, "gone", None, 1, 30.0)  # a worker that then died
    clock.now += 31 * US
    hook = Recorder()
    db.on(hook)
    stats = db.worker(executor=executor, concurrency=concurrency).run(until_idle=True)
    assert hook.calls == [("failed", job.id, "failed"), ("dead", job.id, "failed")]
    assert (stats.claimed, stats.dead, stats.succeeded) == (0, 1, 0)
    dead = db.job(job)
    assert (dead.state, dead.attempts) == ("failed", 1)
    assert "lease expired" in (dead.error or "")
    assert (db.job(child).state, db.job(grandchild).state) == ("blocked", "blocked")
    again = db.worker(executor=executor, concurrency=concurrency).run(until_idle=True)
    assert (again.dead, len(hook.calls)) == (0, 2)


def test_a_job_cancelled_while_running_is_lost_not_recorded(db: tlo_embed.Database) -> None:
    """The worker's report on a job cancelled mid-run is discarded (counted as lost)."""
    box: list[str] = []

    def self_cancelling() -> str:
        db.queue.cancel(box[0], "stop it")
        return "finished anyway"

    db.task(self_cancelling)
    job = db.enqueue("self_cancelling")
    box.append(job.id)
    stats = db.worker().run(until_idle=True)
    assert (stats.claimed, stats.succeeded, stats.lost) == (1, 0, 1)
    assert (db.job(job).state, db.job(job).result) == ("cancelled", None)
    assert successes(db, job.id) == 0


def test_a_thread_worker_renews_its_leases(db: tlo_embed.Database) -> None:
    """While a job runs in a thread, the worker records heartbeats that extend its lease."""
    box: list[str] = []

    def wait_for_heartbeat() -> bool:
        for _ in range(400):
            if model.JOB_HEARTBEAT in types_of(db, box[0]):
                return True
            db.wait(db.last_seq, timeout=0.05)
        return False

    db.task(wait_for_heartbeat)
    job = db.enqueue("wait_for_heartbeat")
    box.append(job.id)
    db.worker(executor="thread", lease=0.03).run(until_idle=True)
    assert db.job(job).result is True


def test_a_thread_job_past_its_timeout_fails(db: tlo_embed.Database) -> None:
    """An attempt running longer than the task's timeout fails; its late result is ignored."""
    release = threading.Event()

    def stuck() -> str:
        release.wait(30)
        return "too late"

    def let_go(event: str, job: tlo_embed.Job) -> None:
        if event == "dead":
            release.set()

    db.task(stuck, timeout=0.05, retries=0)
    db.on(let_go)
    job = db.enqueue("stuck")
    try:
        stats = db.worker(executor="thread").run(until_idle=True)
    finally:
        release.set()
    assert (stats.dead, stats.succeeded) == (1, 0)
    assert (db.job(job).state, db.job(job).result) == ("failed", None)
    assert "timed out" in (db.job(job).error or "")


@pytest.mark.parametrize(("executor", "concurrency"), EXECUTORS, ids=EXECUTOR_IDS)
def test_the_recorded_duration_covers_the_call(
    db: tlo_embed.Database, executor: str, concurrency: int
) -> None:
    """JobSucceeded's duration_us is at least the time the task spent running."""

    def busy() -> None:
        start = time.monotonic()
        while time.monotonic() - start < 0.002:
            pass

    db.task(busy)
    job = db.enqueue("busy")
    db.worker(executor=executor, concurrency=concurrency).run(until_idle=True)
    [event] = [e for e in db.job_history(job.id) if e.type == model.JOB_SUCCEEDED]
    assert event.data["duration_us"] >= 2000


def test_worker_stats_describe_the_run(db: tlo_embed.Database) -> None:
    """run() returns WorkerStats with a non-negative duration."""
    stats = db.worker(worker_id="me").run(until_idle=True)
    assert isinstance(stats, tlo_embed.WorkerStats)
    assert (stats.claimed, stats.succeeded, stats.lost) == (0, 0, 0)
    assert stats.seconds >= 0
    assert queue_of(db).find(MAIN) == []
