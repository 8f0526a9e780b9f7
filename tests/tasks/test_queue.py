"""tlo_embed/tasks/queue.py: enqueue, claim under a lease, outcomes, admin — each a turn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tlo_embed
from tlo_embed.tasks import model
from tlo_embed.tasks.model import Job, TaskOptions
from tlo_embed.tasks.queue import JobQueue, Outcome, Settled
from tlo_embed.tasks.retry import backoff_us

from .support import MAIN, START_US, US, assert_checks, still_clock, turns, types_of

OPTS = TaskOptions(retries=2, backoff=2.0, max_backoff=100.0)


class Env:
    """A database whose clock only moves when told, and its job queue."""

    def __init__(self, db: tlo_embed.Database, clock: tlo_embed.FixedClock) -> None:
        self.db = db
        self.clock = clock
        self.q = JobQueue(db.journal)

    def enqueue(self, task: str = "t", payload: object = None,
                options: TaskOptions = OPTS, **kwargs: Any) -> Job:
        """Enqueue on main."""
        return self.q.enqueue(MAIN, task, payload, options, **kwargs)

    def claim(self, worker: str = "w1", limit: int = 10, queues: list[str] | None = None,
              lease: float = 30.0) -> list[Job]:
        """Claim on main."""
        return self.q.claim(MAIN, worker, queues, limit, lease)

    def claim_one(self, worker: str = "w1", **kwargs: Any) -> Job:
        """Claim exactly one job."""
        jobs = self.claim(worker, limit=1, **kwargs)
        assert len(jobs) == 1, jobs
        return jobs[0]

    def succeed(self, job: Job, worker: str = "w1", result: object = None) -> Job:
        """Record success of the attempt `job` describes."""
        return self.q.succeed(MAIN, job.id, worker, job.attempts, result, 1)

    def fail(self, job: Job, worker: str = "w1", error: str = "boom",
             options: TaskOptions = OPTS, retry: bool = True) -> Job:
        """Record failure of the attempt `job` describes."""
        return self.q.fail(MAIN, job.id, worker, job.attempts, error, options, 1, retry=retry)

    def get(self, job: Job | str) -> Job:
        """The job as it stands."""
        found = self.q.get(MAIN, job if isinstance(job, str) else job.id)
        assert found is not None
        return found

    def advance(self, seconds: float) -> None:
        """Move the clock."""
        self.clock.now += int(seconds * US)


@pytest.fixture
def env(db_path: Path) -> Iterator[Env]:
    """A fresh file with a still clock."""
    clock = still_clock()
    db = tlo_embed.open(db_path, clock=clock)
    try:
        yield Env(db, clock)
        assert_checks(db)
    finally:
        db.close()


# -- enqueue ---------------------------------------------------------------------------------------


def test_enqueue_takes_defaults_from_the_task_options(env: Env) -> None:
    """Queue, priority and max_attempts (retries + 1) come from the options."""
    job = env.enqueue("t", {"a": 1}, TaskOptions(queue="mail", priority=3, retries=4))
    assert (job.task, job.queue, job.priority, job.max_attempts) == ("t", "mail", 3, 5)
    assert (job.state, job.attempts, job.waiting_on, job.payload) == ("pending", 0, 0, {"a": 1})
    assert job.run_at_us == job.enqueued_at_us == START_US
    assert job.exclusive_key is None and job.dedup_key is None
    assert types_of(env.db, job.id) == [model.JOB_ENQUEUED]


def test_enqueue_overrides_and_delays(env: Env) -> None:
    """Arguments override the options; delay and eta set run_at."""
    job = env.enqueue(queue="q2", priority=-1, max_attempts=7, delay=2.5,
                      exclusive_key="k", dedup_key="d")
    assert (job.queue, job.priority, job.max_attempts) == ("q2", -1, 7)
    assert job.run_at_us == START_US + 2_500_000
    assert (job.exclusive_key, job.dedup_key) == ("k", "d")
    assert env.enqueue(eta_us=START_US + 99).run_at_us == START_US + 99


def test_an_exclusive_task_uses_its_name_as_the_key(env: Env) -> None:
    """exclusive=True in the options keys the job by the task name."""
    assert env.enqueue("sweep", options=TaskOptions(exclusive=True)).exclusive_key == "sweep"


@pytest.mark.parametrize("kwargs", [{"delay": -1.0}, {"max_attempts": 0}],
                         ids=["delay", "max-attempts"])
def test_bad_enqueue_arguments_are_refused(env: Env, kwargs: dict[str, Any]) -> None:
    """A negative delay or max_attempts below 1 raises InvalidArgumentError; no turn."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        env.enqueue(**kwargs)
    assert turns(env.db) == 0


def test_a_payload_that_is_not_cbor_writes_nothing(env: Env) -> None:
    """A payload CBOR cannot encode raises CodecError and no turn or job is written."""
    with pytest.raises(tlo_embed.CodecError):
        env.enqueue(payload={"f": object()})
    assert turns(env.db) == 0
    assert env.q.find(MAIN) == []


def test_after_a_missing_job_raises_not_found_and_writes_nothing(env: Env) -> None:
    """A dependency on a job that does not exist raises NotFoundError; no turn."""
    parent = env.enqueue()
    before = turns(env.db)
    with pytest.raises(tlo_embed.NotFoundError):
        env.enqueue(after=[parent.id, "no-such-job"])
    assert turns(env.db) == before
    assert len(env.q.find(MAIN)) == 1


def test_dedup_returns_the_waiting_or_running_job(env: Env) -> None:
    """While a job with the key waits or runs, enqueueing again returns it and writes nothing."""
    first = env.enqueue(dedup_key="k")
    before = turns(env.db)
    assert env.enqueue(dedup_key="k", payload=2).id == first.id
    env.claim_one()
    assert env.enqueue(dedup_key="k").id == first.id
    assert turns(env.db) == before + 1  # the claim only
    env.succeed(env.get(first))
    second = env.enqueue(dedup_key="k")
    assert second.id != first.id and second.state == "pending"


def test_dedup_keys_are_per_key(env: Env) -> None:
    """Different keys (and no key) never collapse jobs."""
    ids = {env.enqueue(dedup_key=k).id for k in ("a", "b", None, None)}
    assert len(ids) == 4


def test_job_ids_are_unique_and_fifo_ordered_by_seq(env: Env) -> None:
    """Each enqueue is its own turn with a fresh id; seq follows enqueue order."""
    jobs = [env.enqueue() for _ in range(5)]
    assert len({j.id for j in jobs}) == 5
    assert [j.seq for j in jobs] == sorted(j.seq for j in jobs)


# -- claiming --------------------------------------------------------------------------------------


def test_claim_runs_the_job_under_a_lease(env: Env) -> None:
    """A claim marks the job running for the worker until now + lease, attempt 1."""
    env.enqueue()
    job = env.claim_one("w1", lease=12.0)
    assert (job.state, job.worker, job.attempts) == ("running", "w1", 1)
    assert job.lease_until_us == START_US + 12 * US
    assert job.started_at_us == START_US
    assert env.claim("w2") == []


def test_claim_order_is_priority_then_due_time_then_fifo(env: Env) -> None:
    """Highest priority first; among equals the earliest run_at; then enqueue order."""
    low = env.enqueue(priority=0)
    late = env.enqueue(priority=5, eta_us=START_US - 10)
    early = env.enqueue(priority=5, eta_us=START_US - 20)
    first_fifo = env.enqueue(priority=1)
    second_fifo = env.enqueue(priority=1)
    order = [env.claim_one().id for _ in range(5)]
    assert order == [early.id, late.id, first_fifo.id, second_fifo.id, low.id]


def test_claim_takes_up_to_limit_in_one_turn(env: Env) -> None:
    """A batch claim takes at most `limit` jobs, all in one turn; limit < 1 takes none."""
    for _ in range(5):
        env.enqueue()
    before = turns(env.db)
    assert len(env.claim(limit=3)) == 3
    assert turns(env.db) == before + 1
    assert env.claim(limit=0) == []
    assert len(env.claim(limit=10)) == 2


def test_claim_waits_for_the_due_time(env: Env) -> None:
    """A delayed job is not claimed before run_at, and is once the clock reaches it."""
    job = env.enqueue(delay=10)
    assert env.claim() == []
    env.advance(9.999999)
    assert env.claim() == []
    env.advance(0.000001)
    assert env.claim_one().id == job.id


def test_claim_filters_by_queue(env: Env) -> None:
    """A worker of some queues takes only their jobs."""
    a = env.enqueue(queue="a")
    b = env.enqueue(queue="b")
    assert [j.id for j in env.claim(queues=["b"])] == [b.id]
    assert [j.id for j in env.claim(queues=["a", "c"])] == [a.id]


def test_children_wait_for_parents_then_are_released(env: Env) -> None:
    """A job runs only after every parent succeeded; each success lowers waiting_on."""
    p1, p2 = env.enqueue(priority=1), env.enqueue(priority=1)
    child = env.enqueue(priority=9, after=[p1.id, p2.id])
    assert child.waiting_on == 2
    running = env.claim(limit=10)
    assert {j.id for j in running} == {p1.id, p2.id}
    env.succeed(running[0])
    assert env.get(child).waiting_on == 1
    assert env.claim() == []
    env.succeed(running[1])
    assert env.get(child).waiting_on == 0
    assert env.claim_one().id == child.id


def test_after_a_succeeded_parent_is_not_waiting(env: Env) -> None:
    """A dependency on a job that already succeeded is satisfied at once."""
    parent = env.enqueue()
    env.succeed(env.claim_one())
    child = env.enqueue(after=[parent.id])
    assert (child.waiting_on, child.state) == (0, "pending")


def test_a_parent_named_twice_is_one_dependency(env: Env) -> None:
    """after=[p, p] waits for p once: p's success releases the child."""
    parent = env.enqueue()
    child = env.enqueue(after=[parent.id, parent.id])
    env.succeed(env.claim_one())
    assert env.get(child).waiting_on == 0
    assert env.claim_one().id == child.id


def test_a_permanent_failure_blocks_the_whole_chain(env: Env) -> None:
    """A parent's dead letter blocks its children and their children, in the same turn."""
    parent = env.enqueue(max_attempts=1)
    child = env.enqueue(after=[parent.id])
    grandchild = env.enqueue(after=[child.id])
    bystander = env.enqueue(delay=100)
    dead = env.fail(env.claim_one())
    assert dead.state == "failed"
    assert env.get(child).state == env.get(grandchild).state == "blocked"
    assert env.get(bystander).state == "pending"
    seqs = {e.seq for j in (parent, child, grandchild) for e in env.db.job_history(j.id)
            if e.type in (model.JOB_FAILED, model.JOB_BLOCKED)}
    assert len(seqs) == 1
    assert child.id in (env.get(grandchild).error or "") or parent.id in (
        env.get(child).error or "")


def test_enqueue_after_a_failed_parent_is_blocked_at_once(env: Env) -> None:
    """A job whose parent already failed or was cancelled is blocked, not left waiting."""
    parent = env.enqueue()
    env.q.cancel(MAIN, parent.id)
    child = env.enqueue(after=[parent.id])
    assert child.state == "blocked"
    assert types_of(env.db, child.id) == [model.JOB_ENQUEUED, model.JOB_BLOCKED]
    grandchild = env.enqueue(after=[child.id])
    assert grandchild.state == "blocked"


def test_exclusive_key_is_never_held_by_two_running_jobs(env: Env) -> None:
    """Two jobs with one exclusive key: one runs, the other waits until it finishes."""
    first = env.enqueue(exclusive_key="x")
    second = env.enqueue(exclusive_key="x")
    other = env.enqueue(exclusive_key="y")
    claimed = env.claim(limit=10)
    assert {j.id for j in claimed} == {first.id, other.id}
    assert env.claim() == []
    env.succeed(env.get(first))
    assert env.claim_one().id == second.id


def test_a_held_exclusive_key_does_not_starve_other_jobs(env: Env) -> None:
    """Waiting jobs of a held exclusive key, however many, do not hide a runnable job."""
    env.enqueue(exclusive_key="x", priority=5)
    env.claim_one()
    for _ in range(4):
        env.enqueue(exclusive_key="x", priority=5)
    free = env.enqueue(priority=0)
    assert [j.id for j in env.claim(limit=1)] == [free.id]


# -- leases ---------------------------------------------------------------------------------------


def test_an_expired_lease_lets_another_worker_claim_the_job(env: Env) -> None:
    """After the lease runs out the job is claimable again, as attempt 2, by anyone."""
    job = env.enqueue()
    env.claim_one("w1", lease=30)
    env.advance(30)
    assert env.claim("w2") == []  # lease_until is still 'now': not yet expired
    env.advance(0.000001)
    again = env.claim_one("w2")
    assert (again.id, again.worker, again.attempts) == (job.id, "w2", 2)


def test_a_late_report_after_reclaim_is_lost_and_records_nothing(env: Env) -> None:
    """The first worker's late succeed() or fail() raises LeaseLostError; nothing recorded."""
    job = env.enqueue()
    first = env.claim_one("w1")
    env.advance(31)
    env.claim_one("w2")
    version = env.db.stream_version(model.job_stream(job.id))
    with pytest.raises(tlo_embed.LeaseLostError) as info:
        env.succeed(first, "w1", result="late")
    assert info.value.job_id == job.id
    with pytest.raises(tlo_embed.LeaseLostError):
        env.fail(first, "w1")
    assert env.db.stream_version(model.job_stream(job.id)) == version
    assert (env.get(job).state, env.get(job).worker) == ("running", "w2")


def test_a_lease_that_expires_on_the_last_attempt_fails_the_job(env: Env) -> None:
    """A job whose final attempt's lease expired becomes a dead letter (dependants blocked)."""
    job = env.enqueue(max_attempts=1)
    child = env.enqueue(after=[job.id])
    env.claim_one("w1")
    env.advance(31)
    assert env.claim("w2") == []
    dead = env.get(job)
    assert (dead.state, dead.attempts) == ("failed", 1)
    assert "lease expired" in (dead.error or "")
    assert env.get(child).state == "blocked"


def test_heartbeat_extends_the_lease(env: Env) -> None:
    """A heartbeat moves lease_until to now + lease, so the job is not reclaimed."""
    job = env.enqueue()
    held = env.claim_one("w1", lease=30)
    env.advance(20)
    assert env.q.heartbeat(MAIN, "w1", [(job.id, held.attempts)], 30) == []
    assert env.get(job).lease_until_us == START_US + 50 * US
    env.advance(20)
    assert env.claim("w2") == []
    assert types_of(env.db, job.id)[-1] == model.JOB_HEARTBEAT


def test_heartbeat_reports_jobs_no_longer_held(env: Env) -> None:
    """Reclaimed, cancelled, finished or unknown jobs come back as lost; no event for them."""
    reclaimed, cancelled, kept = env.enqueue(), env.enqueue(), env.enqueue()
    attempts = {j.id: j.attempts for j in env.claim("w1", lease=10)}
    env.advance(5)
    env.q.heartbeat(MAIN, "w1", [(kept.id, attempts[kept.id])], 30)
    env.advance(6)
    assert {j.id for j in env.claim("w2")} == {reclaimed.id, cancelled.id}
    env.q.cancel(MAIN, cancelled.id)
    holds = [(i, attempts[i]) for i in (reclaimed.id, cancelled.id, kept.id)] + [("ghost", 1)]
    lost = env.q.heartbeat(MAIN, "w1", holds, 30)
    assert sorted(lost) == sorted([reclaimed.id, cancelled.id, "ghost"])
    assert types_of(env.db, reclaimed.id).count(model.JOB_HEARTBEAT) == 0


def test_heartbeat_with_nothing_held_writes_nothing(env: Env) -> None:
    """An empty heartbeat is not a turn."""
    assert env.q.heartbeat(MAIN, "w1", [], 30) == []
    assert turns(env.db) == 0


def test_heartbeat_does_not_revive_an_expired_lease(env: Env) -> None:
    """A late heartbeat on an expired lease must not revive it past a new key holder."""
    a = env.enqueue(exclusive_key="x", queue="qa")
    b = env.enqueue(exclusive_key="x", queue="qb")
    held = env.claim_one("w1", queues=["qa"])
    env.advance(31)
    assert env.claim_one("w2", queues=["qb"]).id == b.id
    env.q.heartbeat(MAIN, "w1", [(a.id, held.attempts)], 30)
    now = env.clock.now
    valid = [j for j in env.q.find(MAIN, state="running")
             if j.exclusive_key == "x" and (j.lease_until_us or 0) >= now]
    assert len(valid) == 1, [(j.id, j.worker) for j in valid]


# -- outcomes -------------------------------------------------------------------------------------


def test_succeed_records_the_result_and_duration(env: Env) -> None:
    """succeed() stores the result and finish time; the event keeps attempt and duration."""
    job = env.enqueue()
    held = env.claim_one()
    env.advance(3)
    done = env.q.succeed(MAIN, job.id, "w1", held.attempts, {"r": [1, 2]}, 1234)
    assert (done.state, done.result, done.finished_at_us) == (
        "succeeded", {"r": [1, 2]}, START_US + 3 * US)
    assert (done.worker, done.lease_until_us) == (None, None)
    last = env.db.job_history(job.id)[-1]
    assert (last.type, last.data["attempt"], last.data["duration_us"]) == (
        model.JOB_SUCCEEDED, 1, 1234)


def test_a_result_that_is_not_cbor_is_recorded_as_a_failure(env: Env) -> None:
    """succeed() with an unencodable result records a dead letter, not a success or a crash."""
    job = env.enqueue()
    held = env.claim_one()
    done = env.succeed(held, result=object())
    assert (done.state, done.result) == ("failed", None)
    assert "result not recorded" in (done.error or "")
    assert model.JOB_SUCCEEDED not in types_of(env.db, job.id)


def test_report_records_several_outcomes_in_one_turn(env: Env) -> None:
    """report() records successes and failures together and returns lost ids apart."""
    ok, bad, gone = env.enqueue(), env.enqueue(), env.enqueue()
    held = {j.id: j.attempts for j in env.claim("w1")}
    env.q.cancel(MAIN, gone.id)
    before = turns(env.db)
    recorded, lost = env.q.report(MAIN, "w1", [
        Outcome(ok.id, held[ok.id], result=7, duration_us=5),
        Outcome(bad.id, held[bad.id], error="nope", retry=False),
        Outcome(gone.id, held[gone.id], result=1),
    ])
    assert turns(env.db) == before + 1
    assert [(j.id, j.state) for j in recorded] == [(ok.id, "succeeded"), (bad.id, "failed")]
    assert lost == [gone.id]
    assert env.q.report(MAIN, "w1", []) == ([], [])


def test_release_gives_a_running_job_back_without_using_an_attempt(env: Env) -> None:
    """A released job waits as before its claim, its attempt not counted."""
    fresh = env.enqueue()
    held = env.claim_one("w1")
    assert env.q.release(MAIN, "w1", [(fresh.id, held.attempts)], "stopping") == [fresh.id]
    back = env.get(fresh)
    assert (back.state, back.attempts, back.worker, back.lease_until_us) == (
        "pending", 0, None, None)
    again = env.claim_one("w2")
    env.fail(again, "w2", options=TaskOptions(backoff=0))
    third = env.claim_one("w2")
    assert env.q.release(MAIN, "w1", [(fresh.id, third.attempts)], "x") == []
    assert env.q.release(MAIN, "w2", [(fresh.id, third.attempts)], "x") == [fresh.id]
    assert (env.get(fresh).state, env.get(fresh).attempts) == ("retrying", 1)
    assert env.q.release(MAIN, "w2", [], "x") == []


def test_failures_retry_at_the_backoff_then_dead_letter(env: Env) -> None:
    """Each failure before the last waits backoff_us(id, attempt); the last is a dead letter."""
    job = env.enqueue()  # OPTS: 3 attempts, 2 s backoff
    for attempt in (1, 2):
        held = env.claim_one()
        assert held.attempts == attempt
        failed = env.fail(held, error=f"e{attempt}")
        assert failed.state == "retrying"
        assert failed.error == f"e{attempt}"
        wait = backoff_us(job.id, attempt, OPTS.backoff, OPTS.max_backoff)
        assert failed.run_at_us == env.clock.now + wait
        assert env.claim() == []
        env.clock.now = failed.run_at_us
    dead = env.fail(env.claim_one(), error="last")
    assert (dead.state, dead.attempts, dead.error) == ("failed", 3, "last")
    assert dead.finished_at_us == env.clock.now
    history = [e for e in env.db.job_history(job.id) if e.type == model.JOB_FAILED]
    assert [e.data["retry_at"] is None for e in history] == [False, False, True]


def test_fail_without_retry_is_a_dead_letter_at_once(env: Env) -> None:
    """fail(retry=False) dead-letters the job whatever attempts are left."""
    env.enqueue()
    assert env.fail(env.claim_one(), retry=False).state == "failed"


def test_attempts_never_exceed_max_attempts(env: Env) -> None:
    """Claims, expiries and failures keep attempts <= max_attempts."""
    job = env.enqueue(max_attempts=2)
    env.claim_one()
    env.advance(31)
    env.fail(env.claim_one("w2"), "w2", options=TaskOptions(backoff=0))
    final = env.get(job)
    assert (final.state, final.attempts, final.max_attempts) == ("failed", 2, 2)
    assert env.claim() == []


# -- administration --------------------------------------------------------------------------------


def test_cancel_a_waiting_job_blocks_its_dependants(env: Env) -> None:
    """cancel() finishes a waiting job with the reason; its dependants are blocked."""
    job = env.enqueue(delay=50)
    child = env.enqueue(after=[job.id])
    done = env.q.cancel(MAIN, job.id, "not needed")
    assert (done.state, done.error) == ("cancelled", "not needed")
    assert env.get(child).state == "blocked"


def test_cancel_a_running_job_discards_its_report(env: Env) -> None:
    """A cancelled running job's worker gets LeaseLostError when it reports."""
    env.enqueue()
    held = env.claim_one()
    env.q.cancel(MAIN, held.id)
    with pytest.raises(tlo_embed.LeaseLostError):
        env.succeed(held)
    assert env.get(held).state == "cancelled"


def test_cancel_finished_or_missing_jobs_is_refused(env: Env) -> None:
    """Cancelling a finished job raises InvalidArgumentError, an unknown one NotFoundError."""
    env.enqueue()
    done = env.succeed(env.claim_one())
    before = turns(env.db)
    with pytest.raises(tlo_embed.InvalidArgumentError):
        env.q.cancel(MAIN, done.id)
    with pytest.raises(tlo_embed.NotFoundError):
        env.q.cancel(MAIN, "nope")
    assert turns(env.db) == before


def test_move_changes_the_queue_of_waiting_jobs_only(env: Env) -> None:
    """move() moves waiting jobs to another queue and counts them; others are left alone."""
    waiting = env.enqueue(queue="a", delay=5)
    running = env.enqueue(queue="a")
    env.claim_one()
    already = env.enqueue(queue="b", delay=5)
    assert env.q.move(MAIN, [waiting.id, running.id, already.id], "b") == 1
    assert [env.get(j).queue for j in (waiting, running, already)] == ["b", "a", "b"]
    with pytest.raises(tlo_embed.InvalidArgumentError):
        env.q.move(MAIN, [waiting.id], "")
    with pytest.raises(tlo_embed.NotFoundError):
        env.q.move(MAIN, ["nope"], "c")


def test_reschedule_changes_when_and_at_which_priority(env: Env) -> None:
    """reschedule() sets run_at (delay from now or an eta) and optionally the priority."""
    job = env.enqueue(delay=100, priority=1)
    moved = env.q.reschedule(MAIN, job.id, delay=0)
    assert (moved.run_at_us, moved.priority) == (START_US, 1)
    moved = env.q.reschedule(MAIN, job.id, eta_us=START_US + 7, priority=4)
    assert (moved.run_at_us, moved.priority) == (START_US + 7, 4)
    env.q.reschedule(MAIN, job.id, delay=None)
    assert env.claim_one().id == job.id
    with pytest.raises(tlo_embed.InvalidArgumentError):
        env.q.reschedule(MAIN, job.id, delay=1)


def test_requeue_puts_dead_letters_back(env: Env) -> None:
    """Failed, cancelled and blocked jobs go back to pending with no attempts; others not."""
    dead = env.enqueue(max_attempts=1)
    env.fail(env.claim_one())
    blocked = env.enqueue(after=[dead.id])
    cancelled = env.enqueue(delay=9)
    env.q.cancel(MAIN, cancelled.id)
    pending = env.enqueue(delay=9)
    env.advance(1)
    done = env.q.requeue(MAIN, [dead.id, blocked.id, cancelled.id, pending.id])
    assert done.requeued == (dead.id, blocked.id, cancelled.id)
    assert (done.skipped, done.blocked_by) == ((pending.id,), {})
    again = env.get(dead)
    assert (again.state, again.attempts, again.error, again.run_at_us) == (
        "pending", 0, None, START_US + US)
    assert env.get(pending).run_at_us == START_US + 9 * US
    assert env.claim_one().id == dead.id


def test_requeue_does_not_break_on_a_taken_dedup_key(env: Env) -> None:
    """Requeue onto a taken dedup key is refused (TloError) or skipped, never a raw error."""
    old = env.enqueue(dedup_key="k")
    env.q.cancel(MAIN, old.id)
    new = env.enqueue(dedup_key="k")
    try:
        count = len(env.q.requeue(MAIN, [old.id]).requeued)
    except tlo_embed.TloError:
        count = 0
    assert count == 0
    assert (env.get(old).state, env.get(new).state) == ("cancelled", "pending")


def _dead_letter(env: Env) -> Job:
    """A job failed for good (its only attempt failed)."""
    job = env.enqueue(max_attempts=1)
    env.fail(env.claim_one(), retry=False)
    assert env.get(job).state == "failed"
    return job


@pytest.mark.parametrize("parent_is", ["failed", "cancelled", "blocked", "purged"])
def test_requeue_leaves_a_job_whose_parent_cannot_succeed_as_it_is(
    env: Env, parent_is: str
) -> None:
    """A blocked job whose parent is still failed, cancelled, blocked or purged is not
    requeued (it would wait forever): nothing is written for it and the result names the
    parent."""
    if parent_is == "blocked":
        grandparent = _dead_letter(env)
        parent = env.enqueue(after=[grandparent.id])
    else:
        parent = env.enqueue(delay=5)
    child = env.enqueue(after=[parent.id])
    if parent_is == "failed":
        env.advance(5)
        env.fail(env.claim_one(), retry=False)
    elif parent_is == "cancelled":
        env.q.cancel(MAIN, parent.id)
    elif parent_is == "purged":
        assert env.q.purge(MAIN, [parent.id]) == 1
    assert env.get(child).state == "blocked"
    history = types_of(env.db, child.id)
    done = env.q.requeue(MAIN, [child.id])
    assert (done.requeued, done.blocked_by, done.skipped) == ((), {child.id: parent.id}, ())
    assert env.get(child).state == "blocked"
    assert types_of(env.db, child.id) == history


def test_requeue_leaves_a_cancelled_job_whose_parent_failed_since(env: Env) -> None:
    """A job cancelled while it waited, whose parent then failed, is left cancelled."""
    parent = env.enqueue(max_attempts=1)
    child = env.enqueue(after=[parent.id])
    env.q.cancel(MAIN, child.id)
    env.fail(env.claim_one(), retry=False)
    done = env.q.requeue(MAIN, [child.id])
    assert (done.requeued, done.blocked_by) == ((), {child.id: parent.id})
    assert env.get(child).state == "cancelled"


def test_requeue_takes_a_chain_back_in_any_order(env: Env) -> None:
    """A dead letter and the jobs blocked behind it, named in one call in any order, are
    requeued parents first; the child then waits for its parent and runs after it."""
    root = _dead_letter(env)
    middle = env.enqueue(after=[root.id])
    leaf = env.enqueue(after=[middle.id])
    done = env.q.requeue(MAIN, [leaf.id, middle.id, root.id])
    assert done.requeued == (root.id, middle.id, leaf.id) and done.blocked_by == {}
    assert [(env.get(j).state, env.get(j).waiting_on) for j in (root, middle, leaf)] == [
        ("pending", 0), ("pending", 1), ("pending", 1)]
    for job in (root, middle, leaf):
        claimed = env.claim()
        assert [j.id for j in claimed] == [job.id]
        env.succeed(claimed[0])
    assert env.get(leaf).state == "succeeded"


def test_requeue_takes_a_child_whose_parent_succeeded_or_was_requeued_earlier(
    env: Env
) -> None:
    """A blocked child is requeued once its failed parent was requeued by an earlier call,
    and a parent purged after it succeeded holds nothing back; one purged before it
    succeeded does."""
    ok = env.enqueue()
    env.succeed(env.claim_one())
    bad = _dead_letter(env)
    child = env.enqueue(after=[ok.id, bad.id])
    assert env.q.purge(MAIN, [ok.id]) == 1
    assert env.q.requeue(MAIN, [bad.id]).requeued == (bad.id,)
    assert env.q.requeue(MAIN, [child.id]).requeued == (child.id,)
    assert (env.get(child).state, env.get(child).waiting_on) == ("pending", 1)
    env.q.cancel(MAIN, bad.id)
    assert env.q.purge(MAIN, [bad.id]) == 1
    assert env.get(child).state == "blocked"
    assert env.q.requeue(MAIN, [child.id]).blocked_by == {child.id: bad.id}


def test_purge_removes_jobs_but_keeps_their_history(env: Env) -> None:
    """Purged jobs leave the table; their streams are still readable; running ones stay."""
    waiting = env.enqueue(delay=5)
    running = env.enqueue()
    env.claim_one()
    assert env.q.purge(MAIN, [waiting.id, running.id]) == 1
    assert env.q.get(MAIN, waiting.id) is None
    assert types_of(env.db, waiting.id) == [model.JOB_ENQUEUED, model.JOB_PURGED]
    assert env.get(running).state == "running"
    with pytest.raises(tlo_embed.NotFoundError):
        env.q.purge(MAIN, [waiting.id])
    with pytest.raises(tlo_embed.NotFoundError):
        env.enqueue(after=[waiting.id])


def test_purging_a_parent_does_not_leave_its_children_waiting_forever(env: Env) -> None:
    """A child whose parent was purged can never be released: it must not stay pending."""
    parent = env.enqueue(delay=5)
    child = env.enqueue(after=[parent.id])
    env.q.purge(MAIN, [parent.id])
    stuck = env.get(child)
    assert not (stuck.state == "pending" and stuck.waiting_on > 0), stuck


def ids(jobs: list[Job]) -> list[str]:
    """The ids of `jobs`, in order."""
    return [j.id for j in jobs]


# -- queries --------------------------------------------------------------------------------------


def test_find_filters_by_state_task_queue_time_and_text(env: Env) -> None:
    """find() combines filters; text searches id, task, error and dedup key."""
    a = env.enqueue("alpha", queue="q1", dedup_key="welcome:a@b.c")
    env.advance(1)
    b = env.enqueue("beta", queue="q2")
    env.fail(env.claim_one(queues=["q2"]), error="kaboom", retry=False)
    ids = lambda jobs: [j.id for j in jobs]
    assert ids(env.q.find(MAIN)) == [a.id, b.id]
    assert ids(env.q.find(MAIN, state="failed")) == [b.id]
    assert ids(env.q.find(MAIN, task="alpha")) == [a.id]
    assert ids(env.q.find(MAIN, queue="q2")) == [b.id]
    assert ids(env.q.find(MAIN, since_us=START_US + 1)) == [b.id]
    assert ids(env.q.find(MAIN, until_us=START_US + 1)) == [a.id]
    assert ids(env.q.find(MAIN, text="kaboom")) == [b.id]
    assert ids(env.q.find(MAIN, text="welcome")) == [a.id]
    assert ids(env.q.find(MAIN, text=b.id[:13])) == [b.id]
    assert ids(env.q.find(MAIN, limit=1)) == [a.id]
    with pytest.raises(tlo_embed.InvalidArgumentError):
        env.q.find(MAIN, state="sleeping")


def test_next_due_and_counts(env: Env) -> None:
    """next_due_us is the earliest run_at of released waiting jobs; counts tally states."""
    assert env.q.next_due_us(MAIN, None) is None
    parent = env.enqueue(delay=30, queue="a")
    env.enqueue(after=[parent.id], queue="b")  # not released: does not count
    env.enqueue(delay=60, queue="b")
    assert env.q.next_due_us(MAIN, None) == START_US + 30 * US
    assert env.q.next_due_us(MAIN, ["b"]) == START_US + 60 * US
    assert env.q.next_due_us(MAIN, ["c"]) is None
    env.q.cancel(MAIN, parent.id)
    assert env.q.counts(MAIN) == {"cancelled": 1, "blocked": 1, "pending": 1}


# -- what the calls return ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "kwargs"),
    [
        (None, {}),
        ({"t": (1, "two"), "b": b"\x00", "f": 1.5}, {}),  # a tuple comes back as a list
        ([1, 2], {"priority": 7, "delay": 5.0, "queue": "q2", "max_attempts": 9}),
        ("x", {"dedup_key": "k", "exclusive_key": "e", "eta_us": START_US + 3}),
    ],
)
def test_enqueue_returns_the_job_as_stored(env: Env, payload: object, kwargs: Any) -> None:
    """The job enqueue returns equals the job read back from the file."""
    job = env.enqueue("t", payload, **kwargs)
    assert job == env.get(job)


def test_a_settle_turn_records_outcomes_before_it_claims(env: Env) -> None:
    """settle records outcomes and claims in one turn; the claim can take the exclusive key
    an outcome released; a report on a job not held is discarded as lost."""
    first = env.enqueue("t", 1, exclusive_key="k")
    second = env.enqueue("t", 2, exclusive_key="k")
    held = env.claim_one()
    assert held.id == first.id
    assert env.claim() == []  # the key is held
    outcomes = [Outcome(first.id, held.attempts, result="ok"),
                Outcome(second.id, 1, result="not mine")]
    before = turns(env.db)
    settled = env.q.settle(MAIN, "w1", outcomes, None, 5, 30.0)
    assert turns(env.db) - before == 1
    assert settled.states == [(first.id, "succeeded")] and settled.lost == [second.id]
    assert settled.recorded == [env.get(first)]
    assert [j.id for j in settled.claimed] == [second.id]
    assert settled.claimed[0] == env.get(second)
    assert settle_parts(env.q.settle(MAIN, "w1", [], None, 0, 30.0)) == ([], [], [], [])


def settle_parts(settled: Settled) -> tuple[list[tuple[str, str]], list[Job], list[str], list[Job]]:
    """A `Settled` as a tuple, for comparisons."""
    return settled.states, settled.recorded, settled.lost, settled.claimed


def test_settle_without_load_reports_states_only(env: Env) -> None:
    """load=False records the same and says how each job ended, without reading jobs back."""
    ok, bad, last = env.enqueue(), env.enqueue(max_attempts=2), env.enqueue(max_attempts=1)
    held = {job.id: job for job in env.claim("w1", limit=3)}
    outcomes = [Outcome(ok.id, held[ok.id].attempts, result=1),
                Outcome(bad.id, held[bad.id].attempts, error="boom"),
                Outcome(last.id, held[last.id].attempts, error="boom")]
    settled = env.q.settle(MAIN, "w1", outcomes, None, 0, 30.0, load=False)
    assert settle_parts(settled) == (
        [(ok.id, "succeeded"), (bad.id, "retrying"), (last.id, "failed")], [], [], [])
    assert [env.get(j).state for j in (ok, bad, last)] == ["succeeded", "retrying", "failed"]


def test_settle_reports_a_job_its_claim_dead_lettered(env: Env) -> None:
    """A job its claim failed for good (lease expired on the last attempt) comes back among
    settle's recorded jobs, after the outcomes, once; claim() returns only claimed jobs."""
    expiring = env.enqueue(max_attempts=1)
    env.claim_one("gone", lease=10)
    mine = env.enqueue()
    held = env.claim_one("w1", lease=60)
    assert held.id == mine.id
    env.advance(11)
    outcomes = [Outcome(mine.id, held.attempts, result="ok")]
    settled = env.q.settle(MAIN, "w1", outcomes, None, 5, 30.0)
    assert settled.states == [(mine.id, "succeeded"), (expiring.id, "failed")]
    assert [(j.id, j.state) for j in settled.recorded] == settled.states
    assert settled.recorded[1] == env.get(expiring)
    assert (settled.lost, settled.claimed) == ([], [])
    assert settle_parts(env.q.settle(MAIN, "w1", [], None, 5, 30.0)) == ([], [], [], [])
    # Without outcomes, and through claim(): the dead letter is recorded all the same.
    other = env.enqueue(max_attempts=1)
    env.claim_one("gone", lease=10)
    env.advance(11)
    assert settle_parts(env.q.settle(MAIN, "w2", [], None, 5, 30.0)) == (
        [(other.id, "failed")], [env.get(other)], [], [])
    last = env.enqueue(max_attempts=1)
    env.claim_one("gone", lease=10)
    env.advance(11)
    assert env.claim("w2") == []
    assert env.get(last).state == "failed"


def test_job_ids_are_uuid7_text() -> None:
    """A job id is the canonical text of a version-7 UUID made from the turn's time."""
    import uuid

    from tlo_embed.clock import new_event_id
    from tlo_embed.tasks.queue import _uuid_text

    raw = new_event_id(START_US)
    assert _uuid_text(raw) == str(uuid.UUID(bytes=raw))
    assert uuid.UUID(_uuid_text(raw)).version == 7
