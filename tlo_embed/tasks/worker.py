"""Workers: claim jobs, run them in an executor, record the outcome — each step a turn.

One loop per worker claims as many jobs as it has free slots, hands them to the executor
("inline": in the loop's own thread, for tests and scripts; "thread": a thread pool;
"process": child processes, see `tlo_embed.tasks.process`), records each outcome (success,
retry, dead letter) as it arrives, and renews the leases of running jobs every third of the
lease. A worker that dies simply stops renewing: once its leases expire, another worker
claims the jobs again, so nothing is lost.

What each executor can enforce:

- timeouts: "inline" cannot interrupt the call, but an attempt that overran is recorded as
  failed ("timed out") when it returns; "thread" fails the attempt at the deadline and
  ignores the thread, which runs on; "process" kills the child at the deadline.
- a running job cancelled, or claimed by another worker after its lease expired: every
  executor discards the job's report (the queue refuses it); "process" also kills the
  child, at the next heartbeat (a third of the lease).

Stopping: `stop()` (or the `stop` event, or the first SIGTERM/SIGINT when `run` handles
signals) stops claiming and lets running jobs finish. Jobs still running `grace` seconds
later, or at a second signal, are *released* (a `JobReleased` turn: they wait again, the
interrupted attempt not counted), so other workers take them at once rather than after
their leases expire; child processes running them are killed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, final

import attrs

from tlo_embed.errors import BusyError, InvalidArgumentError, TloError
from tlo_embed.tasks.model import Job, TaskOptions
from tlo_embed.tasks.process import ChildFailure, ProcessPool, call_task, describe
from tlo_embed.tasks.queue import JobQueue, Outcome
from tlo_embed.tasks.registry import TaskRegistry
from tlo_embed.tasks.settings import EXECUTOR_NAMES

EXECUTORS: Final = EXECUTOR_NAMES
#: Signals `Worker.run(handle_signals=True)` handles: the first stops, the second exits fast.
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
_US: Final = 1_000_000
#: The longest a finished job's outcome is held back to be recorded with others of its batch
#: (thread and process executors with batch > 1), in seconds (`Worker.batch_wait`).
BATCH_WAIT: Final = 0.05

#: Hook names, called as hook(event_name, job) after the turn recording the transition.
HOOK_EVENTS: Final = ("enqueued", "started", "succeeded", "failed", "retrying", "dead")

Hook = Callable[[str, Job], None]

_log: Final = logging.getLogger("tlo_embed")


@attrs.frozen(kw_only=True)
class WorkerStats:
    """What one `Worker.run` did.

    `dead` counts the dead letters its turns recorded, including jobs of any worker whose
    lease expired on their last attempt when one of its claims found them. `released`
    counts running jobs it gave back when it stopped before they finished;
    `interrupted` is True when it stopped that way (a second signal, or the grace period
    ran out) rather than after its jobs finished.
    """

    claimed: int
    succeeded: int
    retried: int
    dead: int
    lost: int
    seconds: float
    released: int = 0
    interrupted: bool = False


def fire_hooks(hooks: Sequence[Hook], event: str, job: Job) -> None:
    """Call each hook; a hook that raises is logged and never breaks the engine (the
    transition it reports is already committed)."""
    for hook in hooks:
        try:
            hook(event, job)
        except Exception:  # noqa: BLE001 - user code: report, do not propagate
            _log.exception("tlo_embed: hook %r raised on %s of job %s", hook, event, job.id)


@final
class _Ended:
    """An attempt that has already ended (run inline, or unable to start): what its Future
    would hold, without the lock and condition a Future is built with."""

    def __init__(self, result: Any = None, error: BaseException | None = None) -> None:
        self._result = result
        self._error = error

    def done(self) -> bool:
        """Always True."""
        return True

    def result(self) -> Any:
        """What the task returned."""
        return self._result

    def exception(self) -> BaseException | None:
        """What the task raised, or None."""
        return self._error


@final
class _Running:
    """A job handed to the executor."""

    def __init__(self, job: Job, options: TaskOptions, started: float,
                 future: concurrent.futures.Future[Any] | _Ended) -> None:
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
        executor: "inline" (run jobs in the calling thread, one at a time), "thread" or
            "process".
        lease: seconds a claim lasts without renewal; the worker renews every third of it.
        poll: seconds between looks for new jobs when idle (commits in this process wake
            the worker sooner).
        hooks: callbacks hook(event, job) after each recorded transition.
        grace: seconds running jobs may take to finish once the worker is told to stop;
            those still running then are released (default: no limit).
        batch: jobs per turn. With "inline", each claim takes up to `batch` jobs, run one
            after another; their outcomes are recorded in the turn that claims the next
            batch. With "thread" and "process", outcomes are held back until `batch` jobs
            have finished (or nothing else runs, or `batch_wait` seconds passed since the
            first of them finished), then recorded in one turn with the claims for the
            freed slots. Every executor records finished outcomes and new claims together.
        batch_wait: the longest an outcome is held back for its batch (seconds).
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
        grace: float = math.inf,
        batch: int = 1,
        batch_wait: float = BATCH_WAIT,
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
        if not grace >= 0:  # also refuses NaN
            msg = f"grace must be >= 0 seconds, got {grace}"
            raise InvalidArgumentError(msg)
        if batch < 1:
            msg = f"batch must be >= 1, got {batch}"
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
        self.grace = grace
        self.batch = batch
        self.batch_wait = batch_wait
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._signals = 0
        self._processes: ProcessPool | None = None
        self._released = 0
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
        handle_signals: bool = False,
    ) -> WorkerStats:
        """Run jobs until told to stop.

        Args:
            until_idle: return once nothing is running and no job of the worker's queues is
                due now or within `idle_horizon` seconds (jobs delayed further are left for
                a later run; retries due soon are waited for).
            stop: return when this event is set (after the jobs in flight finish).
            max_jobs: return after claiming this many jobs.
            handle_signals: while running, handle SIGTERM and SIGINT (only when called in
                the main thread; elsewhere signals are left alone). The first signal stops
                claiming and lets running jobs finish (within `grace`); the second releases
                the running jobs and returns at once. The previous handlers are restored
                when `run` returns.

        Returns:
            Counts of what happened.
        """
        started = time.monotonic()
        previous = self._install_signal_handlers() if handle_signals else {}
        pool: concurrent.futures.ThreadPoolExecutor | None = None
        if self.executor == "thread":
            pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="tlo-worker"
            )
        elif self.executor == "process":
            self._processes = ProcessPool(self.concurrency)  # children start on demand
        running: dict[str, _Running] = {}
        last_beat = time.monotonic()
        first_done: float | None = None  # when the oldest outcome held back for a batch finished
        stop_asked: float | None = None
        interrupted = False
        try:
            while True:
                stopping = self._stop.is_set() or (stop is not None and stop.is_set())
                if stopping and stop_asked is None:
                    stop_asked = time.monotonic()
                if self._abort.is_set() or (
                    running and stop_asked is not None
                    and time.monotonic() - stop_asked >= self.grace
                ):
                    interrupted = True
                    self._release_all(running)
                    break
                budget_left = max_jobs is None or self._claimed < max_jobs
                outcomes, done = self._finished(running)
                # Inline batches hold `batch` jobs (run one after another); the other
                # executors one job per slot.
                slots = self.batch if self.executor == "inline" else self.concurrency
                claiming = not stopping and budget_left
                if outcomes and self._defer(len(done), len(running), slots, stopping, claiming):
                    if first_done is None:
                        first_done = time.monotonic()
                    if time.monotonic() - first_done < self.batch_wait:
                        outcomes, done = [], []
                want = 0
                if claiming:
                    want = max(0, slots - (len(running) - len(done)))
                    if max_jobs is not None:
                        want = min(want, max_jobs - self._claimed)
                claimed: list[Job] = []
                finished = 0
                if outcomes or want > 0:
                    # One turn records what finished and claims what the free slots can take.
                    settled = self._settle(running, outcomes, done, want)
                    if settled is not None:
                        claimed = settled
                        finished = len(done)
                        if done:
                            first_done = None
                    for job in claimed:
                        running[job.id] = self._start(job, pool)
                beat_due = time.monotonic() - last_beat >= self._beat_interval()
                if beat_due and self._renew(running):
                    last_beat = time.monotonic()
                if running:
                    if not claimed and not finished:
                        self._wait_any(running, first_done)
                    continue
                if claimed or finished:
                    continue  # slots were freed (or inline jobs ran): look for more first
                if stopping or not budget_left:
                    break
                if until_idle and self._idle(idle_horizon):
                    break
                self._sleep(idle_horizon if until_idle else None)
        finally:
            if pool is not None:
                # Threads cannot be stopped: after an interruption they are left to finish
                # (their reports are discarded: the jobs were released).
                pool.shutdown(wait=not interrupted, cancel_futures=True)
            if self._processes is not None:
                self._processes.shutdown(kill=interrupted)
                self._processes = None
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return WorkerStats(
            claimed=self._claimed, succeeded=self._succeeded, retried=self._retried,
            dead=self._dead, lost=self._lost, seconds=time.monotonic() - started,
            released=self._released, interrupted=interrupted,
        )

    # -- stopping ------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, Any]:
        """Handle STOP_SIGNALS; returns the handlers to restore (none off the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        self._signals = 0
        self._abort.clear()
        previous: dict[int, Any] = {}
        for signum in STOP_SIGNALS:
            old = signal.signal(signum, self._on_signal)
            previous[int(signum)] = signal.SIG_DFL if old is None else old
        return previous

    def _on_signal(self, signum: int, frame: object) -> None:
        """First signal: stop claiming, finish running jobs. Second: release them, return."""
        self._signals += 1
        self._stop.set()
        if self._signals > 1:
            self._abort.set()

    def _release_all(self, running: dict[str, _Running]) -> None:
        """Record the outcomes of jobs that have finished (held back for a batch), then give
        back every job still running (the leases expire instead if the file is busy)."""
        finished = [(job_id, item) for job_id, item in running.items() if item.future.done()]
        if finished:
            now = time.monotonic()
            outcomes = [self._outcome(item, now) for _, item in finished]
            self._settle(running, outcomes, [job_id for job_id, _ in finished], 0)
        holds = [(i, r.job.attempts) for i, r in running.items()]
        try:
            released = self._queue.release(
                self.branch, self.worker_id, holds, "the worker stopped before the job finished"
            )
        except BusyError:
            released = []
        self._released += len(released)
        if self._processes is not None:
            for job_id in running:
                self._processes.kill(job_id, "the worker stopped before the job finished")
        running.clear()

    # -- steps ---------------------------------------------------------------------------------

    def _beat_interval(self) -> float:
        return self.lease / 3.0

    def _settle(
        self, running: dict[str, _Running], outcomes: list[Outcome], done: list[str], want: int
    ) -> list[Job] | None:
        """Record `outcomes` and claim up to `want` jobs in one turn; the jobs claimed, or
        None when the file stayed locked (the outcomes are recorded on a later pass)."""
        try:
            settled = self._queue.settle(
                self.branch, self.worker_id, outcomes, self.queues, want, self.lease,
                # The recorded jobs are read back only for the hooks.
                load=bool(self._hooks),
            )
        except BusyError:
            return None  # other processes kept the file locked: try again on the next pass
        for job_id in done:
            del running[job_id]
        self._lost += len(settled.lost)
        recorded = settled.recorded
        for i, (_, state) in enumerate(settled.states):
            self._count(state, recorded[i] if recorded else None)
        claimed = settled.claimed
        self._claimed += len(claimed)
        for job in claimed:
            self._fire("started", job)
        return claimed

    def _defer(
        self, finished: int, running: int, slots: int, stopping: bool, claiming: bool
    ) -> bool:
        """Whether to hold finished outcomes back for a fuller batch: only with batch > 1,
        while fewer than `batch` finished and others still run, and when no turn is due
        anyway (no slot is free for a claim; a stopping worker records at once)."""
        if self.batch <= 1 or finished >= self.batch or finished >= running:
            return False
        if stopping:
            return False
        return running >= slots or not claiming

    def _start(
        self, job: Job, pool: concurrent.futures.ThreadPoolExecutor | None
    ) -> _Running:
        processes = self._processes
        try:
            options = self._registry.options(self.branch, job.task)
            if processes is not None:
                # The child imports the function itself: the worker needs only its path.
                path = self._registry.import_path(self.branch, job.task)
                return _Running(job, options, time.monotonic(),
                                processes.submit(job.id, path, job.payload))
            fn = self._registry.function(self.branch, job.task)
        except TloError as e:
            return _Running(job, TaskOptions(), time.monotonic(), _Ended(error=e))
        if pool is None:
            began = time.monotonic()  # before the call: the inline call is the attempt
            try:
                ended = _Ended(result=call_task(fn, job.payload))
            except BaseException as e:
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                ended = _Ended(error=e)
            return _Running(job, options, began, ended)
        return _Running(job, options, time.monotonic(), pool.submit(call_task, fn, job.payload))

    def _finished(self, running: dict[str, _Running]) -> tuple[list[Outcome], list[str]]:
        """The outcomes of finished (and timed-out) jobs, and their ids (still in `running`)."""
        now = time.monotonic()
        done: list[str] = []
        outcomes: list[Outcome] = []
        for job_id, item in running.items():
            timeout = item.options.timeout
            if item.future.done():
                outcomes.append(self._outcome(item, now))
            elif timeout is not None and now - item.started > timeout:
                reason = f"timed out after {timeout:g}s"
                if self._processes is not None:
                    # The child is killed and the future fails with the reason (or, if the
                    # child has just finished, holds its result): recorded on the next pass.
                    self._processes.kill(job_id, reason)
                    continue
                # A thread cannot be stopped: the attempt is failed and its result ignored.
                outcomes.append(Outcome(
                    job_id, item.job.attempts, error=reason, retry=True,
                    duration_us=int((now - item.started) * _US), options=item.options,
                ))
            else:
                continue
            done.append(job_id)
        return outcomes, done

    def _outcome(self, item: _Running, now: float) -> Outcome:
        """What a finished future says about its attempt."""
        job = item.job
        duration = int((now - item.started) * _US)
        timeout = item.options.timeout
        if self.executor == "inline" and timeout is not None and now - item.started > timeout:
            # The call could not be interrupted, but the attempt overran: it counts as failed.
            return Outcome(job.id, job.attempts, error=f"timed out after {timeout:g}s",
                           retry=True, duration_us=duration, options=item.options)
        error = item.future.exception()
        if error is None:
            return Outcome(job.id, job.attempts, result=item.future.result(),
                           duration_us=duration, options=item.options)
        if isinstance(error, ChildFailure):
            text, retry = error.text, error.retry
        else:
            text, retry = describe(error), True
        return Outcome(job.id, job.attempts, error=text, retry=retry, duration_us=duration,
                       options=item.options)

    def _count(self, state: str, job: Job | None) -> None:
        """Count a recorded outcome and call the hooks (given the job when there are any)."""
        if state == "succeeded":
            self._succeeded += 1
            self._fire("succeeded", job)
        elif state == "retrying":
            self._retried += 1
            self._fire("failed", job)
            self._fire("retrying", job)
        else:
            self._dead += 1
            self._fire("failed", job)
            self._fire("dead", job)

    def _renew(self, running: dict[str, _Running]) -> bool:
        """Extend the leases of running jobs; False if the file was too busy to (retry soon)."""
        holds = [(i, r.job.attempts) for i, r in running.items()]
        if not holds:
            return True
        try:
            lost_jobs = self._queue.heartbeat(self.branch, self.worker_id, holds, self.lease)
        except BusyError:
            return False
        for lost in lost_jobs:
            # Cancelled or reclaimed: whatever the job returns will be discarded, and a
            # child process running it is stopped.
            running.pop(lost, None)
            if self._processes is not None:
                self._processes.kill(lost, "the job was cancelled or claimed by another worker")
            self._lost += 1
        return True

    def _wait_any(self, running: dict[str, _Running], first_done: float | None) -> None:
        """Wait until a running job finishes, at most until the next heartbeat is due or
        (with outcomes held back for a batch) until they must be recorded."""
        pending = [
            r.future for r in running.values()
            if isinstance(r.future, concurrent.futures.Future) and not r.future.done()
        ]
        if not pending:
            return
        timeout = min(self._beat_interval(), 0.25)
        if first_done is not None:
            timeout = max(0.0, min(timeout, first_done + self.batch_wait - time.monotonic()))
        concurrent.futures.wait(
            pending, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
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
        if due is not None and due > journal.now_us():
            pause = min(pause, (due - journal.now_us()) / _US)
        # A job already due was not claimable (its exclusive key is held, or the claim was
        # busy): the turn that frees it wakes this wait; `poll` bounds it.
        if horizon is not None:
            pause = min(pause, horizon)
        if pause > 0:
            journal.wait_for_head(self.branch, journal.head(self.branch), pause)

    def _fire(self, event: str, job: Job | None) -> None:
        if job is not None:
            fire_hooks(self._hooks, event, job)
