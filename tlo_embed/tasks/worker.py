"""Workers: claim jobs, run them in an executor, record the outcome — each step a turn.

One loop per worker claims as many jobs as it has free slots, hands them to the executor
("inline": in the loop's own thread, for tests and scripts; "thread": a thread pool),
records each outcome (success, retry, dead letter) as it arrives, and renews the leases of
running jobs every third of the lease. A worker that dies simply stops renewing: once its
leases expire, another worker claims the jobs again, so nothing is lost.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, final

import attrs

from tlo_embed.errors import InvalidArgumentError, LeaseLostError, TloError
from tlo_embed.tasks.model import Job, TaskOptions
from tlo_embed.tasks.queue import JobQueue
from tlo_embed.tasks.registry import TaskRegistry

EXECUTORS: Final = ("inline", "thread")
_US: Final = 1_000_000

#: Hook names, called as hook(event_name, job) after the turn recording the transition.
HOOK_EVENTS: Final = ("enqueued", "started", "succeeded", "failed", "retrying", "dead")

Hook = Callable[[str, Job], None]


@attrs.frozen(kw_only=True)
class WorkerStats:
    """What one `Worker.run` did."""

    claimed: int
    succeeded: int
    retried: int
    dead: int
    lost: int
    seconds: float


def call_task(fn: Callable[..., Any], payload: Any) -> Any:
    """Call a task function with a payload: a dict as keyword arguments, a list as
    positional arguments, None as no arguments, anything else as the one argument."""
    if payload is None:
        return fn()
    if isinstance(payload, dict):
        return fn(**payload)
    if isinstance(payload, list):
        return fn(*payload)
    return fn(payload)


@final
class _Running:
    """A job handed to the executor."""

    def __init__(self, job: Job, options: TaskOptions, started: float,
                 future: concurrent.futures.Future[Any]) -> None:
        self.job = job
        self.options = options
        self.started = started
        self.future = future


def default_worker_id() -> str:
    """host:pid:random — unique per worker, readable in `tlo jobs`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@final
class Worker:
    """Runs the jobs of some queues. Create with `Database.worker(...)`.

    Args:
        queue, registry: the file's job queue and task registry.
        branch: the branch whose jobs it runs.
        queues: the queues to take jobs from (None: all).
        concurrency: how many jobs may run at once.
        executor: "inline" (run jobs in the calling thread, one at a time) or "thread".
        lease: seconds a claim lasts without renewal; the worker renews every third of it.
        poll: seconds between looks for new jobs when idle (commits in this process wake
            the worker sooner).
        hooks: callbacks hook(event, job) after each recorded transition.
    """

    def __init__(
        self,
        queue: JobQueue,
        registry: TaskRegistry,
        *,
        branch: str,
        queues: Sequence[str] | None = None,
        concurrency: int = 1,
        executor: str = "inline",
        lease: float = 30.0,
        poll: float = 0.5,
        worker_id: str | None = None,
        hooks: Sequence[Hook] = (),
    ) -> None:
        if executor not in EXECUTORS:
            msg = f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}"
            raise InvalidArgumentError(msg)
        if lease <= 0 or poll <= 0:
            msg = "lease and poll must be > 0 seconds"
            raise InvalidArgumentError(msg)
        if concurrency < 1:
            msg = f"concurrency must be >= 1, got {concurrency}"
            raise InvalidArgumentError(msg)
        if executor == "inline" and concurrency != 1:
            msg = "the inline executor runs one job at a time: use concurrency=1 or 'thread'"
            raise InvalidArgumentError(msg)
        self._queue = queue
        self._registry = registry
        self.branch = branch
        self.queues = list(queues) if queues else None
        self.concurrency = concurrency
        self.executor = executor
        self.lease = lease
        self.poll = poll
        self.worker_id = worker_id or default_worker_id()
        self._hooks = list(hooks)
        self._stop = threading.Event()
        self._claimed = 0
        self._succeeded = 0
        self._retried = 0
        self._dead = 0
        self._lost = 0

    def stop(self) -> None:
        """Ask `run` to return after the jobs in flight finish (safe from any thread)."""
        self._stop.set()

    def run(
        self,
        *,
        until_idle: bool = False,
        idle_horizon: float = 5.0,
        stop: threading.Event | None = None,
        max_jobs: int | None = None,
    ) -> WorkerStats:
        """Run jobs until told to stop.

        Args:
            until_idle: return once nothing is running and no job of the worker's queues is
                due now or within `idle_horizon` seconds (jobs delayed further are left for
                a later run; retries due soon are waited for).
            stop: return when this event is set (after the jobs in flight finish).
            max_jobs: return after claiming this many jobs.

        Returns:
            Counts of what happened.
        """
        started = time.monotonic()
        pool: concurrent.futures.ThreadPoolExecutor | None = None
        if self.executor == "thread":
            pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="tlo-worker"
            )
        running: dict[str, _Running] = {}
        last_beat = time.monotonic()
        try:
            while True:
                stopping = self._stop.is_set() or (stop is not None and stop.is_set())
                budget_left = max_jobs is None or self._claimed < max_jobs
                claimed: list[Job] = []
                if not stopping and budget_left and len(running) < self.concurrency:
                    want = self.concurrency - len(running)
                    if max_jobs is not None:
                        want = min(want, max_jobs - self._claimed)
                    claimed = self._claim(want)
                    for job in claimed:
                        running[job.id] = self._start(job, pool)
                self._collect(running)
                if time.monotonic() - last_beat >= self._beat_interval():
                    self._renew(running)
                    last_beat = time.monotonic()
                if running:
                    self._wait_any(running)
                    continue
                if claimed:
                    continue  # the jobs already finished (inline): look for more first
                if stopping or not budget_left:
                    break
                if until_idle and self._idle(idle_horizon):
                    break
                self._sleep(idle_horizon if until_idle else None)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        return WorkerStats(
            claimed=self._claimed, succeeded=self._succeeded, retried=self._retried,
            dead=self._dead, lost=self._lost, seconds=time.monotonic() - started,
        )

    # -- steps ---------------------------------------------------------------------------------

    def _beat_interval(self) -> float:
        return self.lease / 3.0

    def _claim(self, want: int) -> list[Job]:
        jobs = self._queue.claim(self.branch, self.worker_id, self.queues, want, self.lease)
        self._claimed += len(jobs)
        for job in jobs:
            self._fire("started", job)
        return jobs

    def _start(
        self, job: Job, pool: concurrent.futures.ThreadPoolExecutor | None
    ) -> _Running:
        try:
            options = self._registry.options(self.branch, job.task)
            fn = self._registry.function(self.branch, job.task)
        except TloError as e:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            future.set_exception(e)
            return _Running(job, TaskOptions(), time.monotonic(), future)
        if pool is None:
            future = concurrent.futures.Future()
            try:
                future.set_result(call_task(fn, job.payload))
            except BaseException as e:  # noqa: BLE001 - every failure is recorded
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                future.set_exception(e)
            return _Running(job, options, time.monotonic(), future)
        return _Running(job, options, time.monotonic(), pool.submit(call_task, fn, job.payload))

    def _collect(self, running: dict[str, _Running]) -> None:
        now = time.monotonic()
        for job_id in list(running):
            item = running[job_id]
            timeout = item.options.timeout
            if item.future.done():
                del running[job_id]
                self._record(item, now)
            elif timeout is not None and now - item.started > timeout:
                # A thread cannot be stopped: the attempt is failed and its result ignored.
                del running[job_id]
                self._fail(item, f"timed out after {timeout:g}s", now, retry=True)

    def _record(self, item: _Running, now: float) -> None:
        duration = int((now - item.started) * _US)
        job = item.job
        error = item.future.exception()
        if error is None:
            try:
                done = self._queue.succeed(
                    self.branch, job.id, self.worker_id, job.attempts, item.future.result(),
                    duration,
                )
            except LeaseLostError:
                self._lost += 1
                return
            except TloError as e:  # the result cannot be stored (not CBOR): a failure
                self._fail(item, f"result not recorded: {e}", now, retry=False)
                return
            self._succeeded += 1
            self._fire("succeeded", done)
            return
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        self._fail(item, text, now, retry=True)

    def _fail(self, item: _Running, error: str, now: float, *, retry: bool) -> None:
        job = item.job
        try:
            done = self._queue.fail(
                self.branch, job.id, self.worker_id, job.attempts, error, item.options,
                int((now - item.started) * _US), retry=retry,
            )
        except LeaseLostError:
            self._lost += 1
            return
        if done.state == "retrying":
            self._retried += 1
            self._fire("failed", done)
            self._fire("retrying", done)
        else:
            self._dead += 1
            self._fire("failed", done)
            self._fire("dead", done)

    def _renew(self, running: dict[str, _Running]) -> None:
        holds = [(i, r.job.attempts) for i, r in running.items()]
        if not holds:
            return
        for lost in self._queue.heartbeat(self.branch, self.worker_id, holds, self.lease):
            # Cancelled or reclaimed: whatever the job returns will be discarded.
            running.pop(lost, None)
            self._lost += 1

    def _wait_any(self, running: dict[str, _Running]) -> None:
        timeout = min(self._beat_interval(), 0.25)
        concurrent.futures.wait(
            [r.future for r in running.values()], timeout=timeout,
            return_when=concurrent.futures.FIRST_COMPLETED,
        )

    def _idle(self, horizon: float) -> bool:
        due = self._queue.next_due_us(self.branch, self.queues)
        if due is None:
            return True
        return due > self._queue.journal.now_us() + int(horizon * _US)

    def _sleep(self, horizon: float | None) -> None:
        """Wait for new turns (or a due job), at most `poll` seconds."""
        journal = self._queue.journal
        pause = self.poll
        due = self._queue.next_due_us(self.branch, self.queues)
        if due is not None:
            pause = max(0.0, min(pause, (due - journal.now_us()) / _US))
        if horizon is not None:
            pause = min(pause, horizon)
        if pause > 0:
            journal.wait_for_head(self.branch, journal.head(self.branch), pause)

    def _fire(self, event: str, job: Job) -> None:
        for hook in self._hooks:
            hook(event, job)
