"""Worker(batch=N): batches of N jobs are claimed in one turn, and their outcomes recorded in
the turn that claims the next batch; thread and process executors hold outcomes back for a
batch, never longer than `batch_wait`."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import tlo_embed
import tlo_embed.tasks.worker
from tlo_embed.tasks import model
from .support import opened, still_clock, turns

#: A bound on waiting for something that should happen soon; only reached when it hangs.
HANG_GUARD = 30.0


def double(n: int) -> int:
    """A module-level task."""
    return n * 2


def outcome_seqs(db: tlo_embed.Database, job_ids: list[str]) -> list[int]:
    """The seq of the turn that recorded each job's success."""
    return [
        next(e.seq for e in db.job_history(i) if e.type == model.JOB_SUCCEEDED) for i in job_ids
    ]


def test_a_batch_runs_every_job_in_one_turn_per_batch(tmp_path: Path) -> None:
    """20 jobs with batch=8 take 4 turns (claim 8; record 8 + claim 8; record 8 + claim 4;
    record 4), and all succeed."""
    with opened(tmp_path / "b.tlo", still_clock()) as db:
        db.task(double)
        jobs = [db.enqueue("double", [i]) for i in range(20)]
        before = turns(db)
        stats = db.worker(batch=8).run(until_idle=True, idle_horizon=0.0)
        assert (stats.claimed, stats.succeeded) == (20, 20)
        assert turns(db) - before == 4
        assert [db.job(j.id).result for j in jobs] == [2 * i for i in range(20)]
        assert db.check().ok


def test_one_job_at_a_time_records_each_outcome_with_the_next_claim(tmp_path: Path) -> None:
    """Without batches, 5 jobs take 6 turns: a claim, then each outcome with the next claim."""
    with opened(tmp_path / "one.tlo", still_clock()) as db:
        db.task(double)
        jobs = [db.enqueue("double", [i]) for i in range(5)]
        before = turns(db)
        stats = db.worker().run(until_idle=True, idle_horizon=0.0)
        assert stats.succeeded == 5
        assert turns(db) - before == 6
        for job in jobs:
            claimed, done = (e for e in db.job_history(job.id) if e.type != model.JOB_ENQUEUED)
            assert (claimed.type, done.type) == (model.JOB_CLAIMED, model.JOB_SUCCEEDED)
        seqs = outcome_seqs(db, [j.id for j in jobs])
        claims = [next(e.seq for e in db.job_history(j.id) if e.type == model.JOB_CLAIMED)
                  for j in jobs]
        assert claims[1:] == seqs[:-1]  # each outcome shares its turn with the next claim
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
        assert db.check().ok


def test_thread_batches_record_their_outcomes_together(tmp_path: Path) -> None:
    """batch=4 on 4 threads: 8 jobs take 3 turns, each batch's 4 outcomes in one turn."""
    barrier = threading.Barrier(4, timeout=HANG_GUARD)

    def meet(n: int) -> int:
        barrier.wait()  # the 4 jobs of a batch finish together
        return n

    with opened(tmp_path / "t.tlo", still_clock()) as db:
        db.task(meet)
        jobs = [db.enqueue("meet", [i]) for i in range(8)]
        before = turns(db)
        worker = db.worker(executor="thread", concurrency=4, batch=4)
        worker.batch_wait = HANG_GUARD  # only a full batch (or an idle pool) is recorded
        stats = worker.run(until_idle=True, idle_horizon=0.0)
        assert (stats.claimed, stats.succeeded) == (8, 8)
        assert turns(db) - before == 3
        seqs = outcome_seqs(db, [j.id for j in jobs])
        assert len(set(seqs[:4])) == 1 and len(set(seqs[4:])) == 1
        assert db.check().ok


def test_an_outcome_is_held_back_no_longer_than_batch_wait(tmp_path: Path) -> None:
    """A finished job's outcome is recorded after batch_wait even while its batch-mate still
    runs: here the batch-mate waits for that very outcome (it would hang otherwise)."""
    recorded = threading.Event()

    def quick() -> str:
        return "quick"

    def waits() -> bool:
        return recorded.wait(HANG_GUARD)

    def hook(event: str, job: tlo_embed.Job) -> None:
        if event == "succeeded" and job.task == "quick":
            recorded.set()

    with opened(tmp_path / "w.tlo", still_clock()) as db:
        db.task(quick)
        db.task(waits)
        db.on(hook)
        first = db.enqueue("quick")
        second = db.enqueue("waits")
        worker = db.worker(executor="thread", concurrency=2, batch=2)
        worker.batch_wait = 0.05
        stats = worker.run(until_idle=True, idle_horizon=0.0)
        assert stats.succeeded == 2
        assert db.job(second.id).result is True
        quick_seq, waits_seq = outcome_seqs(db, [first.id, second.id])
        assert quick_seq < waits_seq


def test_batch_must_be_positive(tmp_path: Path) -> None:
    """batch below 1 is refused, for every executor."""
    with opened(tmp_path / "r.tlo", still_clock()) as db:
        with pytest.raises(tlo_embed.InvalidArgumentError):
            db.worker(batch=0)
        with pytest.raises(tlo_embed.InvalidArgumentError):
            db.worker(executor="thread", concurrency=2, batch=0)


def test_a_worker_stopped_past_its_grace_records_held_outcomes_first(tmp_path: Path) -> None:
    """Stopping past the grace period records the outcome held back for a batch and
    releases only the job still running."""
    quick_done = threading.Event()
    let_go = threading.Event()

    def quick() -> str:
        quick_done.set()
        return "quick"

    def slow() -> bool:
        return let_go.wait(HANG_GUARD)

    with opened(tmp_path / "g.tlo", still_clock()) as db:
        db.task(quick)
        db.task(slow)
        first = db.enqueue("quick")
        second = db.enqueue("slow")
        worker = db.worker(executor="thread", concurrency=2, batch=2, grace=0.0)
        worker.batch_wait = HANG_GUARD
        out: list[tlo_embed.tasks.worker.WorkerStats] = []
        thread = threading.Thread(target=lambda: out.append(worker.run()), daemon=True)
        thread.start()
        assert quick_done.wait(HANG_GUARD)
        time.sleep(0.3)  # quick returns right after setting the event
        # quick's outcome is held back for its batch while slow runs.
        assert db.job(first.id).state == "running"
        worker.stop()
        thread.join(HANG_GUARD)
        let_go.set()
        assert not thread.is_alive()
        stats = out[0]
        assert (stats.succeeded, stats.released, stats.interrupted) == (1, 1, True)
        assert db.job(first.id).state == "succeeded"
        assert db.job(second.id).state == "pending"
        assert db.check().ok
