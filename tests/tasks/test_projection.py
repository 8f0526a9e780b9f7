"""tlo_embed/tasks/projection.py: task and job events fold into tasks, jobs and job_deps."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import apsw
import pytest

import tlo_embed
from tlo_embed.codec.cbor import ENC_CBOR, decode
from tlo_embed.journal.records import RecordedEvent
from tlo_embed.store._schema import SCHEMA_SQL
from tlo_embed.tasks import model
from tlo_embed.tasks.projection import TasksApplier

from .support import US, queue_of

T0 = 1_700_000_000_000_000


class Folder:
    """A scratch database with the real schema and a TasksApplier folding events into it."""

    def __init__(self) -> None:
        self.conn = apsw.Connection(":memory:")
        self.conn.execute(SCHEMA_SQL)
        self.applier = TasksApplier()
        self._seq = itertools.count(1)

    def apply(self, stream: str, type_: str, data: Any, *, at_us: int = T0,
              branch: str = "main") -> None:
        """Fold one event recorded at `at_us` on `branch`."""
        seq = next(self._seq)
        self.applier.apply(self.conn, RecordedEvent(
            seq, 0, stream, 1, type_, data, 1, branch, None, seq.to_bytes(16, "big"), at_us))

    def job(self, job_id: str, type_: str, data: Any = None, *, at_us: int = T0) -> None:
        """Fold one event of job `job_id`."""
        self.apply(model.job_stream(job_id), type_, {} if data is None else data, at_us=at_us)

    def enqueue(self, job_id: str, *, after: list[str] | None = None, run_at: int = T0,
                **extra: Any) -> None:
        """Fold a JobEnqueued with sensible defaults."""
        data: dict[str, Any] = {
            "task": "t", "queue": "default", "priority": 0, "run_at": run_at,
            "max_attempts": 3, "dedup_key": None, "exclusive_key": None,
            "after": after or [], "payload": {"n": 1},
        }
        data.update(extra)
        self.job(job_id, model.JOB_ENQUEUED, data)

    def row(self, job_id: str) -> dict[str, Any]:
        """The job's row as a dict."""
        cursor = self.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        names = [d[0] for d in cursor.getdescription()]
        rows = list(cursor)
        assert len(rows) == 1, f"{job_id}: {len(rows)} rows"
        return dict(zip(names, rows[0]))

    def count(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """A count query's value."""
        return int(next(iter(self.conn.execute(sql, args)))[0])


@pytest.fixture
def fold() -> Iterator[Folder]:
    """A fresh scratch database to fold into."""
    f = Folder()
    yield f
    f.conn.close()


def test_applier_describes_itself() -> None:
    """It names the task tables it owns and sees every engine ("$") stream."""
    applier = TasksApplier()
    assert applier.name == "tasks"
    assert applier.stream_prefix == "$"
    assert applier.tables == ("tasks", "jobs", "job_deps", "schedules", "leases")


def test_task_registered_upserts_and_task_removed_deletes(fold: Folder) -> None:
    """TaskRegistered inserts or replaces the definition; TaskRemoved deletes it."""
    for retries, at in ((1, T0), (2, T0 + US)):
        fold.apply(model.TASKS_STREAM, model.TASK_REGISTERED, {
            "name": "t", "import_path": "m:t", "options": {"retries": retries}}, at_us=at)
    rows = list(fold.conn.execute("SELECT name, import_path, options, registered_at FROM tasks"))
    assert len(rows) == 1
    assert (rows[0][0], rows[0][1], rows[0][3]) == ("t", "m:t", T0 + US)
    assert decode(rows[0][2], ENC_CBOR) == {"retries": 2}
    fold.apply(model.TASKS_STREAM, model.TASK_REMOVED, {"name": "t"})
    assert fold.count("SELECT count(*) FROM tasks") == 0


def test_events_of_other_streams_are_ignored(fold: Folder) -> None:
    """Engine streams that are not the task layer's leave the tables alone."""
    fold.apply("$plugins", "PluginInstalled", {"name": "p"})
    fold.apply("$tasksish", model.TASK_REGISTERED, {"name": "t", "options": {}})
    assert fold.count("SELECT count(*) FROM tasks") == 0
    assert fold.count("SELECT count(*) FROM jobs") == 0


def test_job_enqueued_inserts_a_pending_row(fold: Folder) -> None:
    """JobEnqueued makes a pending row with the event's fields, times from the turn."""
    fold.enqueue("j", run_at=T0 + 5 * US, priority=7, dedup_key="d", exclusive_key="x",
                 queue="q")
    row = fold.row("j")
    assert (row["state"], row["queue"], row["priority"], row["run_at"]) == (
        "pending", "q", 7, T0 + 5 * US)
    assert (row["attempts"], row["max_attempts"], row["waiting_on"]) == (0, 3, 0)
    assert (row["dedup_key"], row["exclusive_key"]) == ("d", "x")
    assert decode(row["payload"], ENC_CBOR) == {"n": 1}
    assert (row["enqueued_at"], row["started_at"], row["finished_at"]) == (T0, None, None)
    assert row["result"] is None and row["error"] is None


def test_waiting_on_counts_parents_that_have_not_succeeded(fold: Folder) -> None:
    """A new job waits for each parent that has not succeeded; one that has is not counted."""
    fold.enqueue("done")
    fold.job("done", model.JOB_CLAIMED, {"worker": "w", "lease_until": T0 + US, "attempt": 1})
    fold.job("done", model.JOB_SUCCEEDED, {"result": None})
    fold.enqueue("open")
    fold.enqueue("child", after=["done", "open"])
    assert fold.row("child")["waiting_on"] == 1
    assert fold.count("SELECT count(*) FROM job_deps WHERE job = 'child'") == 2


def test_a_parent_named_twice_counts_once(fold: Folder) -> None:
    """after=[p, p] is one dependency: p's success releases the child (waiting_on 0)."""
    fold.enqueue("p")
    fold.enqueue("child", after=["p", "p"])
    fold.job("p", model.JOB_CLAIMED, {"worker": "w", "lease_until": T0 + US, "attempt": 1})
    fold.job("p", model.JOB_SUCCEEDED, {"result": 1})
    assert fold.row("child")["waiting_on"] == 0


def test_claim_heartbeat_and_success_fold(fold: Folder) -> None:
    """Claimed leases the job, Heartbeat moves the lease, Succeeded stores the result."""
    fold.enqueue("p")
    fold.enqueue("c", after=["p"])
    fold.job("p", model.JOB_CLAIMED, {"worker": "w1", "lease_until": T0 + 30 * US,
                                      "attempt": 1}, at_us=T0 + US)
    row = fold.row("p")
    assert (row["state"], row["worker"], row["lease_until"], row["attempts"],
            row["started_at"]) == ("running", "w1", T0 + 30 * US, 1, T0 + US)
    fold.job("p", model.JOB_HEARTBEAT, {"lease_until": T0 + 60 * US})
    assert fold.row("p")["lease_until"] == T0 + 60 * US
    fold.job("p", model.JOB_SUCCEEDED, {"result": {"ok": True}}, at_us=T0 + 2 * US)
    row = fold.row("p")
    assert (row["state"], row["worker"], row["lease_until"], row["finished_at"]) == (
        "succeeded", None, None, T0 + 2 * US)
    assert decode(row["result"], ENC_CBOR) == {"ok": True}
    assert fold.row("c")["waiting_on"] == 0


def test_failure_with_retry_at_retries_and_without_is_a_dead_letter(fold: Folder) -> None:
    """JobFailed with retry_at -> retrying at that time; with retry_at None -> failed."""
    fold.enqueue("j")
    fold.job("j", model.JOB_CLAIMED, {"worker": "w", "lease_until": T0 + US, "attempt": 1})
    fold.job("j", model.JOB_FAILED, {"error": "boom", "retry_at": T0 + 9 * US})
    row = fold.row("j")
    assert (row["state"], row["run_at"], row["error"], row["worker"], row["finished_at"]) == (
        "retrying", T0 + 9 * US, "boom", None, None)
    fold.job("j", model.JOB_CLAIMED, {"worker": "w", "lease_until": T0 + US, "attempt": 2})
    fold.job("j", model.JOB_FAILED, {"error": "again", "retry_at": None}, at_us=T0 + 3 * US)
    row = fold.row("j")
    assert (row["state"], row["error"], row["attempts"], row["finished_at"]) == (
        "failed", "again", 2, T0 + 3 * US)


def test_cancel_and_block_finish_the_job_with_a_reason(fold: Folder) -> None:
    """JobCancelled keeps the reason as the error; JobBlocked names the parent."""
    fold.enqueue("a")
    fold.enqueue("b")
    fold.job("a", model.JOB_CANCELLED, {"reason": "no longer needed"})
    fold.job("b", model.JOB_BLOCKED, {"parent": "a"})
    assert (fold.row("a")["state"], fold.row("a")["error"]) == ("cancelled", "no longer needed")
    assert fold.row("b")["state"] == "blocked"
    assert "parent a" in fold.row("b")["error"]


def test_move_and_reschedule_change_queue_time_and_priority(fold: Folder) -> None:
    """JobMoved sets the queue; JobRescheduled sets run_at and, if given, the priority."""
    fold.enqueue("j", priority=2)
    fold.job("j", model.JOB_MOVED, {"queue": "other"})
    fold.job("j", model.JOB_RESCHEDULED, {"run_at": T0 + 7 * US, "priority": None})
    row = fold.row("j")
    assert (row["queue"], row["run_at"], row["priority"]) == ("other", T0 + 7 * US, 2)
    fold.job("j", model.JOB_RESCHEDULED, {"run_at": T0, "priority": 9})
    assert fold.row("j")["priority"] == 9


def test_requeue_resets_a_dead_letter(fold: Folder) -> None:
    """JobRequeued makes a finished job pending again with no attempts, error or lease."""
    fold.enqueue("j")
    fold.job("j", model.JOB_CLAIMED, {"worker": "w", "lease_until": T0 + US, "attempt": 1})
    fold.job("j", model.JOB_FAILED, {"error": "x", "retry_at": None})
    fold.job("j", model.JOB_REQUEUED, {"run_at": T0 + 4 * US})
    row = fold.row("j")
    assert (row["state"], row["attempts"], row["run_at"], row["error"], row["finished_at"]) == (
        "pending", 0, T0 + 4 * US, None, None)


def test_purge_deletes_the_row_and_its_dependencies(fold: Folder) -> None:
    """JobPurged deletes the job and every job_deps row naming it."""
    fold.enqueue("p")
    fold.enqueue("c", after=["p"])
    fold.enqueue("g", after=["c"])
    fold.job("c", model.JOB_PURGED)
    assert fold.count("SELECT count(*) FROM jobs WHERE id = 'c'") == 0
    assert fold.count("SELECT count(*) FROM job_deps WHERE job = 'c' OR parent = 'c'") == 0
    assert fold.count("SELECT count(*) FROM jobs") == 2


def test_rows_are_kept_per_branch(fold: Folder) -> None:
    """The same job id on two branches is two rows; events touch only their branch."""
    for branch in ("main", "what-if"):
        fold.apply(model.job_stream("j"), model.JOB_ENQUEUED, {
            "task": "t", "queue": "q", "priority": 0, "run_at": T0, "max_attempts": 1,
            "after": [], "payload": None}, branch=branch)
    fold.apply(model.job_stream("j"), model.JOB_CANCELLED, {"reason": "r"}, branch="what-if")
    states = dict(fold.conn.execute("SELECT branch, state FROM jobs"))
    assert states == {"main": "pending", "what-if": "cancelled"}


def test_check_catches_a_tampered_jobs_row(db: tlo_embed.Database) -> None:
    """The jobs table is a projection: a row changed behind the engine's back is reported."""
    db.task(lambda: None, name="t")
    job = db.enqueue("t", {"x": 1})
    assert db.check().ok
    raw = apsw.Connection(db.path)
    try:
        raw.execute("UPDATE jobs SET state = 'succeeded' WHERE id = ?", (job.id,))
        raw.execute("DELETE FROM tasks")
    finally:
        raw.close()
    report = db.check()
    assert not report.ok
    assert any(p.startswith("jobs:") for p in report.problems), report.problems
    assert any(p.startswith("tasks:") for p in report.problems), report.problems


def test_a_real_queue_run_folds_to_the_same_tables(db: tlo_embed.Database) -> None:
    """Everything the queue writes re-folds to identical tables (check is ok)."""
    db.task(lambda: None, name="t")
    q = queue_of(db)
    parent = db.enqueue("t", dedup_key="d")
    db.enqueue("t", after=[parent.id])
    claimed = q.claim("main", "w", None, 1, 30.0)
    q.succeed("main", claimed[0].id, "w", 1, {"n": [1, 2.5, "x", b"y", None]}, 5)
    assert db.check().ok
