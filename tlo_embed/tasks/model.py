"""The task layer's vocabulary: job states, event types, streams, and the public records."""

from __future__ import annotations

import math
from typing import Any, Final

import attrs

from tlo_embed.errors import InvalidArgumentError
from tlo_embed.tasks.cron import parse_cron

# -- job states --------------------------------------------------------------------------------

PENDING: Final = "pending"        # waiting to be claimed (maybe not before run_at, or for parents)
RUNNING: Final = "running"        # claimed by a worker, under a lease
RETRYING: Final = "retrying"      # failed; waiting for its next attempt at run_at
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"          # every attempt failed: a dead letter
CANCELLED: Final = "cancelled"
BLOCKED: Final = "blocked"        # a parent failed or was cancelled; it will not run

STATES: Final = (PENDING, RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED, BLOCKED)
WAITING: Final = (PENDING, RETRYING)
FINISHED: Final = (SUCCEEDED, FAILED, CANCELLED, BLOCKED)

# -- streams and event types -------------------------------------------------------------------

TASKS_STREAM: Final = "$tasks"
JOB_STREAM_PREFIX: Final = "$job-"

TASK_REGISTERED: Final = "TaskRegistered"
TASK_REMOVED: Final = "TaskRemoved"

JOB_ENQUEUED: Final = "JobEnqueued"
JOB_CLAIMED: Final = "JobClaimed"
JOB_HEARTBEAT: Final = "JobHeartbeat"
JOB_SUCCEEDED: Final = "JobSucceeded"
JOB_FAILED: Final = "JobFailed"
JOB_CANCELLED: Final = "JobCancelled"
JOB_BLOCKED: Final = "JobBlocked"
JOB_MOVED: Final = "JobMoved"
JOB_RESCHEDULED: Final = "JobRescheduled"
JOB_REQUEUED: Final = "JobRequeued"
JOB_PURGED: Final = "JobPurged"
JOB_RELEASED: Final = "JobReleased"  # a stopping worker gave a running job back


# The scheduler's stream: schedules (next run per interval/cron task) and its lease.
SCHEDULER_STREAM: Final = "$scheduler"

SCHEDULE_SET: Final = "ScheduleSet"            # a task's schedule appeared or changed
SCHEDULE_FIRED: Final = "ScheduleFired"        # due runs were handled; next_run moved on
SCHEDULE_REMOVED: Final = "ScheduleRemoved"    # the task was removed or lost its schedule
LEASE_TAKEN: Final = "LeaseTaken"              # a holder took or renewed a named lease
LEASE_RELEASED: Final = "LeaseReleased"        # the holder gave it up

# Catch-up policies for runs of a scheduled task that fell due while no scheduler ran
# (see tlo_embed.tasks.scheduler).
CATCH_UP_SKIP: Final = "skip"
CATCH_UP_ONCE: Final = "once"
CATCH_UP_ALL: Final = "all"
CATCH_UP_POLICIES: Final = (CATCH_UP_SKIP, CATCH_UP_ONCE, CATCH_UP_ALL)


def job_stream(job_id: str) -> str:
    """The stream holding one job's history."""
    return JOB_STREAM_PREFIX + job_id


# -- public records ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TaskOptions:
    """How a task's jobs are queued and retried (see `Database.task`).

    Attributes:
        queue: the queue its jobs go to.
        priority: default priority (higher runs first).
        retries: attempts after the first one before a job is a dead letter.
        backoff: seconds before the first retry; each later retry waits twice as long, plus
            a deterministic jitter of up to 25% derived from the job id and attempt.
        max_backoff: the longest wait between attempts, in seconds.
        timeout: seconds an attempt may run before it counts as failed (None: no limit).
        exclusive: never run two of this task's jobs at once.
        cron: a cron expression (`tlo_embed.tasks.cron`): the scheduler enqueues a job at
            each fire time.
        interval: seconds between runs: the scheduler enqueues a job every `interval`
            seconds, on a fixed grid from when it first saw the task.
        catch_up: what the scheduler does with runs that fell due while it was not running:
            "skip", "once" (default) or "all" (see `tlo_embed.tasks.scheduler`).

    Raises:
        InvalidArgumentError: both `cron` and `interval`, a malformed cron expression, an
            interval that is not a positive number of seconds, or an unknown `catch_up`.
    """

    queue: str = "default"
    priority: int = 0
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 3600.0
    timeout: float | None = None
    exclusive: bool = False
    cron: str | None = None
    interval: float | None = None
    catch_up: str = CATCH_UP_ONCE

    def __attrs_post_init__(self) -> None:
        if self.cron is not None and self.interval is not None:
            msg = "give a task either cron= or interval=, not both"
            raise InvalidArgumentError(msg)
        if self.cron is not None:
            parse_cron(self.cron)
        if self.interval is not None and not (
            isinstance(self.interval, (int, float)) and not isinstance(self.interval, bool)
            and math.isfinite(self.interval)
            and round(self.interval * 1_000_000) >= 1
        ):
            msg = f"interval must be a positive number of seconds, got {self.interval!r}"
            raise InvalidArgumentError(msg)
        if self.catch_up not in CATCH_UP_POLICIES:
            msg = (
                f"catch_up must be one of {', '.join(map(repr, CATCH_UP_POLICIES))},"
                f" got {self.catch_up!r}"
            )
            raise InvalidArgumentError(msg)

    @property
    def scheduled(self) -> bool:
        """True for a task the scheduler runs (it has `cron` or `interval`)."""
        return self.cron is not None or self.interval is not None

    def to_data(self) -> dict[str, Any]:
        """The options as stored in the journal (a CBOR map)."""
        return attrs.asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TaskOptions:
        """Options read back from the journal (unknown keys from newer versions ignored)."""
        known = {f.name for f in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@attrs.frozen(kw_only=True)
class TaskInfo:
    """A registered task as stored in the file."""

    name: str
    import_path: str | None
    options: TaskOptions
    registered_at_us: int


@attrs.frozen(kw_only=True)
class Job:
    """A job as it stands (see `Database.job` and `Database.jobs`).

    Times are microseconds since the epoch (UTC); `payload` and `result` are decoded.
    """

    id: str
    task: str
    queue: str
    state: str
    priority: int
    run_at_us: int
    attempts: int
    max_attempts: int
    lease_until_us: int | None
    worker: str | None
    dedup_key: str | None
    exclusive_key: str | None
    waiting_on: int
    payload: Any
    result: Any
    error: str | None
    enqueued_at_us: int
    started_at_us: int | None
    finished_at_us: int | None
    seq: int


@attrs.frozen(kw_only=True)
class Requeued:
    """What a requeue did (see `QueueAdmin.requeue_report`).

    Attributes:
        requeued: the ids of the jobs put back in line, in the order they were requeued (a
            parent requeued in the same call goes before the jobs waiting on it).
        blocked_by: the jobs left as they were because a parent they still wait for has not
            succeeded and cannot (it failed, was cancelled, is blocked or was purged before
            it succeeded): job id -> that parent's id. Requeueing such a job would leave it
            waiting forever; requeue the parent in the same call (or first) instead.
        skipped: the other jobs left as they were: not failed, cancelled or blocked, or
            their dedup key is held by another waiting or running job.
    """

    requeued: tuple[str, ...]
    blocked_by: dict[str, str]
    skipped: tuple[str, ...]
