"""The queue as a state machine (hypothesis): no job is lost or duplicated, and states move
only along the allowed transitions, whatever mix of enqueues, claims by two workers,
heartbeats, outcomes, cancels, requeues, moves, reschedules, purges and clock moves runs.

Checked after every step, from the jobs table and from every job's recorded history:

- every enqueued id is in `jobs` exactly once, unless it was purged;
- each recorded transition is in `ALLOWED`; the state folded from the history is the table's;
- a job is claimed only once due, and only after each of its parents succeeded; a running
  job is claimed again only after its lease expired; a job succeeds at most once;
- no exclusive key has two running jobs with valid leases; dedup keys are unique among
  waiting and running jobs; attempts <= max_attempts; waiting_on counts the parents that
  have not succeeded, and each of those can still succeed (no job waits forever);
- a claim that takes fewer jobs than asked leaves no runnable job behind;
- a report from a worker that no longer holds its job raises LeaseLostError and writes
  nothing;
- at the end of each run, `db.check()` is ok (the task tables equal the fold of the journal).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import tlo_embed
from tlo_embed.tasks import model
from tlo_embed.tasks.model import Job, TaskOptions
from tlo_embed.tasks.queue import JobQueue
from tlo_embed.tasks.retry import backoff_us

from .support import MAIN, START_US, US, noop

GONE = "purged"  # pseudo-state of a purged job

#: state -> states it may move to (the documented life of a job).
ALLOWED: dict[str | None, set[str]] = {
    None: {model.PENDING},
    model.PENDING: {model.RUNNING, model.CANCELLED, model.BLOCKED, GONE},
    model.RETRYING: {model.RUNNING, model.CANCELLED, model.BLOCKED, GONE},
    # running -> running: claimed again after its lease expired;
    # running -> pending/retrying: released by a stopping worker.
    model.RUNNING: {model.SUCCEEDED, model.RETRYING, model.FAILED, model.CANCELLED,
                    model.RUNNING, model.PENDING},
    model.FAILED: {model.PENDING, GONE},
    model.CANCELLED: {model.PENDING, GONE},
    model.BLOCKED: {model.PENDING, GONE},
    model.SUCCEEDED: {GONE},
    GONE: set(),
}

OPTIONS = {
    "t": TaskOptions(retries=2, backoff=1.0, max_backoff=4.0),
    "x": TaskOptions(retries=1, backoff=0.5, max_backoff=4.0, exclusive=True),
}
WORKERS = ("w1", "w2")
QUEUE_FILTERS: list[list[str] | None] = [None, ["a"], ["b"]]
picks = st.integers(min_value=0, max_value=10**6)


class History:
    """What one job's recorded events say so far."""

    def __init__(self) -> None:
        self.version = 0
        self.state: str | None = None
        self.run_at = 0
        self.lease_until: int | None = None
        self.max_attempts = 0
        self.parents: list[str] = []
        self.successes = 0
        self.succeeded_seq: int | None = None


class QueueMachine(RuleBasedStateMachine):
    """Two fake workers and an administrator against one real file."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="tlo-queue-machine-"))
        self.clock = tlo_embed.FixedClock(now_us=START_US, step_us=0)
        self.db = tlo_embed.open(self.dir / "machine.tlo", clock=self.clock)
        for name, opts in OPTIONS.items():
            self.db.task(noop, name=name, queue="a", retries=opts.retries,
                         backoff=opts.backoff, max_backoff=opts.max_backoff,
                         exclusive=opts.exclusive)
        self.q = JobQueue(self.db.journal)
        self.ids: list[str] = []
        self.purged: set[str] = set()
        self.holds: dict[str, dict[str, int]] = {w: {} for w in WORKERS}
        self.histories: dict[str, History] = {}

    def teardown(self) -> None:
        """Check the projections against the fold once (a check per step is too slow), then
        close the file and delete the directory."""
        try:
            self.projections_equal_the_fold()
        finally:
            self.db.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Job]:
        """The jobs table, by id."""
        return {j.id: j for j in self.db.jobs()}

    def live(self) -> list[str]:
        """Ids enqueued and not purged."""
        return [i for i in self.ids if i not in self.purged]

    def pick(self, ids: list[str], n: int) -> str | None:
        """One of `ids`, or None when there are none."""
        return ids[n % len(ids)] if ids else None

    def unchanged(self, seq: int) -> None:
        """Nothing was written since `seq`."""
        assert self.db.last_seq == seq, "a refused operation wrote a turn"

    def holds_now(self, job: Job | None, worker: str, attempt: int) -> bool:
        """Whether the table says `worker` holds `job` on `attempt`."""
        return (job is not None and job.state == model.RUNNING and job.worker == worker
                and job.attempts == attempt)

    def runnable(self, job: Job, queues: list[str] | None, now: int) -> bool:
        """Whether a claim at `now` of `queues` may take `job`."""
        if queues is not None and job.queue not in queues:
            return False
        if job.state in model.WAITING:
            return job.run_at_us <= now and job.waiting_on == 0
        return (job.state == model.RUNNING and job.lease_until_us is not None
                and job.lease_until_us < now and job.attempts < job.max_attempts)

    # -- rules -----------------------------------------------------------------------------------

    @rule(task=st.sampled_from(["t", "t", "x"]), priority=st.integers(0, 3),
          delay=st.sampled_from([0.0, 0.0, 2.0, 15.0]),
          dedup=st.sampled_from([None, None, "k1", "k2"]),
          parents=st.lists(picks, max_size=2),
          exclusive=st.sampled_from([None, None, None, "e1"]),
          queue=st.sampled_from(["a", "b"]), max_attempts=st.sampled_from([None, None, 1, 2]))
    def enqueue(self, task: str, priority: int, delay: float, dedup: str | None,
                parents: list[int], exclusive: str | None, queue: str,
                max_attempts: int | None) -> None:
        """Enqueue a job, maybe delayed, deduplicated, exclusive, after earlier jobs."""
        after = [self.ids[p % len(self.ids)] for p in parents] if self.ids else []
        before = self.snapshot()
        seq = self.db.last_seq
        holder = [j for j in before.values() if dedup is not None and j.dedup_key == dedup
                  and j.state in (*model.WAITING, model.RUNNING)]
        kwargs: dict[str, Any] = {
            "priority": priority, "delay": delay, "dedup_key": dedup, "after": after,
            "exclusive_key": exclusive, "queue": queue, "max_attempts": max_attempts,
        }
        if not holder and any(p in self.purged for p in after):
            try:
                self.db.enqueue(task, {"n": len(self.ids)}, **kwargs)
            except tlo_embed.NotFoundError:
                self.unchanged(seq)
                return
            raise AssertionError("enqueue after a purged job did not raise NotFoundError")
        job = self.db.enqueue(task, {"n": len(self.ids)}, **kwargs)
        if holder:
            assert job.id == holder[0].id, "a dedup key did not return the waiting job"
            self.unchanged(seq)
            return
        assert job.id not in self.histories, "a job id was reused"
        self.ids.append(job.id)
        self.histories[job.id] = History()
        assert job.state in (model.PENDING, model.BLOCKED)

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 3),
          queues=st.sampled_from(QUEUE_FILTERS), lease=st.sampled_from([5.0, 10.0, 30.0]))
    def claim(self, worker: str, limit: int, queues: list[str] | None, lease: float) -> None:
        """A worker claims a batch under a lease."""
        before = self.snapshot()
        now = self.clock.now
        claimed = self.q.claim(MAIN, worker, queues, limit, lease)
        assert len(claimed) <= limit
        assert len({j.id for j in claimed}) == len(claimed)
        for job in claimed:
            prior = before[job.id]
            assert self.runnable(prior, queues, now), f"claimed a job not runnable: {prior}"
            assert (job.state, job.worker) == (model.RUNNING, worker)
            assert job.lease_until_us == now + int(lease * US)
            assert job.attempts == prior.attempts + 1
            self.holds[worker][job.id] = job.attempts
        if len(claimed) < limit:
            after = self.snapshot()
            held = {j.exclusive_key for j in after.values() if j.state == model.RUNNING
                    and j.exclusive_key is not None and (j.lease_until_us or 0) >= now}
            left = [j for j in after.values() if j.state in model.WAITING
                    and self.runnable(j, queues, now) and j.exclusive_key not in held]
            assert not left, f"claimed {len(claimed)} of {limit} yet left runnable {left}"

    @rule(worker=st.sampled_from(WORKERS), lease=st.sampled_from([5.0, 30.0]))
    def heartbeat(self, worker: str, lease: float) -> None:
        """A worker renews what it believes it holds; it learns what it lost."""
        holds = sorted(self.holds[worker].items())
        before = self.snapshot()
        lost = self.q.heartbeat(MAIN, worker, holds, lease)
        expected = {
            i for i, a in holds
            if not self.holds_now(before.get(i), worker, a)
            or (before[i].lease_until_us or 0) < self.clock.now  # expired: never revived
        }
        assert set(lost) == expected
        after = self.snapshot()
        for job_id, _ in holds:
            if job_id in expected:
                del self.holds[worker][job_id]
            else:
                assert after[job_id].lease_until_us == self.clock.now + int(lease * US)

    @rule(worker=st.sampled_from(WORKERS), n=picks)
    def succeed(self, worker: str, n: int) -> None:
        """A worker reports success (it may have lost the job meanwhile)."""
        job_id = self.pick(sorted(self.holds[worker]), n)
        if job_id is None:
            return
        attempt = self.holds[worker].pop(job_id)
        holding = self.holds_now(self.snapshot().get(job_id), worker, attempt)
        seq = self.db.last_seq
        try:
            done = self.q.succeed(MAIN, job_id, worker, attempt, {"by": worker}, 10)
        except tlo_embed.LeaseLostError as e:
            assert not holding, "a holder's report was refused"
            assert e.job_id == job_id
            self.unchanged(seq)
            return
        assert holding, "a report from a worker that lost the job was recorded"
        assert (done.state, done.result) == (model.SUCCEEDED, {"by": worker})

    @rule(worker=st.sampled_from(WORKERS), n=picks, retry=st.booleans())
    def fail(self, worker: str, n: int, retry: bool) -> None:
        """A worker reports a failure: a retry at the backoff, or a dead letter."""
        job_id = self.pick(sorted(self.holds[worker]), n)
        if job_id is None:
            return
        attempt = self.holds[worker].pop(job_id)
        job = self.snapshot().get(job_id)
        holding = self.holds_now(job, worker, attempt)
        seq = self.db.last_seq
        opts = OPTIONS["t"] if job is None else OPTIONS[job.task]
        try:
            done = self.q.fail(MAIN, job_id, worker, attempt, "boom", opts, 10, retry=retry)
        except tlo_embed.LeaseLostError:
            assert not holding, "a holder's report was refused"
            self.unchanged(seq)
            return
        assert holding and job is not None, "a report from a worker that lost the job counted"
        if retry and attempt < job.max_attempts:
            assert done.state == model.RETRYING
            assert done.run_at_us == self.clock.now + backoff_us(
                job_id, attempt, opts.backoff, opts.max_backoff)
        else:
            assert done.state == model.FAILED

    @rule(n=picks)
    def cancel(self, n: int) -> None:
        """The administrator cancels a job (refused once it finished)."""
        job_id = self.pick(self.live(), n)
        if job_id is None:
            return
        before = self.snapshot()[job_id]
        seq = self.db.last_seq
        if before.state in model.FINISHED:
            try:
                self.db.queue.cancel(job_id)
            except tlo_embed.InvalidArgumentError:
                self.unchanged(seq)
                return
            raise AssertionError("cancelling a finished job did not raise")
        assert self.db.queue.cancel(job_id).state == model.CANCELLED

    @rule(ns=st.lists(picks, min_size=1, max_size=3))
    def requeue(self, ns: list[int]) -> None:
        """The administrator requeues dead letters, cancelled and blocked jobs."""
        live = self.live()
        if not live:
            return
        ids = list(dict.fromkeys(live[n % len(live)] for n in ns))
        before = self.snapshot()
        seq = self.db.last_seq
        taken = {j.dedup_key for j in before.values()
                 if j.state in (*model.WAITING, model.RUNNING) and j.dedup_key is not None}
        eligible = [i for i in ids if before[i].state in (
            model.FAILED, model.CANCELLED, model.BLOCKED)]
        clash = False
        for i in eligible:
            key = before[i].dedup_key
            if key is not None:
                clash = clash or key in taken
                taken.add(key)
        try:
            done = self.q.requeue(MAIN, ids)
        except tlo_embed.TloError:
            assert clash, "requeue refused without a dedup clash"
            self.unchanged(seq)
            return
        count = len(done.requeued)
        if not clash:
            assert count + len(done.blocked_by) == len(eligible)
        after = self.snapshot()
        assert count == sum(after[i].state == model.PENDING for i in eligible)
        for job_id, parent in done.blocked_by.items():
            assert after[job_id].state == before[job_id].state, "a held-back job changed"
            assert parent in self.purged or after[parent].state in (
                model.FAILED, model.CANCELLED, model.BLOCKED), (job_id, parent)

    @rule(ns=st.lists(picks, min_size=1, max_size=3), queue=st.sampled_from(["a", "b"]))
    def move(self, ns: list[int], queue: str) -> None:
        """The administrator moves waiting jobs to another queue."""
        live = self.live()
        if not live:
            return
        ids = list(dict.fromkeys(live[n % len(live)] for n in ns))
        before = self.snapshot()
        expected = sum(before[i].state in model.WAITING and before[i].queue != queue
                       for i in ids)
        assert self.db.queue.move(ids, queue) == expected

    @rule(n=picks, delay=st.sampled_from([0.0, 1.0, 20.0]),
          priority=st.sampled_from([None, 0, 5]))
    def reschedule(self, n: int, delay: float, priority: int | None) -> None:
        """The administrator reschedules a waiting job (refused for others)."""
        job_id = self.pick(self.live(), n)
        if job_id is None:
            return
        before = self.snapshot()[job_id]
        seq = self.db.last_seq
        if before.state not in model.WAITING:
            try:
                self.db.queue.reschedule(job_id, delay=delay, priority=priority)
            except tlo_embed.InvalidArgumentError:
                self.unchanged(seq)
                return
            raise AssertionError("rescheduling a job that is not waiting did not raise")
        done = self.db.queue.reschedule(job_id, delay=delay, priority=priority)
        assert done.run_at_us == self.clock.now + int(delay * US)
        assert done.priority == (before.priority if priority is None else priority)

    @rule(ns=st.lists(picks, min_size=1, max_size=2))
    def purge(self, ns: list[int]) -> None:
        """The administrator purges jobs that are not running."""
        live = self.live()
        if not live:
            return
        ids = list(dict.fromkeys(live[n % len(live)] for n in ns))
        before = self.snapshot()
        gone = [i for i in ids if before[i].state != model.RUNNING]
        assert self.q.purge(MAIN, ids) == len(gone)
        self.purged.update(gone)

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 6.0, 11.0, 31.0]))
    def advance(self, seconds: float) -> None:
        """Time passes: delayed jobs and retries fall due, leases expire."""
        self.clock.now += int(seconds * US)

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def every_promise_holds(self) -> None:
        """All the checks below, in this order (histories first: the others read them)."""
        self.no_job_lost_or_duplicated()
        self.transitions_follow_the_rules()
        self.table_invariants_hold()

    def no_job_lost_or_duplicated(self) -> None:
        """Every enqueued id is in the table exactly once unless purged."""
        rows = self.db.jobs()
        assert len(rows) == len({j.id for j in rows}), "a job appears twice"
        assert {j.id for j in rows} == set(self.live())

    def transitions_follow_the_rules(self) -> None:
        """Every recorded transition is allowed and the folded state is the table's."""
        table = self.snapshot()
        for job_id in self.ids:
            history = self.histories[job_id]
            for event in self.db.read(model.job_stream(job_id),
                                      from_version=history.version + 1):
                self.follow(job_id, history, event)
                history.version = event.version
            if job_id in self.purged:
                assert history.state == GONE
            else:
                assert history.state == table[job_id].state, job_id

    def follow(self, job_id: str, h: History, event: tlo_embed.RecordedEvent) -> None:
        """Check one recorded event against the rules and move the history on."""
        data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
        kind = event.type
        at = event.recorded_at_us
        new: str | None
        if kind == model.JOB_ENQUEUED:
            new = model.PENDING
            h.run_at, h.max_attempts = data["run_at"], data["max_attempts"]
            h.parents = list(data.get("after") or [])
        elif kind == model.JOB_CLAIMED:
            new = model.RUNNING
            if h.state == model.RUNNING:
                assert h.lease_until is not None and at > h.lease_until, \
                    f"{job_id} claimed again before its lease expired"
            else:
                assert at >= h.run_at, f"{job_id} claimed before it was due"
            for parent in h.parents:
                done = self.histories[parent].succeeded_seq
                assert done is not None and done < event.seq, \
                    f"{job_id} ran before its parent {parent} succeeded"
            assert data["attempt"] <= h.max_attempts, f"{job_id}: attempts > max_attempts"
            h.lease_until = data["lease_until"]
        elif kind == model.JOB_HEARTBEAT:
            assert h.state == model.RUNNING
            new = h.state
            h.lease_until = data["lease_until"]
        elif kind == model.JOB_SUCCEEDED:
            new = model.SUCCEEDED
            h.successes += 1
            h.succeeded_seq = event.seq
            assert h.successes == 1, f"{job_id} succeeded twice"
        elif kind == model.JOB_FAILED:
            new = model.FAILED if data.get("retry_at") is None else model.RETRYING
            if new == model.RETRYING:
                h.run_at = data["retry_at"]
        elif kind == model.JOB_CANCELLED:
            new = model.CANCELLED
        elif kind == model.JOB_BLOCKED:
            new = model.BLOCKED
        elif kind in (model.JOB_MOVED, model.JOB_RESCHEDULED):
            assert h.state in model.WAITING, f"{kind} of a {h.state} job"
            new = h.state
            if kind == model.JOB_RESCHEDULED:
                h.run_at = data["run_at"]
        elif kind == model.JOB_REQUEUED:
            new = model.PENDING
            h.run_at = data.get("run_at", at)
        elif kind == getattr(model, "JOB_RELEASED", None):
            new = model.RETRYING if data["attempt"] > 1 else model.PENDING
        elif kind == model.JOB_PURGED:
            new = GONE
        else:
            raise AssertionError(f"unknown job event {kind}")
        if new != h.state or kind == model.JOB_CLAIMED:
            assert new in ALLOWED[h.state], f"{job_id}: {h.state} -> {new} by {kind}"
        if new != model.RUNNING:
            h.lease_until = None
        h.state = new

    def table_invariants_hold(self) -> None:
        """Exclusive keys, dedup keys, attempts and waiting_on are as promised."""
        now = self.clock.now
        jobs = self.db.jobs()
        valid = Counter(j.exclusive_key for j in jobs if j.state == model.RUNNING
                        and j.exclusive_key is not None and (j.lease_until_us or 0) >= now)
        assert all(n == 1 for n in valid.values()), f"exclusive key held twice: {valid}"
        keys = Counter(j.dedup_key for j in jobs if j.dedup_key is not None
                       and j.state in (*model.WAITING, model.RUNNING))
        assert all(n == 1 for n in keys.values()), f"dedup key twice: {keys}"
        for job in jobs:
            assert 0 <= job.attempts <= job.max_attempts, job
            if job.state in model.WAITING:
                parents = set(self.histories[job.id].parents)
                open_parents = sum(self.histories[p].succeeded_seq is None for p in parents)
                assert job.waiting_on == open_parents, (job, open_parents)
                # No job waits forever: each parent it still waits for can yet succeed.
                for parent in parents:
                    history = self.histories[parent]
                    assert history.succeeded_seq is not None or history.state in (
                        *model.WAITING, model.RUNNING), (job, parent, history.state)

    def projections_equal_the_fold(self) -> None:
        """db.check() re-folds the journal into the same task tables."""
        report = self.db.check(integrity=False)
        assert report.ok, report.problems


QueueMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.__doc__ = "The queue state machine keeps every invariant at every step."
