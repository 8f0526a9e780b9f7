"""The task layer's projections: `tasks`, `jobs`, `job_deps`, `schedules` and `leases`,
folded from engine events.

`TasksApplier` runs in the turn of every `$tasks`, `$job-...` and `$scheduler` event (and
again, over the whole journal, in `tlo check`). It reads only the event and these tables;
times come from the turn. The queue operations and the scheduler decide *what* happens
(retry or dead letter, which children are blocked, which runs are due) and record it as
events; this module only folds them.
"""

from __future__ import annotations

from typing import Any, Final, final

import apsw

from tlo_embed.codec.cbor import dumps
from tlo_embed.journal.records import RecordedEvent
from tlo_embed.store import sql
from tlo_embed.tasks import model

_TABLES: Final = ("tasks", "jobs", "job_deps", "schedules", "leases")


@final
class TasksApplier:
    """Applies task and job events to the task tables."""

    @property
    def name(self) -> str:
        """A short name for reports."""
        return "tasks"

    @property
    def stream_prefix(self) -> str:
        """`$tasks` and every `$job-...` stream."""
        return "$"

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables this applier owns."""
        return _TABLES

    def apply(self, conn: apsw.Connection, event: RecordedEvent) -> None:
        """Fold one event into the tables."""
        if event.stream == model.TASKS_STREAM:
            self._task(conn, event)
        elif event.stream.startswith(model.JOB_STREAM_PREFIX):
            self._job(conn, event, event.stream[len(model.JOB_STREAM_PREFIX):])
        elif event.stream == model.SCHEDULER_STREAM:
            self._scheduler(conn, event)

    # -- tasks ---------------------------------------------------------------------------------

    def _task(self, conn: apsw.Connection, event: RecordedEvent) -> None:
        data: dict[str, Any] = event.data
        if event.type == model.TASK_REGISTERED:
            conn.execute(
                "INSERT INTO tasks (branch, name, import_path, options, registered_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (branch, name) DO UPDATE SET"
                " import_path = excluded.import_path, options = excluded.options,"
                " registered_at = excluded.registered_at",
                (event.branch, data["name"], data.get("import_path"), dumps(data["options"]),
                 event.recorded_at_us),
            )
        elif event.type == model.TASK_REMOVED:
            conn.execute(
                "DELETE FROM tasks WHERE branch = ? AND name = ?", (event.branch, data["name"])
            )

    # -- schedules and leases ------------------------------------------------------------------

    def _scheduler(self, conn: apsw.Connection, event: RecordedEvent) -> None:
        data: dict[str, Any] = event.data
        kind = event.type
        branch = event.branch
        if kind == model.SCHEDULE_FIRED:
            jobs: list[str] = list(data["jobs"])
            due: list[int] = list(data["due"])
            conn.execute(
                "UPDATE schedules SET next_run = ?, last_run = coalesce(?, last_run),"
                " last_job = coalesce(?, last_job), runs = runs + ?, updated_at = ?"
                " WHERE branch = ? AND task = ?",
                (data["next_run"], due[-1] if due else None, jobs[-1] if jobs else None,
                 len(jobs), event.recorded_at_us, branch, data["task"]),
            )
        elif kind == model.SCHEDULE_SET:
            conn.execute(
                "INSERT INTO schedules (branch, task, cron, interval_us, catch_up, next_run,"
                " last_run, last_job, runs, updated_at) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL,"
                " 0, ?) ON CONFLICT (branch, task) DO UPDATE SET cron = excluded.cron,"
                " interval_us = excluded.interval_us, catch_up = excluded.catch_up,"
                " next_run = excluded.next_run, updated_at = excluded.updated_at",
                (branch, data["task"], data.get("cron"), data.get("interval_us"),
                 data["catch_up"], data["next_run"], event.recorded_at_us),
            )
        elif kind == model.SCHEDULE_REMOVED:
            conn.execute(
                "DELETE FROM schedules WHERE branch = ? AND task = ?", (branch, data["task"])
            )
        elif kind == model.LEASE_TAKEN:
            conn.execute(
                "INSERT INTO leases (branch, name, holder, since, lease_until)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (branch, name) DO UPDATE SET"
                " holder = excluded.holder, since = excluded.since,"
                " lease_until = excluded.lease_until",
                (branch, data["name"], data["holder"], data["since"], data["until"]),
            )
        elif kind == model.LEASE_RELEASED:
            conn.execute(
                "DELETE FROM leases WHERE branch = ? AND name = ? AND holder = ?",
                (branch, data["name"], data["holder"]),
            )

    # -- jobs ----------------------------------------------------------------------------------

    def _job(self, conn: apsw.Connection, event: RecordedEvent, job_id: str) -> None:
        kind = event.type
        data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
        branch = event.branch
        now = event.recorded_at_us
        if kind == model.JOB_ENQUEUED:
            self._enqueued(conn, event, job_id, data)
        elif kind == model.JOB_CLAIMED:
            conn.execute(
                "UPDATE jobs SET state = 'running', attempts = ?, lease_until = ?, worker = ?,"
                " started_at = ? WHERE branch = ? AND id = ?",
                (data["attempt"], data["lease_until"], data["worker"], now, branch, job_id),
            )
        elif kind == model.JOB_HEARTBEAT:
            conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE branch = ? AND id = ?",
                (data["lease_until"], branch, job_id),
            )
        elif kind == model.JOB_SUCCEEDED:
            conn.execute(
                "UPDATE jobs SET state = 'succeeded', result = ?, lease_until = NULL,"
                " worker = NULL, finished_at = ? WHERE branch = ? AND id = ?",
                (dumps(data.get("result")), now, branch, job_id),
            )
            # Children wait for one parent fewer. Most jobs have none: the look-up costs
            # less than an UPDATE that changes nothing.
            if sql.value(
                conn, "SELECT 1 FROM job_deps WHERE branch = ? AND parent = ? LIMIT 1",
                (branch, job_id),
            ) is not None:
                conn.execute(
                    "UPDATE jobs SET waiting_on = waiting_on - 1 WHERE branch = ? AND id IN"
                    " (SELECT job FROM job_deps WHERE branch = ? AND parent = ?)",
                    (branch, branch, job_id),
                )
        elif kind == model.JOB_FAILED:
            retry_at = data.get("retry_at")
            if retry_at is None:
                conn.execute(
                    "UPDATE jobs SET state = 'failed', error = ?, lease_until = NULL,"
                    " worker = NULL, finished_at = ? WHERE branch = ? AND id = ?",
                    (data["error"], now, branch, job_id),
                )
            else:
                conn.execute(
                    "UPDATE jobs SET state = 'retrying', error = ?, run_at = ?,"
                    " lease_until = NULL, worker = NULL WHERE branch = ? AND id = ?",
                    (data["error"], retry_at, branch, job_id),
                )
        elif kind == model.JOB_CANCELLED:
            self._finish(conn, branch, job_id, model.CANCELLED, data.get("reason"), now)
        elif kind == model.JOB_BLOCKED:
            reason = f"parent {data.get('parent')} did not succeed"
            self._finish(conn, branch, job_id, model.BLOCKED, reason, now)
        elif kind == model.JOB_MOVED:
            conn.execute(
                "UPDATE jobs SET queue = ? WHERE branch = ? AND id = ?",
                (data["queue"], branch, job_id),
            )
        elif kind == model.JOB_RESCHEDULED:
            conn.execute(
                "UPDATE jobs SET run_at = ?, priority = coalesce(?, priority)"
                " WHERE branch = ? AND id = ?",
                (data["run_at"], data.get("priority"), branch, job_id),
            )
        elif kind == model.JOB_REQUEUED:
            conn.execute(
                "UPDATE jobs SET state = 'pending', attempts = 0, run_at = ?, error = NULL,"
                " finished_at = NULL, lease_until = NULL, worker = NULL"
                " WHERE branch = ? AND id = ?",
                (data.get("run_at", now), branch, job_id),
            )
        elif kind == model.JOB_RELEASED:
            # The interrupted attempt does not count: the job waits as it did before the claim.
            conn.execute(
                "UPDATE jobs SET attempts = ?,"
                " state = CASE WHEN ? > 0 THEN 'retrying' ELSE 'pending' END,"
                " lease_until = NULL, worker = NULL WHERE branch = ? AND id = ?",
                (data["attempt"] - 1, data["attempt"] - 1, branch, job_id),
            )
        elif kind == model.JOB_PURGED:
            conn.execute("DELETE FROM jobs WHERE branch = ? AND id = ?", (branch, job_id))
            conn.execute(
                "DELETE FROM job_deps WHERE branch = ? AND (job = ? OR parent = ?)",
                (branch, job_id, job_id),
            )

    def _enqueued(
        self, conn: apsw.Connection, event: RecordedEvent, job_id: str, data: dict[str, Any]
    ) -> None:
        branch = event.branch
        parents: list[str] = list(dict.fromkeys(data.get("after") or []))
        waiting = 0
        for parent in parents:
            conn.execute(
                "INSERT OR IGNORE INTO job_deps (branch, parent, job) VALUES (?, ?, ?)",
                (branch, parent, job_id),
            )
            state = sql.value(
                conn, "SELECT state FROM jobs WHERE branch = ? AND id = ?", (branch, parent)
            )
            if state != model.SUCCEEDED:
                waiting += 1
        conn.execute(
            "INSERT INTO jobs (branch, id, task, queue, state, priority, run_at, attempts,"
            " max_attempts, lease_until, worker, dedup_key, exclusive_key, waiting_on, payload,"
            " result, error, enqueued_at, started_at, finished_at, seq)"
            " VALUES (?, ?, ?, ?, 'pending', ?, ?, 0, ?, NULL, NULL, ?, ?, ?, ?, NULL, NULL, ?,"
            " NULL, NULL, ?)",
            (branch, job_id, data["task"], data["queue"], data["priority"], data["run_at"],
             data["max_attempts"], data.get("dedup_key"), data.get("exclusive_key"), waiting,
             dumps(data.get("payload")), event.recorded_at_us, event.seq),
        )

    def _finish(
        self, conn: apsw.Connection, branch: str, job_id: str, state: str, error: object,
        now: int,
    ) -> None:
        conn.execute(
            "UPDATE jobs SET state = ?, error = ?, lease_until = NULL, worker = NULL,"
            " finished_at = ? WHERE branch = ? AND id = ?",
            (state, None if error is None else str(error), now, branch, job_id),
        )
