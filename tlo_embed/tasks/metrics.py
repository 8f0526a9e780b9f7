"""Queue metrics: job counts, throughput and latency percentiles (what `tlo stats` prints).

Counts come from the `jobs` table (jobs as they stand). Everything about time comes from the
journal: each job's `$job-<id>` stream records when it was enqueued, claimed and finished, and
the worker's measured `duration_us` of every attempt. Folding those events gives, per job:

- **queue wait**: claim time minus the time the job became due (enqueued, or its `run_at` if
  later; a retry's backoff time; a reschedule, requeue or release time; the expiry of a lost
  lease). Time spent waiting for parent jobs counts as queue wait.
- **run time**: the `duration_us` of each attempt (successful or not) the worker measured.
  A failure recorded because a lease expired measured nothing and gives no sample.
- **end to end**: finish time (success, or the last failed attempt) minus the time the job
  entered the queue (its enqueue, or its latest requeue).

A sample belongs to the time range when the event that ends it does (the claim, the outcome).
Percentiles are numpy's (linear interpolation), rounded to whole microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, final

import attrs

from tlo_embed.errors import InvalidArgumentError
from tlo_embed.journal.check import Progress
from tlo_embed.journal.core import Journal
from tlo_embed.journal.read import EventFilter
from tlo_embed.store import sql
from tlo_embed.tasks import model
from tlo_embed.tasks.queue import job_filter

_US: Final = 1_000_000
#: How many job events are read between two progress reports.
PROGRESS_EVERY: Final = 1000

_TYPES: Final = (
    model.JOB_ENQUEUED, model.JOB_CLAIMED, model.JOB_SUCCEEDED, model.JOB_FAILED,
    model.JOB_CANCELLED, model.JOB_BLOCKED, model.JOB_MOVED, model.JOB_RESCHEDULED,
    model.JOB_REQUEUED, model.JOB_RELEASED,
)


@attrs.frozen(kw_only=True)
class Latency:
    """A distribution of durations, in microseconds (None when there are no samples).

    Attributes:
        count: how many samples.
        min_us, max_us: the extremes.
        mean_us: the mean, rounded.
        p50_us, p90_us, p99_us: percentiles (numpy's linear interpolation), rounded.
    """

    count: int
    min_us: int | None
    mean_us: int | None
    p50_us: int | None
    p90_us: int | None
    p99_us: int | None
    max_us: int | None

    @classmethod
    def of(cls, samples: Sequence[int]) -> Latency:
        """The distribution of `samples` (microseconds)."""
        if not samples:
            return cls(count=0, min_us=None, mean_us=None, p50_us=None, p90_us=None,
                       p99_us=None, max_us=None)
        # Imported here, not at the top: numpy costs ~60 ms at import and starts a BLAS
        # thread pool, which every process opening a file (workers, the CLI) would pay for.
        import numpy as np  # noqa: PLC0415

        values = np.asarray(samples, dtype=np.int64)
        p50, p90, p99 = np.percentile(values, (50.0, 90.0, 99.0))
        return cls(
            count=len(samples), min_us=int(values.min()), mean_us=_round(float(values.mean())),
            p50_us=_round(float(p50)), p90_us=_round(float(p90)), p99_us=_round(float(p99)),
            max_us=int(values.max()),
        )


@attrs.frozen(kw_only=True)
class QueueStats:
    """Job counts, throughput and latencies (see `Database.stats`).

    Attributes:
        task, queue: the filters given (None: all).
        since_us, until_us: the time range given (None: unbounded).
        start_us, end_us: the window throughput is measured over: the range given, each
            open end replaced by the first / last job event in range (None: no events).
        counts: jobs by state, as they stand (every state listed; jobs enqueued in the
            time range, when one is given).
        by_task, by_queue: the same counts per task and per current queue.
        enqueued, started, succeeded, retried, dead, cancelled, blocked: transitions recorded
            in the time range (started counts every claim, so retries count again).
        throughput: jobs finished (succeeded or dead) per second over the window; None when
            the window is empty.
        wait, run, end_to_end: latency distributions (see the module's docstring).
        events: how many job events were read.
    """

    task: str | None
    queue: str | None
    since_us: int | None
    until_us: int | None
    start_us: int | None
    end_us: int | None
    counts: dict[str, int]
    by_task: dict[str, dict[str, int]]
    by_queue: dict[str, dict[str, int]]
    enqueued: int
    started: int
    succeeded: int
    retried: int
    dead: int
    cancelled: int
    blocked: int
    throughput: float | None
    wait: Latency
    run: Latency
    end_to_end: Latency
    events: int

    @property
    def finished(self) -> int:
        """Jobs that finished in the time range by running: succeeded plus dead."""
        return self.succeeded + self.dead

    @property
    def window_seconds(self) -> float:
        """The length of the throughput window in seconds (0 when empty)."""
        if self.start_us is None or self.end_us is None:
            return 0.0
        return max(0, self.end_us - self.start_us) / _US


def _round(value: float) -> int:
    return int(round(value))


@final
class _Track:
    """What the fold remembers about one job."""

    def __init__(self, task: str, queue: str, due_us: int, entered_us: int) -> None:
        self.task = task
        self.queue = queue
        self.due_us = due_us          # when it last became claimable
        self.entered_us = entered_us  # when it last entered the queue (enqueue, requeue)


@final
class _Fold:
    """Folds job events into samples and counters."""

    def __init__(
        self, task: str | None, queue: str | None, since_us: int | None, until_us: int | None
    ) -> None:
        self.task = task
        self.queue = queue
        self.since_us = since_us
        self.until_us = until_us
        self.jobs: dict[str, _Track] = {}
        self.waits: list[int] = []
        self.runs: list[int] = []
        self.totals: list[int] = []
        self.first_us: int | None = None
        self.last_us: int | None = None
        self.enqueued = 0
        self.started = 0
        self.succeeded = 0
        self.retried = 0
        self.dead = 0
        self.cancelled = 0
        self.blocked = 0
        self.events = 0

    def take(self, track: _Track, at_us: int) -> bool:
        """Whether an event of this job at this time falls in the filters (if so, the
        observed window widens to include it)."""
        if self.task is not None and track.task != self.task:
            return False
        if self.queue is not None and track.queue != self.queue:
            return False
        if self.since_us is not None and at_us < self.since_us:
            return False
        if self.until_us is not None and at_us >= self.until_us:
            return False
        if self.first_us is None or at_us < self.first_us:
            self.first_us = at_us
        if self.last_us is None or at_us > self.last_us:
            self.last_us = at_us
        return True

    def apply(self, job_id: str, kind: str, data: dict[str, Any], at_us: int) -> None:
        """Fold one event of job `job_id` recorded at `at_us`."""
        self.events += 1
        if kind == model.JOB_ENQUEUED:
            track = _Track(str(data["task"]), str(data["queue"]),
                           max(at_us, int(data["run_at"])), at_us)
            self.jobs[job_id] = track
            if self.take(track, at_us):
                self.enqueued += 1
            return
        found = self.jobs.get(job_id)
        if found is None:  # its enqueue is not in this branch's history
            return
        track = found
        if kind == model.JOB_CLAIMED:
            if self.take(track, at_us):
                self.started += 1
                self.waits.append(max(0, at_us - track.due_us))
            # Claimed again only if this lease expires: from then on it waits again.
            track.due_us = int(data["lease_until"])
        elif kind == model.JOB_SUCCEEDED:
            if self.take(track, at_us):
                self.succeeded += 1
                self.runs.append(int(data.get("duration_us") or 0))
                self.totals.append(max(0, at_us - track.entered_us))
        elif kind == model.JOB_FAILED:
            retry_at = data.get("retry_at")
            if self.take(track, at_us):
                duration = int(data.get("duration_us") or 0)
                if duration > 0:  # 0: the lease expired, nothing was measured
                    self.runs.append(duration)
                if retry_at is None:
                    self.dead += 1
                    self.totals.append(max(0, at_us - track.entered_us))
                else:
                    self.retried += 1
            if retry_at is not None:
                track.due_us = int(retry_at)
        elif kind == model.JOB_CANCELLED:
            if self.take(track, at_us):
                self.cancelled += 1
        elif kind == model.JOB_BLOCKED:
            if self.take(track, at_us):
                self.blocked += 1
        elif kind == model.JOB_MOVED:
            track.queue = str(data["queue"])
        elif kind == model.JOB_RESCHEDULED:
            track.due_us = int(data["run_at"])
        elif kind == model.JOB_RELEASED:  # a stopping worker gave it back: it waits again
            track.due_us = at_us
        elif kind == model.JOB_REQUEUED:
            track.due_us = int(data.get("run_at") or at_us)
            track.entered_us = at_us


def _empty_counts() -> dict[str, int]:
    return {state: 0 for state in model.STATES}


def job_counts(
    journal: Journal,
    branch: str,
    *,
    task: str | None = None,
    queue: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Jobs by state: in total, per task and per queue (from the `jobs` table).

    Returns:
        (counts, by_task, by_queue); every state appears in each map, with 0 if need be.
    """
    where, args = job_filter(
        branch, task=task, queue=queue, since_us=since_us, until_us=until_us
    )
    counts = _empty_counts()
    by_task: dict[str, dict[str, int]] = {}
    by_queue: dict[str, dict[str, int]] = {}
    rows = sql.rows(
        journal.store.connection(),
        f"SELECT task, queue, state, count(*) FROM jobs WHERE {' AND '.join(where)}"
        " GROUP BY task, queue, state ORDER BY task, queue, state",
        args,
    )
    for row in rows:
        task_name, queue_name, state, n = str(row[0]), str(row[1]), str(row[2]), int(row[3])
        counts[state] = counts.get(state, 0) + n
        per_task = by_task.setdefault(task_name, _empty_counts())
        per_task[state] = per_task.get(state, 0) + n
        per_queue = by_queue.setdefault(queue_name, _empty_counts())
        per_queue[state] = per_queue.get(state, 0) + n
    return counts, by_task, by_queue


def queue_stats(
    journal: Journal,
    branch: str,
    *,
    task: str | None = None,
    queue: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    progress: Progress | None = None,
) -> QueueStats:
    """Counts, throughput and latencies of `branch`'s jobs (see `Database.stats`).

    Reads every job event of the branch's history once, in journal order.

    Args:
        task, queue: only jobs of this task / in this queue (at the time of each event).
        since_us, until_us: only events recorded in [since_us, until_us).
        progress: called as progress(seq, head_seq) every `PROGRESS_EVERY` job events.

    Raises:
        InvalidArgumentError: `until_us` is not after `since_us`.
    """
    if since_us is not None and until_us is not None and until_us <= since_us:
        msg = "the time range is empty: until must be after since"
        raise InvalidArgumentError(msg)
    counts, by_task, by_queue = job_counts(
        journal, branch, task=task, queue=queue, since_us=since_us, until_us=until_us
    )
    fold = _Fold(task, queue, since_us, until_us)
    head = journal.head(branch)
    prefix_length = len(model.JOB_STREAM_PREFIX)
    events = journal.read_all(
        branch, where=EventFilter(list(_TYPES), model.JOB_STREAM_PREFIX)
    )
    for event in events:
        data = event.data
        fold.apply(event.stream[prefix_length:], event.type,
                   data if isinstance(data, dict) else {}, event.recorded_at_us)
        if progress is not None and fold.events % PROGRESS_EVERY == 0:
            progress(event.seq, head)
    if progress is not None:
        progress(head, head)
    start = since_us if since_us is not None else fold.first_us
    end = until_us if until_us is not None else fold.last_us
    throughput: float | None = None
    if start is not None and end is not None and end > start:
        throughput = (fold.succeeded + fold.dead) * _US / (end - start)
    return QueueStats(
        task=task, queue=queue, since_us=since_us, until_us=until_us,
        start_us=start, end_us=end, counts=counts, by_task=by_task, by_queue=by_queue,
        enqueued=fold.enqueued, started=fold.started, succeeded=fold.succeeded,
        retried=fold.retried, dead=fold.dead, cancelled=fold.cancelled, blocked=fold.blocked,
        throughput=throughput, wait=Latency.of(fold.waits), run=Latency.of(fold.runs),
        end_to_end=Latency.of(fold.totals), events=fold.events,
    )
