"""Jobs and queues: every transition of a job is a turn that appends to its `$job-<id>` stream.

`JobQueue` methods open the turn; the `_private` functions do the work inside it, so several
transitions (a failure and the blocking of its dependants) commit together. Decisions that
depend on time (is a lease expired, when is the next retry) use the turn's recorded time, so
replaying the journal reproduces them exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, final

from tlo_embed.clock import new_event_id
from tlo_embed.codec.cbor import ENC_CBOR, decode
from tlo_embed.errors import (
    CodecError,
    InvalidArgumentError,
    LeaseLostError,
    NotFoundError,
)
from tlo_embed.journal.core import Journal
from tlo_embed.journal.records import ANY, NO_STREAM, Event, RecordedEvent
from tlo_embed.journal.turns import Turn
from tlo_embed.store import sql
from tlo_embed.store.txn import Txn
from tlo_embed.tasks import model
from tlo_embed.tasks.model import Job, Requeued, TaskOptions
from tlo_embed.tasks.retry import backoff_us

_JOB_COLUMNS: Final = (
    "id, task, queue, state, priority, run_at, attempts, max_attempts, lease_until, worker,"
    " dedup_key, exclusive_key, waiting_on, payload, result, error, enqueued_at, started_at,"
    " finished_at, seq"
)
_US: Final = 1_000_000
# Text and LIMIT parameters are bound through CAST (sql.TEXT_PARAM / INT_PARAM: why, there).
# Measured on the claim's queries: 35-47 us per execution with bare `?`, 5-7 us with CAST.
_TEXT: Final = sql.TEXT_PARAM
_INT: Final = sql.INT_PARAM
#: Ids bound per `IN (...)` query (well under SQLite's limit on bound parameters).
_IN_CHUNK: Final = 500
#: The states `requeue` takes a job back from.
_REQUEUEABLE: Final = (model.FAILED, model.CANCELLED, model.BLOCKED)


def row_to_job(row: Any) -> Job:
    """A `Job` from a row selected with `_JOB_COLUMNS`."""
    return Job(
        id=row[0], task=row[1], queue=row[2], state=row[3], priority=row[4], run_at_us=row[5],
        attempts=row[6], max_attempts=row[7], lease_until_us=row[8], worker=row[9],
        dedup_key=row[10], exclusive_key=row[11], waiting_on=row[12],
        payload=decode(row[13], ENC_CBOR), result=None if row[14] is None else decode(
            row[14], ENC_CBOR),
        error=row[15], enqueued_at_us=row[16], started_at_us=row[17], finished_at_us=row[18],
        seq=row[19],
    )


def _load(txn: Txn, branch: str, job_id: str) -> Job | None:
    rows = sql.rows(
        txn.conn, f"SELECT {_JOB_COLUMNS} FROM jobs WHERE branch = ? AND id = ?",
        (branch, job_id),
    )
    return row_to_job(rows[0]) if rows else None


def _load_many(txn: Txn, branch: str, job_ids: Sequence[str]) -> list[Job]:
    """The jobs with these ids, in the order given (missing ones left out), in one query."""
    if not job_ids:
        return []
    if len(job_ids) == 1:
        one = _load(txn, branch, job_ids[0])
        return [] if one is None else [one]
    found: dict[str, Job] = {}
    for start in range(0, len(job_ids), _IN_CHUNK):
        chunk = job_ids[start:start + _IN_CHUNK]
        for row in sql.rows(
            txn.conn,
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE branch = ? AND id IN"
            f" ({', '.join('?' * len(chunk))})",
            (branch, *chunk),
        ):
            job = row_to_job(row)
            found[job.id] = job
    return [found[i] for i in job_ids if i in found]


def _uuid_text(raw: bytes) -> str:
    """`str(uuid.UUID(bytes=raw))`, without building the UUID object."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _attempts_held(
    txn: Txn, branch: str, worker: str, job_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """For each of these jobs that `worker` holds (running under its claim): its attempt
    and max_attempts, in one query."""
    held: dict[str, tuple[int, int]] = {}
    for start in range(0, len(job_ids), _IN_CHUNK):
        chunk = job_ids[start:start + _IN_CHUNK]
        for job_id, attempts, max_attempts in sql.rows(
            txn.conn,
            "SELECT id, attempts, max_attempts FROM jobs WHERE branch = ? AND id IN"
            f" ({', '.join('?' * len(chunk))}) AND state = 'running' AND worker = ?",
            (branch, *chunk, worker),
        ):
            held[job_id] = (attempts, max_attempts)
    return held


def _emit(journal: Journal, txn: Txn, turn: Turn, job_id: str, event: Event) -> None:
    # The caller has just read the job's row in this transaction, so its stream exists and
    # nothing else can append to it before the commit: no version check is needed.
    journal.append_in(txn, turn, model.job_stream(job_id), event, ANY)


def _block_dependants(journal: Journal, txn: Txn, turn: Turn, parent: str) -> list[str]:
    """Record JobBlocked for every job waiting (directly or not) on `parent`."""
    blocked: list[str] = []
    frontier = [parent]
    while frontier:
        current = frontier.pop()
        children = sql.rows(
            txn.conn,
            "SELECT j.id FROM job_deps AS d JOIN jobs AS j ON j.branch = d.branch AND"
            f" j.id = d.job WHERE d.branch = {_TEXT} AND d.parent = {_TEXT} AND j.state IN"
            " ('pending', 'retrying') ORDER BY j.seq",
            (turn.branch, current),
        )
        for (child,) in children:
            _emit(journal, txn, turn, child, Event(model.JOB_BLOCKED, {"parent": current}))
            blocked.append(child)
            frontier.append(child)
    return blocked


@final
class Outcome:
    """How one attempt ended, as a worker reports it: a result, or an error message."""

    def __init__(
        self,
        job_id: str,
        attempt: int,
        *,
        result: Any = None,
        error: str | None = None,
        retry: bool = True,
        duration_us: int = 0,
        options: TaskOptions | None = None,
    ) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.result = result
        self.error = error
        self.retry = retry
        self.duration_us = duration_us
        self.options = options


@final
class Settled:
    """What `JobQueue.settle` recorded and claimed in its turn.

    Attributes:
        states: (job id, state as recorded) for each outcome recorded, then for each job the
            claim dead-lettered because its lease expired on its last attempt (so the worker
            whose turn recorded that failure reports it, like any other). A state is
            "succeeded", "retrying" or "failed".
        recorded: those jobs as recorded, in the same order, when `settle` was asked to read
            them back (`load=True`: what lifecycle hooks are given); otherwise empty.
        lost: the ids of jobs the worker no longer holds (their outcomes were discarded).
        claimed: the jobs claimed.
    """

    def __init__(
        self,
        states: list[tuple[str, str]],
        recorded: list[Job],
        lost: list[str],
        claimed: list[Job],
    ) -> None:
        self.states = states
        self.recorded = recorded
        self.lost = lost
        self.claimed = claimed


@final
class JobQueue:
    """The queue operations of one journal (one file)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    # -- enqueue -------------------------------------------------------------------------------

    def enqueue(
        self,
        branch: str,
        task: str,
        payload: Any,
        options: TaskOptions,
        *,
        priority: int | None = None,
        delay: float = 0.0,
        eta_us: int | None = None,
        dedup_key: str | None = None,
        max_attempts: int | None = None,
        after: Sequence[str] = (),
        exclusive_key: str | None = None,
        queue: str | None = None,
    ) -> Job:
        """Enqueue one job in a turn of its own (see `Database.enqueue`)."""
        if delay < 0:
            msg = f"delay must be >= 0 seconds, got {delay}"
            raise InvalidArgumentError(msg)
        if max_attempts is not None and max_attempts < 1:
            msg = f"max_attempts must be >= 1, got {max_attempts}"
            raise InvalidArgumentError(msg)
        with self.journal.turn_scope(branch) as (txn, turn):
            now = turn.recorded_at_us
            if dedup_key is not None:
                holder = self.by_dedup_key(branch, dedup_key, txn)
                if holder is not None:
                    return holder
            parents = list(dict.fromkeys(after))  # a parent named twice is one dependency
            blocked_by: str | None = None
            for parent in parents:
                state = sql.value(
                    txn.conn, "SELECT state FROM jobs WHERE branch = ? AND id = ?",
                    (branch, parent),
                )
                if state is None:
                    msg = f"cannot run after job {parent!r}: no such job"
                    raise NotFoundError(msg)
                if state in (model.FAILED, model.CANCELLED, model.BLOCKED) and blocked_by is None:
                    blocked_by = parent
            job_id = _uuid_text(new_event_id(now))
            exclusive = exclusive_key
            if exclusive is None and options.exclusive:
                exclusive = task
            run_at = now + int(delay * _US) if eta_us is None else eta_us
            # Keys in canonical CBOR order (by length, then text), which the codec encodes
            # without sorting them.
            data: dict[str, Any] = {
                "task": task,
                "after": parents,
                "queue": options.queue if queue is None else queue,
                "run_at": run_at,
                "payload": payload,
                "priority": options.priority if priority is None else priority,
                "dedup_key": dedup_key,
                "max_attempts": options.retries + 1 if max_attempts is None else max_attempts,
                "exclusive_key": exclusive,
            }
            records: list[RecordedEvent] = []
            # An error here propagates out of this scope, which rolls the turn back: the
            # stream's version (a fresh job id, so NO_STREAM) is checked after the insert.
            self.journal.append_in(
                txn, turn, model.job_stream(job_id), Event(model.JOB_ENQUEUED, data), NO_STREAM,
                records, rollback_on_error=True,
            )
            if not parents:
                # The row the applier has just inserted, without reading it back: a job with
                # no parents waits on none, and its payload is the stored (decoded) form.
                stored: dict[str, Any] = records[0].data
                return Job(
                    id=job_id, task=task, queue=stored["queue"], state=model.PENDING,
                    priority=stored["priority"], run_at_us=run_at, attempts=0,
                    max_attempts=stored["max_attempts"], lease_until_us=None, worker=None,
                    dedup_key=dedup_key, exclusive_key=exclusive, waiting_on=0,
                    payload=stored["payload"], result=None, error=None, enqueued_at_us=now,
                    started_at_us=None, finished_at_us=None, seq=records[0].seq,
                )
            if blocked_by is not None:
                _emit(self.journal, txn, turn, job_id,
                      Event(model.JOB_BLOCKED, {"parent": blocked_by}))
                _block_dependants(self.journal, txn, turn, job_id)
            job = _load(txn, branch, job_id)
        assert job is not None  # the applier wrote it in this turn
        return job

    # -- claiming ------------------------------------------------------------------------------

    def claim(
        self,
        branch: str,
        worker: str,
        queues: Sequence[str] | None,
        limit: int,
        lease: float,
    ) -> list[Job]:
        """Claim up to `limit` runnable jobs for `worker`, in one turn.

        Runnable: waiting (pending or retrying) and due, with every parent succeeded, or
        running under a lease that has expired (its worker is presumed dead). Jobs are taken
        by priority (highest first), then due time, then enqueue order. An exclusive key is
        never held by two running jobs. A job whose lease expired on its last attempt is
        failed instead (and its dependants blocked); `settle` reports such jobs.
        """
        if limit < 1:
            return []
        with self.journal.turn_scope(branch) as (txn, turn):
            return self._claim(txn, turn, worker, queues, limit, lease, [])

    def settle(
        self,
        branch: str,
        worker: str,
        outcomes: Sequence[Outcome],
        queues: Sequence[str] | None,
        limit: int,
        lease: float,
        *,
        load: bool = True,
    ) -> Settled:
        """Record `outcomes` (see `report`), then claim up to `limit` jobs (see `claim`), in
        one turn: a worker's step once some of its jobs finished and slots are free.

        The outcomes are recorded first, so a claim can take a job whose exclusive key one of
        them released. Either both parts commit or neither does. With `load=False` the
        recorded jobs are not read back (`Settled.recorded` is empty; `states` says how each
        ended): a worker with no hooks needs no more.
        """
        states: list[tuple[str, str]] = []
        lost: list[str] = []
        claimed: list[Job] = []
        if not outcomes and limit < 1:
            return Settled(states, [], lost, claimed)
        with self.journal.turn_scope(branch) as (txn, turn):
            if outcomes:
                lost = self._record(txn, turn, worker, outcomes, states)
            if limit > 0:
                expired: list[str] = []
                claimed = self._claim(txn, turn, worker, queues, limit, lease, expired)
                states.extend((job_id, model.FAILED) for job_id in expired)
            recorded = _load_many(txn, turn.branch, [i for i, _ in states]) if load else []
        return Settled(states, recorded, lost, claimed)

    def _claim(
        self,
        txn: Txn,
        turn: Turn,
        worker: str,
        queues: Sequence[str] | None,
        limit: int,
        lease: float,
        dead: list[str],
    ) -> list[Job]:
        """The claim (see `claim`); the ids of jobs failed for good because their lease
        expired on their last attempt are appended to `dead`."""
        branch = turn.branch
        now = turn.recorded_at_us
        queue_sql, queue_args = _queue_filter(queues)
        expired = sql.rows(
            txn.conn,
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE branch = {_TEXT} AND state = 'running' AND"
            f" lease_until < ?{queue_sql} ORDER BY lease_until LIMIT {_INT}",
            (branch, now, *queue_args, limit),
        )
        candidates: list[Job] = []
        for row in expired:
            job = row_to_job(row)
            if job.attempts >= job.max_attempts:
                self._fail(txn, turn, job.id, job.attempts,
                           "lease expired: the worker stopped reporting", final=True)
                dead.append(job.id)
            else:
                candidates.append(job)
        held = {
            str(key) for (key,) in sql.rows(
                txn.conn,
                # The planner would walk every running job (jobs_running) for the usually
                # empty set of held keys: 11 us with 32 running jobs, 2 us by this index.
                "SELECT exclusive_key FROM jobs INDEXED BY jobs_exclusive WHERE branch = ? AND"
                " state = 'running' AND exclusive_key IS NOT NULL AND lease_until >= ?",
                (branch, now),
            )
        }
        claimed: list[str] = []
        lease_until = now + int(lease * _US)

        def take(job_id: str, attempts: int, exclusive_key: str | None) -> bool:
            """Claim the job unless its exclusive key is held; False when passed over."""
            if exclusive_key is not None:
                if exclusive_key in held:
                    return False
                held.add(exclusive_key)
            _emit(self.journal, txn, turn, job_id, Event(model.JOB_CLAIMED, {
                "worker": worker, "attempt": attempts + 1, "lease_until": lease_until,
            }))
            claimed.append(job_id)
            return True

        for job in candidates:
            if len(claimed) < limit:
                take(job.id, job.attempts, job.exclusive_key)
        # Then waiting jobs, page by page in claim order. A claimed job leaves the ready
        # index at once; one passed over (exclusive key held) stays, ahead of every job
        # not yet seen, so the next page starts after the ones passed over: held keys
        # never starve the jobs behind them.
        # The first page is what the claim needs when nothing is passed over (the usual case).
        page = limit
        passed_over = 0
        while len(claimed) < limit:
            waiting = sql.rows(
                txn.conn,
                f"SELECT id, attempts, exclusive_key FROM jobs WHERE branch = {_TEXT} AND state IN"
                f" ('pending', 'retrying') AND run_at <= ? AND waiting_on = 0{queue_sql}"
                f" ORDER BY priority DESC, run_at, seq LIMIT {_INT} OFFSET {_INT}",
                (branch, now, *queue_args, page, passed_over),
            )
            for row in waiting:
                if len(claimed) >= limit:
                    break
                if not take(row[0], row[1], row[2]):
                    passed_over += 1
            if len(waiting) < page:
                break
            page = max(16, limit * 2)
        return _load_many(txn, branch, claimed)

    def heartbeat(
        self, branch: str, worker: str, holds: Sequence[tuple[str, int]], lease: float
    ) -> list[str]:
        """Extend the leases `worker` holds on (job id, attempt) pairs, in one turn.

        A lease that has already expired is not revived (another worker may have taken the
        job's exclusive key meanwhile): the job counts as lost.

        Returns:
            The ids of jobs the worker no longer holds (expired, reclaimed or cancelled).
        """
        lost: list[str] = []
        if not holds:
            return lost
        with self.journal.turn_scope(branch) as (txn, turn):
            until = turn.recorded_at_us + int(lease * _US)
            for job_id, attempt in holds:
                job = _load(txn, branch, job_id)
                if (
                    job is None
                    or not _holds(job, worker, attempt)
                    or (job.lease_until_us or 0) < turn.recorded_at_us
                ):
                    lost.append(job_id)
                    continue
                _emit(self.journal, txn, turn, job_id,
                      Event(model.JOB_HEARTBEAT, {"lease_until": until}))
        return lost

    def release(
        self, branch: str, worker: str, holds: Sequence[tuple[str, int]], reason: str
    ) -> list[str]:
        """Give back running jobs `worker` holds on (job id, attempt) pairs, in one turn.

        A stopping worker calls this for jobs it will not finish, so other workers can
        claim them at once instead of after their leases expire. The interrupted attempt
        does not count against the job's attempts: the job waits again as it did before
        it was claimed (pending, or retrying if an earlier attempt failed).

        Returns:
            The ids of the jobs released (those no longer held are skipped).
        """
        released: list[str] = []
        if not holds:
            return released
        with self.journal.turn_scope(branch) as (txn, turn):
            for job_id, attempt in holds:
                job = _load(txn, branch, job_id)
                if job is None or not _holds(job, worker, attempt):
                    continue
                _emit(self.journal, txn, turn, job_id, Event(model.JOB_RELEASED, {
                    "reason": reason, "worker": worker, "attempt": attempt,
                }))
                released.append(job_id)
        return released

    # -- outcomes ------------------------------------------------------------------------------

    def succeed(
        self, branch: str, job_id: str, worker: str, attempt: int, result: Any,
        duration_us: int,
    ) -> Job:
        """Record a successful attempt (a result CBOR cannot hold is recorded as a failure).

        Raises:
            LeaseLostError: the worker no longer holds the job; nothing is recorded.
        """
        outcome = Outcome(job_id, attempt, result=result, duration_us=duration_us)
        return self._report_one(branch, worker, outcome)

    def fail(
        self, branch: str, job_id: str, worker: str, attempt: int, error: str,
        options: TaskOptions, duration_us: int, *, retry: bool = True,
    ) -> Job:
        """Record a failed attempt: retry after a backoff, or a dead letter after the last.

        Raises:
            LeaseLostError: the worker no longer holds the job; nothing is recorded.
        """
        outcome = Outcome(job_id, attempt, error=error, retry=retry, duration_us=duration_us,
                          options=options)
        return self._report_one(branch, worker, outcome)

    def _report_one(self, branch: str, worker: str, outcome: Outcome) -> Job:
        recorded, lost = self.report(branch, worker, [outcome])
        if lost:
            msg = (
                f"worker {worker} no longer holds job {outcome.job_id} (attempt "
                f"{outcome.attempt}): its report is discarded"
            )
            raise LeaseLostError(msg, job_id=outcome.job_id)
        return recorded[0]

    def report(
        self, branch: str, worker: str, outcomes: Sequence[Outcome]
    ) -> tuple[list[Job], list[str]]:
        """Record the outcomes of several attempts in one turn (a worker's batch).

        A success whose result cannot be encoded is recorded as a failure (no retry).

        Returns:
            The jobs as recorded, and the ids of jobs the worker no longer holds (their
            outcomes are discarded).
        """
        if not outcomes:
            return [], []
        with self.journal.turn_scope(branch) as (txn, turn):
            states: list[tuple[str, str]] = []
            lost = self._record(txn, turn, worker, outcomes, states)
            return _load_many(txn, branch, [i for i, _ in states]), lost

    def _record(
        self, txn: Txn, turn: Turn, worker: str, outcomes: Sequence[Outcome],
        states: list[tuple[str, str]],
    ) -> list[str]:
        """Record `outcomes`; (job id, state) of each recorded goes to `states`. Returns the
        ids of jobs `worker` no longer holds."""
        branch = turn.branch
        lost: list[str] = []
        held = _attempts_held(txn, branch, worker, [o.job_id for o in outcomes])
        for outcome in outcomes:
            job_id = outcome.job_id
            attempts = held.get(job_id)
            if attempts is None or attempts[0] != outcome.attempt:
                lost.append(job_id)
                continue
            # A job reported twice in one batch is only held for the first report.
            del held[job_id]
            error = outcome.error
            retry = outcome.retry
            if error is None:
                try:
                    _emit(self.journal, txn, turn, job_id, Event(model.JOB_SUCCEEDED, {
                        "result": outcome.result, "attempt": outcome.attempt,
                        "duration_us": outcome.duration_us,
                    }))
                except CodecError as e:
                    # Raised while encoding, before anything of the event was written.
                    error, retry = f"result not recorded: {e}", False
            if error is None:
                states.append((job_id, model.SUCCEEDED))
            else:
                final = not retry or attempts[0] >= attempts[1]
                self._fail(txn, turn, job_id, attempts[0], error, final=final,
                           options=outcome.options, duration_us=outcome.duration_us)
                states.append((job_id, model.FAILED if final else model.RETRYING))
        return lost

    def _fail(
        self, txn: Txn, turn: Turn, job_id: str, attempt: int, error: str, *, final: bool,
        options: TaskOptions | None = None, duration_us: int = 0,
    ) -> None:
        """Record the failure of attempt `attempt`: a retry at a backoff, or (final) a dead
        letter whose dependants are blocked."""
        retry_at: int | None = None
        if not final:
            opts = options if options is not None else TaskOptions()
            retry_at = turn.recorded_at_us + backoff_us(
                job_id, attempt, opts.backoff, opts.max_backoff
            )
        _emit(self.journal, txn, turn, job_id, Event(model.JOB_FAILED, {
            "error": error, "attempt": attempt, "retry_at": retry_at,
            "duration_us": duration_us,
        }))
        if final:
            _block_dependants(self.journal, txn, turn, job_id)

    # -- administration ------------------------------------------------------------------------

    def cancel(self, branch: str, job_id: str, reason: str = "cancelled") -> Job:
        """Cancel a waiting or running job (its dependants are blocked).

        A running job's worker finds out when it reports (its report is discarded).

        Raises:
            NotFoundError: no such job.
            InvalidArgumentError: the job already finished.
        """
        with self.journal.turn_scope(branch) as (txn, turn):
            job = self._existing(txn, branch, job_id)
            if job.state in model.FINISHED:
                msg = f"job {job_id} already finished ({job.state}); nothing to cancel"
                raise InvalidArgumentError(msg)
            _emit(self.journal, txn, turn, job_id,
                  Event(model.JOB_CANCELLED, {"reason": reason}))
            _block_dependants(self.journal, txn, turn, job_id)
            done = _load(txn, branch, job_id)
        assert done is not None
        return done

    def move(self, branch: str, job_ids: Sequence[str], queue: str) -> int:
        """Move waiting jobs to another queue; returns how many moved."""
        if not queue:
            msg = "the target queue needs a name"
            raise InvalidArgumentError(msg)
        moved = 0
        with self.journal.turn_scope(branch) as (txn, turn):
            for job_id in job_ids:
                job = self._existing(txn, branch, job_id)
                if job.state in model.WAITING and job.queue != queue:
                    _emit(self.journal, txn, turn, job_id,
                          Event(model.JOB_MOVED, {"queue": queue}))
                    moved += 1
        return moved

    def reschedule(
        self, branch: str, job_id: str, *, delay: float | None = None, eta_us: int | None = None,
        priority: int | None = None,
    ) -> Job:
        """Change when (and optionally at which priority) a waiting job runs."""
        with self.journal.turn_scope(branch) as (txn, turn):
            job = self._existing(txn, branch, job_id)
            if job.state not in model.WAITING:
                msg = f"job {job_id} is {job.state}; only waiting jobs can be rescheduled"
                raise InvalidArgumentError(msg)
            if eta_us is None:
                eta_us = turn.recorded_at_us + int((delay or 0.0) * _US)
            _emit(self.journal, txn, turn, job_id, Event(model.JOB_RESCHEDULED, {
                "run_at": eta_us, "priority": priority,
            }))
            done = _load(txn, branch, job_id)
        assert done is not None
        return done

    def requeue(self, branch: str, job_ids: Sequence[str]) -> Requeued:
        """Put failed (dead-lettered), cancelled or blocked jobs back in their queue, in one
        turn.

        Left as they are (and said so in the result):

        - a job still waiting for a parent that has not succeeded and cannot (failed,
          cancelled, blocked, or purged before it succeeded): requeued, it would wait
          forever. A parent requeued in the same call can run again, so the job is requeued
          too, whatever the order of `job_ids`;
        - a job whose dedup key is now taken by another waiting or running job (requeueing
          it would make two live jobs with one key);
        - a job that is not failed, cancelled or blocked.

        Raises:
            NotFoundError: no job has one of the ids; nothing is requeued.
        """
        requeued: list[str] = []
        blocked_by: dict[str, str] = {}
        skipped: list[str] = []
        wanted = set(job_ids)
        decided: set[str] = set()
        with self.journal.turn_scope(branch) as (txn, turn):
            for first in job_ids:
                # Depth first: a parent this call also requeues is decided before its child.
                stack = [first]
                while stack:
                    job_id = stack[-1]
                    if job_id in decided:
                        stack.pop()
                        continue
                    job = self._existing(txn, branch, job_id)
                    if job.state not in _REQUEUEABLE or (
                        job.dedup_key is not None
                        and self.by_dedup_key(branch, job.dedup_key, txn) is not None
                    ):
                        decided.add(job_id)
                        stack.pop()
                        skipped.append(job_id)
                        continue
                    parent = self._lost_parent(txn, branch, job)
                    if parent is not None and parent in wanted and parent not in decided and (
                        parent not in stack
                    ):
                        stack.append(parent)
                        continue
                    decided.add(job_id)
                    stack.pop()
                    if parent is not None:
                        blocked_by[job_id] = parent
                        continue
                    _emit(self.journal, txn, turn, job_id,
                          Event(model.JOB_REQUEUED, {"run_at": turn.recorded_at_us}))
                    requeued.append(job_id)
        return Requeued(requeued=tuple(requeued), blocked_by=blocked_by, skipped=tuple(skipped))

    def _lost_parent(self, txn: Txn, branch: str, job: Job) -> str | None:
        """A parent `job` still waits for that has not succeeded and never will as things
        stand (failed, cancelled, blocked, or purged before it succeeded), or None."""
        if job.waiting_on == 0:
            return None
        # The parents are those its JobEnqueued named: a purged parent has left job_deps.
        first = list(self.journal.read(branch, model.job_stream(job.id), limit=1))
        after: list[str] = list(dict.fromkeys(first[0].data.get("after") or [])) if first else []
        live = 0
        purged: list[str] = []
        for parent in after:
            state = sql.value(
                txn.conn, "SELECT state FROM jobs WHERE branch = ? AND id = ?", (branch, parent)
            )
            if state is None:
                purged.append(parent)
            elif state in (model.FAILED, model.CANCELLED, model.BLOCKED):
                return parent
            elif state != model.SUCCEEDED:
                live += 1
        if job.waiting_on > live:
            # `waiting_on` still counts a parent purged before it succeeded (one purged after
            # it succeeded had already been taken off): find which.
            for parent in purged:
                if not any(e.type == model.JOB_SUCCEEDED
                           for e in self.journal.read(branch, model.job_stream(parent))):
                    return parent
        return None

    def purge(
        self, branch: str, job_ids: Sequence[str], states: Sequence[str] | None = None
    ) -> int:
        """Delete jobs that are not running (and, if given, are in `states`) from the job
        table; their history stays. The states are checked inside the turn, so a job that
        changed state since it was listed is left alone.

        Jobs still waiting on a purged job can never run: they are marked blocked first.
        """
        count = 0
        with self.journal.turn_scope(branch) as (txn, turn):
            for job_id in job_ids:
                job = self._existing(txn, branch, job_id)
                if job.state != model.RUNNING and (states is None or job.state in states):
                    if job.state != model.SUCCEEDED:
                        _block_dependants(self.journal, txn, turn, job_id)
                    _emit(self.journal, txn, turn, job_id, Event(model.JOB_PURGED, {}))
                    count += 1
        return count

    def by_dedup_key(self, branch: str, key: str, txn: Txn | None = None) -> Job | None:
        """The waiting or running job holding dedup key `key`, if any."""
        conn = self.journal.store.connection() if txn is None else txn.conn
        rows = sql.rows(
            conn,
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE branch = ? AND dedup_key = ? AND"
            " state IN ('pending', 'retrying', 'running')",
            (branch, key),
        )
        return row_to_job(rows[0]) if rows else None

    def _existing(self, txn: Txn, branch: str, job_id: str) -> Job:
        job = _load(txn, branch, job_id)
        if job is None:
            msg = f"no job {job_id!r}"
            raise NotFoundError(msg)
        return job

    # -- queries -------------------------------------------------------------------------------

    def get(self, branch: str, job_id: str) -> Job | None:
        """The job, or None."""
        rows = sql.rows(
            self.journal.store.connection(),
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE branch = ? AND id = ?", (branch, job_id),
        )
        return row_to_job(rows[0]) if rows else None

    def find(
        self,
        branch: str,
        *,
        state: str | None = None,
        task: str | None = None,
        queue: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        text: str | None = None,
        limit: int | None = None,
        ready_order: bool = False,
    ) -> list[Job]:
        """Jobs matching every filter given (see `Database.jobs`)."""
        if state is not None and state not in model.STATES:
            msg = f"unknown job state {state!r}; one of {', '.join(model.STATES)}"
            raise InvalidArgumentError(msg)
        where, args = job_filter(
            branch, state=state, task=task, queue=queue, since_us=since_us, until_us=until_us
        )
        if text:
            where.append("(instr(id, ?) > 0 OR instr(coalesce(error, ''), ?) > 0 OR"
                         " instr(task, ?) > 0 OR instr(coalesce(dedup_key, ''), ?) > 0)")
            args.extend([text, text, text, text])
        order = "priority DESC, run_at, seq" if ready_order else "seq"
        query = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {' AND '.join(where)} ORDER BY {order}"
        if limit is not None:
            query += f" LIMIT {_INT}"
            args.append(limit)
        return [row_to_job(r) for r in sql.rows(self.journal.store.connection(), query, args)]

    def next_due_us(self, branch: str, queues: Sequence[str] | None) -> int | None:
        """When the next waiting job (with its parents done) becomes due, or None."""
        queue_sql, queue_args = _queue_filter(queues)
        found = sql.value(
            self.journal.store.connection(),
            f"SELECT min(run_at) FROM jobs WHERE branch = {_TEXT} AND state IN ('pending', 'retrying')"
            f" AND waiting_on = 0{queue_sql}",
            (branch, *queue_args),
        )
        return None if found is None else int(found)

    def counts(self, branch: str) -> dict[str, int]:
        """How many jobs are in each state."""
        return {
            str(state): int(n) for state, n in sql.rows(
                self.journal.store.connection(),
                "SELECT state, count(*) FROM jobs WHERE branch = ? GROUP BY state", (branch,),
            )
        }


def _holds(job: Job, worker: str, attempt: int) -> bool:
    return job.state == model.RUNNING and job.worker == worker and job.attempts == attempt


def job_filter(
    branch: str,
    *,
    state: str | None = None,
    task: str | None = None,
    queue: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> tuple[list[str], list[object]]:
    """Conditions on the `jobs` table (to join with AND) and their bindings: the branch, and
    each filter given (enqueue time in [since_us, until_us))."""
    where = [f"branch = {_TEXT}"]
    args: list[object] = [branch]
    for column, value in (("state", state), ("task", task), ("queue", queue)):
        if value is not None:
            where.append(f"{column} = {_TEXT}")
            args.append(value)
    if since_us is not None:
        where.append("enqueued_at >= ?")
        args.append(since_us)
    if until_us is not None:
        where.append("enqueued_at < ?")
        args.append(until_us)
    return where, args


def _queue_filter(queues: Sequence[str] | None) -> tuple[str, tuple[object, ...]]:
    if not queues:
        return "", ()
    return " AND queue IN (" + ", ".join([_TEXT] * len(queues)) + ")", tuple(queues)

