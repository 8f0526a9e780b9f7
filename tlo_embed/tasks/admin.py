"""`db.queue`: administration of jobs and queues (what `tlo queue ...` does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import final

from tlo_embed.errors import InvalidArgumentError, NotFoundError
from tlo_embed.tasks.model import Job, Requeued
from tlo_embed.tasks.queue import JobQueue


def to_us(when: datetime | float) -> int:
    """An aware datetime, or seconds since the epoch, as microseconds since the epoch."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            msg = "give an aware datetime (with tzinfo), e.g. datetime.now(timezone.utc)"
            raise InvalidArgumentError(msg)
        return int(when.timestamp() * 1_000_000)
    return int(when * 1_000_000)


@final
class QueueAdmin:
    """Bulk peek, move, reschedule, cancel, requeue and purge of one branch's jobs."""

    def __init__(self, queue: JobQueue, branch: str) -> None:
        self._queue = queue
        self._branch = branch

    def peek(self, queue: str | None = None, limit: int = 20) -> list[Job]:
        """The waiting jobs (of one queue, or all) in the order workers would take them."""
        found = self._queue.find(self._branch, queue=queue, ready_order=True)
        return [j for j in found if j.state in ("pending", "retrying")][:limit]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        return self._queue.counts(self._branch)

    def cancel(self, job_id: str, reason: str = "cancelled") -> Job:
        """Cancel a waiting or running job; jobs that depend on it are blocked."""
        return self._queue.cancel(self._branch, job_id, reason)

    def move(self, job_ids: Sequence[str] | str, queue: str) -> int:
        """Move waiting jobs to `queue`; returns how many moved."""
        return self._queue.move(self._branch, _ids(job_ids), queue)

    def move_queue(self, source: str, target: str) -> int:
        """Move every waiting job of queue `source` to `target`."""
        jobs = [j.id for j in self.peek(source, limit=1 << 62)]
        return self._queue.move(self._branch, jobs, target) if jobs else 0

    def reschedule(
        self, job_id: str, *, delay: float | None = None, eta: datetime | float | None = None,
        priority: int | None = None,
    ) -> Job:
        """Run a waiting job after `delay` seconds or at `eta` (and/or at a new priority)."""
        return self._queue.reschedule(
            self._branch, job_id, delay=delay, eta_us=None if eta is None else to_us(eta),
            priority=priority,
        )

    def requeue(self, job_ids: Sequence[str] | str | None = None, *,
                queue: str | None = None) -> int:
        """Put failed (dead-lettered), cancelled or blocked jobs back in line; returns how
        many were requeued (`requeue_report` also says which, and why others were not).

        With no ids, every failed job (of `queue`, if given) is requeued. A job still
        waiting for a parent that failed, was cancelled, is blocked or was purged is left
        as it is (it would wait forever): requeue the parent with it, in the same call.
        """
        return len(self.requeue_report(job_ids, queue=queue).requeued)

    def requeue_report(self, job_ids: Sequence[str] | str | None = None, *,
                       queue: str | None = None) -> Requeued:
        """`requeue`, returning the jobs requeued and those left as they were, with why.

        Raises:
            NotFoundError: no job has one of the ids; nothing is requeued.
        """
        if job_ids is None:
            ids = [j.id for j in self._queue.find(self._branch, state="failed", queue=queue)]
        else:
            ids = _ids(job_ids)
        return self._queue.requeue(self._branch, ids) if ids else Requeued(
            requeued=(), blocked_by={}, skipped=())

    def purge(self, queue: str, *, states: Sequence[str] = ("pending", "retrying")) -> int:
        """Remove a queue's jobs in `states` from the job table (history stays in the
        journal); returns how many."""
        if "running" in states:
            msg = "running jobs cannot be purged: cancel them first"
            raise InvalidArgumentError(msg)
        ids = [j.id for j in self._queue.find(self._branch, queue=queue) if j.state in states]
        return self._queue.purge(self._branch, ids, states) if ids else 0

    def get(self, job_id: str) -> Job:
        """The job.

        Raises:
            NotFoundError: no such job.
        """
        job = self._queue.get(self._branch, job_id)
        if job is None:
            msg = f"no job {job_id!r}"
            raise NotFoundError(msg)
        return job


def _ids(job_ids: Sequence[str] | str) -> list[str]:
    return [job_ids] if isinstance(job_ids, str) else list(job_ids)
