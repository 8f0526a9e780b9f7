"""The scheduler: enqueues the jobs of interval and cron tasks as they fall due.

A task registered with `cron=` or `interval=` has a *schedule*: a row in the `schedules`
table holding its next run, kept as events in the `$scheduler` stream (so `tlo check` covers
it, and the history says when every run was enqueued). `Scheduler.tick()` is one turn:

1. take or renew the scheduler lease (below); if another process holds it, do nothing;
2. bring the schedules in line with the tasks recorded in the file: a new scheduled task
   gets its first run (the next cron fire time after now, or now + interval), a changed
   schedule is restarted from now, a removed task or schedule is dropped;
3. for every schedule whose next run is due (`next_run <= now`), enqueue its job(s)
   according to the task's catch-up policy, then move `next_run` past now.

Each job is enqueued with the run's due time as its `eta` and the dedup key
`schedule:<task>:<due time in microseconds>`. Because all of it happens in one write
transaction that re-reads `next_run` under the write lock, a run is never enqueued twice,
whatever number of processes tick the same file.

**One active scheduler.** The lease is a row in the `leases` table (`name = 'scheduler'`):
a holder and a time it lapses, taken and renewed by `LeaseTaken` events. A scheduler whose
tick finds a live lease held by someone else does nothing until that lease lapses (its
holder died or stopped) or is released (`Scheduler.run` releases it on the way out). The
holder renews the lease whenever less than half of it remains, so with the defaults (a
60 s lease, ticks at least every 20 s) an idle scheduler writes one small turn every
~40 s, and a new scheduler takes over at most 60 s after the old one died.

**Catch-up policies** (`@db.task(..., catch_up=...)`). Runs fall due while a scheduler is
running; runs that fell due while none was (the process was down, the machine asleep, the
lease between holders) are *missed*. When a tick finds a schedule due, it looks at every
run from the stored `next_run` up to now:

- `"once"` (the default): enqueue one job, for the most recent due run, however many runs
  were missed. Down for ten periods -> one job.
- `"skip"`: enqueue one job for the most recent due run only if it is on time: due no more
  than `grace` seconds ago (default 60). Runs later than that are dropped. Down for ten
  periods -> no job, unless the latest run fell due within `grace` of the tick.
- `"all"`: enqueue one job per due run, oldest first, each with its own due time as eta.
  Down for ten periods -> ten jobs. At most `MAX_CATCH_UP` (1000) jobs are enqueued for
  one schedule in one tick: beyond that, the most recent 1000 runs are enqueued and older
  ones are dropped.

In every case the schedule then resumes at the first run after now; a scheduler that keeps
up (ticks on time) enqueues exactly one job per run under all three policies.

Times are microseconds since the epoch (UTC), from the turn, like every time in the file;
cron expressions are evaluated in UTC unless they carry a `CRON_TZ=` prefix (see
`tlo_embed.tasks.cron`). An interval schedule keeps a fixed grid (first run + k * interval),
so it does not drift by the scheduler's own latency.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, final

import attrs

from tlo_embed.codec.cbor import ENC_CBOR, decode
from tlo_embed.errors import BusyError, InvalidArgumentError, TloError
from tlo_embed.journal.core import Journal
from tlo_embed.journal.records import ANY, Event
from tlo_embed.journal.turns import Turn
from tlo_embed.store import sql
from tlo_embed.store.txn import Txn
from tlo_embed.tasks import model
from tlo_embed.tasks.admin import to_us
from tlo_embed.tasks.cron import CronSchedule, parse_cron
from tlo_embed.tasks.model import Job, TaskOptions
from tlo_embed.tasks.queue import JobQueue

#: The most jobs one schedule enqueues in one tick under the "all" policy.
MAX_CATCH_UP: Final = 1000
#: The name of the scheduler's row in the `leases` table.
LEASE_NAME: Final = "scheduler"

#: Called as hook("enqueued", job) after the turn that enqueued the job (the same shape as
#: `Database.on` hooks).
Hook = Callable[[str, Job], None]

_US: Final = 1_000_000
_SLICE: Final = 0.2  # seconds: how often a sleeping scheduler looks at its stop flags


# -- public records ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ScheduleInfo:
    """A task's schedule as recorded in the file (a `schedules` row).

    Attributes:
        task: the task's name.
        cron, interval: the cron expression, or the interval in seconds (one is None).
        catch_up: the catch-up policy: "skip", "once" or "all".
        next_run_us: the next due time.
        last_run_us: the due time of the last job this schedule enqueued (None: none yet).
        last_job: that job's id.
        runs: how many jobs this schedule has enqueued.
    """

    task: str
    cron: str | None
    interval: float | None
    catch_up: str
    next_run_us: int
    last_run_us: int | None
    last_job: str | None
    runs: int


@attrs.frozen(kw_only=True)
class ScheduledRun:
    """One upcoming run (see `Scheduler.next_runs`).

    Attributes:
        task: the task's name.
        at_us: when it falls due.
        cron, interval: the task's schedule (one is None).
        catch_up: the task's catch-up policy.
        overdue: the run is already due (no scheduler has handled it yet).
        persisted: False when no scheduler has recorded this schedule yet (a new or changed
            task): the times shown are computed from now, and the first tick records them.
    """

    task: str
    at_us: int
    cron: str | None
    interval: float | None
    catch_up: str
    overdue: bool
    persisted: bool


@attrs.frozen(kw_only=True)
class LeaseInfo:
    """Who holds the scheduler lease: `holder` since `since_us`, lapsing at `until_us`."""

    holder: str
    since_us: int
    until_us: int


@attrs.frozen(kw_only=True)
class FiredSchedule:
    """What one tick did for one due schedule.

    Attributes:
        task: the task's name.
        first_due_us: the oldest due run (the stored `next_run`).
        due_us: the runs jobs were enqueued for, oldest first (empty: all were skipped).
        jobs: the ids of the jobs enqueued for them.
        next_run_us: the schedule's next run, after now.
    """

    task: str
    first_due_us: int
    due_us: tuple[int, ...]
    jobs: tuple[str, ...]
    next_run_us: int


@attrs.frozen(kw_only=True)
class TickResult:
    """What one `Scheduler.tick` did.

    Attributes:
        leader: this scheduler held the lease and did the tick's work; False when another
            holder's live lease made it do nothing.
        holder, lease_until_us: the lease's holder and expiry after the tick (None: free).
        now_us: the time the tick acted as of.
        fired: one entry per schedule that was due.
        jobs: the jobs enqueued.
        next_due_us: the earliest next run of any schedule (None: no schedules).
        problems: scheduled tasks that could not be handled (e.g. a cron expression this
            version cannot parse), one line each; the other schedules still ran.
    """

    leader: bool
    holder: str | None
    lease_until_us: int | None
    now_us: int
    fired: tuple[FiredSchedule, ...]
    jobs: tuple[Job, ...]
    next_due_us: int | None
    problems: tuple[str, ...]


@attrs.frozen(kw_only=True)
class SchedulerStats:
    """What one `Scheduler.run` did."""

    ticks: int
    enqueued: int
    led: bool
    seconds: float


# -- timetables --------------------------------------------------------------------------------


@final
class Timetable:
    """The run times of one schedule: a cron expression, or a grid of `interval_us`.

    An interval grid is anchored at a known run (the stored `next_run`), so it never drifts.
    """

    def __init__(self, cron: CronSchedule | None, interval_us: int) -> None:
        self.cron = cron
        self.interval_us = interval_us

    def first_after(self, now: int) -> int:
        """The first run of a schedule that starts now."""
        if self.cron is not None:
            return self.cron.next_after(now)
        return now + self.interval_us

    def after(self, anchor: int, when: int) -> int:
        """The first run strictly after `when` (`anchor` is a run of the schedule)."""
        if self.cron is not None:
            return self.cron.next_after(when)
        if when < anchor:
            return anchor
        return anchor + ((when - anchor) // self.interval_us + 1) * self.interval_us

    def latest(self, anchor: int, when: int) -> int:
        """The last run at or before `when`, and not before `anchor` (a run <= when)."""
        if self.cron is not None:
            return max(anchor, self.cron.latest_at_or_before(when))
        return anchor + max(0, (when - anchor) // self.interval_us) * self.interval_us

    def runs_between(self, anchor: int, latest: int, cap: int) -> list[int]:
        """The most recent `cap` runs in [anchor, latest], oldest first."""
        if self.cron is None:
            count = (latest - anchor) // self.interval_us + 1
            first = max(0, count - cap)
            return [anchor + i * self.interval_us for i in range(first, count)]
        found: list[int] = []
        due = latest
        while due >= anchor and len(found) < cap:
            found.append(due)
            due = self.cron.latest_at_or_before(due - 1)
        found.reverse()
        return found


def plan_runs(
    table: Timetable, next_run: int, now: int, policy: str, grace_us: int,
    cap: int = MAX_CATCH_UP,
) -> tuple[list[int], int]:
    """Which due runs of a schedule to enqueue at `now`, and its next run after them.

    Args:
        table: the schedule's run times.
        next_run: its stored next run (<= now: it is due).
        policy: "skip", "once" or "all" (see the module docstring).
        grace_us: how late a run may be and still count as on time (for "skip").

    Returns:
        (the due times to enqueue a job for, oldest first; the next run, > now).
    """
    latest = table.latest(next_run, now)
    upcoming = table.after(next_run, now)
    if policy == model.CATCH_UP_ALL:
        return table.runs_between(next_run, latest, cap), upcoming
    if policy == model.CATCH_UP_SKIP and now - latest > grace_us:
        return [], upcoming
    return [latest], upcoming


# -- rows --------------------------------------------------------------------------------------


@final
class _Schedule:
    """A `schedules` row."""

    def __init__(self, row: Any) -> None:
        self.task: str = row[0]
        self.cron: str | None = row[1]
        self.interval_us: int | None = row[2]
        self.catch_up: str = row[3]
        self.next_run: int = row[4]
        self.last_run: int | None = row[5]
        self.last_job: str | None = row[6]
        self.runs: int = row[7]

    def info(self) -> ScheduleInfo:
        return ScheduleInfo(
            task=self.task, cron=self.cron,
            interval=None if self.interval_us is None else self.interval_us / _US,
            catch_up=self.catch_up, next_run_us=self.next_run, last_run_us=self.last_run,
            last_job=self.last_job, runs=self.runs,
        )


@final
class _Task:
    """A scheduled task as recorded in the file."""

    def __init__(self, name: str, options: TaskOptions) -> None:
        self.name = name
        self.options = options
        self.cron = options.cron
        self.interval_us: int | None = (
            None if options.interval is None else round(options.interval * _US)
        )

    def same_spec(self, row: _Schedule) -> bool:
        return row.cron == self.cron and row.interval_us == self.interval_us

    def timetable(self) -> Timetable:
        if self.cron is not None:
            return Timetable(parse_cron(self.cron), 0)
        assert self.interval_us is not None  # TaskOptions.scheduled
        return Timetable(None, self.interval_us)


_SCHEDULE_COLUMNS: Final = (
    "task, cron, interval_us, catch_up, next_run, last_run, last_job, runs"
)
#: The branch is bound through sql.TEXT_PARAM: with a bare `?`, SQLite re-prepared this
#: min() query on every tick (why: store/sql.py).
_MIN_NEXT_RUN: Final = f"SELECT min(next_run) FROM schedules WHERE branch = {sql.TEXT_PARAM}"


def _read_schedules(conn: Any, branch: str) -> dict[str, _Schedule]:
    # Branch bound through sql.TEXT_PARAM: with a bare `?` (equality + ORDER BY / min()),
    # SQLite re-prepared these schedule/task queries on every execution (why: store/sql.py).
    return {
        str(row[0]): _Schedule(row) for row in sql.rows(
            conn,
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE branch = {sql.TEXT_PARAM}"
            " ORDER BY task",
            (branch,),
        )
    }


def _read_lease(conn: Any, branch: str) -> LeaseInfo | None:
    rows = sql.rows(
        conn, "SELECT holder, since, lease_until FROM leases WHERE branch = ? AND name = ?",
        (branch, LEASE_NAME),
    )
    if not rows:
        return None
    return LeaseInfo(holder=rows[0][0], since_us=rows[0][1], until_us=rows[0][2])


def _read_tasks(conn: Any, branch: str, problems: list[str]) -> dict[str, _Task]:
    """The scheduled tasks recorded in the file; ones whose options cannot be read are
    reported in `problems` and left out."""
    found: dict[str, _Task] = {}
    for name, blob in sql.rows(
        conn, f"SELECT name, options FROM tasks WHERE branch = {sql.TEXT_PARAM} ORDER BY name",
        (branch,),
    ):
        data = decode(blob, ENC_CBOR)
        if not isinstance(data, dict) or (
            data.get("cron") is None and data.get("interval") is None
        ):
            continue
        try:
            options = TaskOptions.from_data(data)
        except (TloError, TypeError, ValueError) as e:
            problems.append(f"task {name!r}: its schedule cannot be used: {e}")
            continue
        found[str(name)] = _Task(str(name), options)
    return found


def default_holder() -> str:
    """host:pid:random — unique per scheduler, readable in `tlo schedule`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# -- the scheduler -----------------------------------------------------------------------------


@final
class Scheduler:
    """Enqueues the jobs of a branch's interval and cron tasks. Create with
    `Database.scheduler(...)`; see the module docstring for the rules.

    Args:
        journal, queue: the file's journal and job queue.
        branch: the branch whose tasks it schedules.
        holder: this scheduler's name in the lease (default host:pid:random).
        lease: seconds the lease lasts without renewal.
        grace: seconds a run may be late and still count as on time (the "skip" policy).
        poll: the longest `run` sleeps between ticks, in seconds (it also wakes for the
            next due run and to renew the lease).
        hooks: called as hook("enqueued", job) for each job enqueued, after the turn.
    """

    def __init__(
        self,
        journal: Journal,
        queue: JobQueue,
        *,
        branch: str,
        holder: str | None = None,
        lease: float = 60.0,
        grace: float = 60.0,
        poll: float = 1.0,
        hooks: Sequence[Hook] = (),
    ) -> None:
        if not lease > 0 or not poll > 0:
            msg = f"lease and poll must be > 0 seconds, got lease={lease}, poll={poll}"
            raise InvalidArgumentError(msg)
        if not grace >= 0:
            msg = f"grace must be >= 0 seconds, got {grace}"
            raise InvalidArgumentError(msg)
        if holder is not None and not holder:
            msg = "a scheduler holder needs a non-empty name"
            raise InvalidArgumentError(msg)
        self._journal = journal
        self._queue = queue
        self.branch = branch
        self.holder = holder or default_holder()
        self.lease = lease
        self.grace = grace
        self.poll = poll
        self._lease_us = max(1, int(lease * _US))
        self._grace_us = int(grace * _US)
        self._hooks = hooks  # the caller's list: hooks added later are seen
        self._stop = threading.Event()

    def __repr__(self) -> str:
        return f"<Scheduler {self.holder!r} branch={self.branch!r}>"

    # -- one tick ------------------------------------------------------------------------------

    def tick(self, now: datetime | float | None = None) -> TickResult:
        """Take or renew the lease, sync the schedules, enqueue what is due: one turn.

        Args:
            now: act as of this time (an aware datetime or epoch seconds); default: the
                turn's recorded time, from the database's clock.

        Returns:
            What happened. With `leader=False` nothing was written: another scheduler
            holds a live lease.
        """
        explicit = None if now is None else to_us(now)
        early = self._quiet(self._journal.now_us() if explicit is None else explicit)
        if early is not None:
            return early
        new_jobs: list[Job] = []
        with self._journal.turn_scope(self.branch) as (txn, turn):
            at = turn.recorded_at_us if explicit is None else explicit
            lease = _read_lease(txn.conn, self.branch)
            if lease is not None and lease.holder != self.holder and lease.until_us > at:
                return self._follower(lease, at, txn.conn)
            lease = self._take_lease(txn, turn, lease, at)
            problems: list[str] = []
            self._sync(txn, turn, at, problems)
            fired = self._fire(txn, turn, at, new_jobs, problems)
            next_due = sql.value(txn.conn, _MIN_NEXT_RUN, (self.branch,))
        for job in new_jobs:
            for hook in self._hooks:
                hook("enqueued", job)
        return TickResult(
            leader=True, holder=lease.holder, lease_until_us=lease.until_us, now_us=at,
            fired=tuple(fired), jobs=tuple(new_jobs),
            next_due_us=None if next_due is None else int(next_due), problems=tuple(problems),
        )

    def _quiet(self, at: int) -> TickResult | None:
        """The tick's result when it has nothing to write (read without the write lock:
        an idle scheduler does not contend with workers), else None."""
        conn = self._journal.store.connection()
        lease = _read_lease(conn, self.branch)
        if lease is None:
            return None
        if lease.holder != self.holder:
            return self._follower(lease, at, conn) if lease.until_us > at else None
        if lease.until_us - at < self._lease_us // 2:
            return None
        problems: list[str] = []
        tasks = _read_tasks(conn, self.branch, problems)
        schedules = _read_schedules(conn, self.branch)
        if set(tasks) != set(schedules):
            return None
        next_due: int | None = None
        for name, row in schedules.items():
            task = tasks[name]
            if not task.same_spec(row) or task.options.catch_up != row.catch_up:
                return None
            if row.next_run <= at:
                return None
            next_due = row.next_run if next_due is None else min(next_due, row.next_run)
        return TickResult(
            leader=True, holder=lease.holder, lease_until_us=lease.until_us, now_us=at,
            fired=(), jobs=(), next_due_us=next_due, problems=tuple(problems),
        )

    def _follower(self, lease: LeaseInfo, at: int, conn: Any) -> TickResult:
        next_due = sql.value(conn, _MIN_NEXT_RUN, (self.branch,))
        return TickResult(
            leader=False, holder=lease.holder, lease_until_us=lease.until_us, now_us=at,
            fired=(), jobs=(), next_due_us=None if next_due is None else int(next_due),
            problems=(),
        )

    def _take_lease(self, txn: Txn, turn: Turn, lease: LeaseInfo | None, at: int) -> LeaseInfo:
        """Take a free or lapsed lease, or renew ours when less than half of it remains."""
        ours = lease is not None and lease.holder == self.holder and lease.until_us > at
        if lease is not None and ours and lease.until_us - at >= self._lease_us // 2:
            return lease
        since = lease.since_us if lease is not None and ours else at
        taken = LeaseInfo(holder=self.holder, since_us=since, until_us=at + self._lease_us)
        self._journal.append_in(txn, turn, model.SCHEDULER_STREAM, Event(model.LEASE_TAKEN, {
            "name": LEASE_NAME, "holder": self.holder, "since": since, "until": taken.until_us,
        }), ANY)
        return taken

    def _sync(self, txn: Txn, turn: Turn, at: int, problems: list[str]) -> None:
        """Record schedules for new or changed scheduled tasks; drop those of removed ones."""
        tasks = _read_tasks(txn.conn, self.branch, problems)
        schedules = _read_schedules(txn.conn, self.branch)
        for name, task in tasks.items():
            row = schedules.get(name)
            if row is not None and task.same_spec(row):
                if row.catch_up == task.options.catch_up:
                    continue
                next_run = row.next_run  # only the policy changed: keep the timetable
            else:
                try:
                    next_run = task.timetable().first_after(at)
                except TloError as e:
                    problems.append(f"task {name!r}: cannot compute its next run: {e}")
                    continue
            self._emit(txn, turn, model.SCHEDULE_SET, {
                "task": name, "cron": task.cron, "interval_us": task.interval_us,
                "catch_up": task.options.catch_up, "next_run": next_run,
            })
        for name in schedules:
            if name not in tasks:
                self._emit(txn, turn, model.SCHEDULE_REMOVED, {"task": name})

    def _fire(
        self, txn: Txn, turn: Turn, at: int, new_jobs: list[Job], problems: list[str]
    ) -> list[FiredSchedule]:
        """Enqueue the jobs of every due schedule and move its next run past `at`."""
        fired: list[FiredSchedule] = []
        tasks = _read_tasks(txn.conn, self.branch, [])
        due_rows = [
            _Schedule(row) for row in sql.rows(
                txn.conn,
                # Branch through sql.TEXT_PARAM (bare, re-prepared every tick); the range
                # bound `next_run <= ?` does not re-plan and stays bare.
                f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE branch = {sql.TEXT_PARAM}"
                " AND next_run <= ? ORDER BY next_run, task",
                (self.branch, at),
            )
        ]
        for row in due_rows:
            task = tasks.get(row.task)
            if task is None:  # _sync dropped it in this turn
                continue
            try:
                due, upcoming = plan_runs(
                    task.timetable(), row.next_run, at, row.catch_up, self._grace_us
                )
            except TloError as e:
                problems.append(f"task {row.task!r}: cannot compute its runs: {e}")
                continue
            ids: list[str] = []
            for when in due:
                job = self._queue.enqueue(
                    self.branch, row.task, None, task.options, eta_us=when,
                    dedup_key=f"schedule:{row.task}:{when}",
                )
                if job.seq == turn.seq:  # else a job for this run is already waiting
                    ids.append(job.id)
                    new_jobs.append(job)
            self._emit(txn, turn, model.SCHEDULE_FIRED, {
                "task": row.task, "first_due": row.next_run, "due": due, "jobs": ids,
                "next_run": upcoming,
            })
            fired.append(FiredSchedule(
                task=row.task, first_due_us=row.next_run, due_us=tuple(due), jobs=tuple(ids),
                next_run_us=upcoming,
            ))
        return fired

    def _emit(self, txn: Txn, turn: Turn, kind: str, data: dict[str, Any]) -> None:
        self._journal.append_in(txn, turn, model.SCHEDULER_STREAM, Event(kind, data), ANY)

    # -- the loop ------------------------------------------------------------------------------

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        poll: float | None = None,
        max_ticks: int | None = None,
    ) -> SchedulerStats:
        """Tick until told to stop, sleeping until the next due run in between.

        Sleeps at most `poll` seconds, and at most a third of the lease while holding it
        (so it is renewed in time); a scheduler that does not hold the lease wakes when the
        holder's lease would lapse. On the way out it releases the lease, so another
        scheduler can take over at once.

        Args:
            stop: return when this event is set (`Scheduler.stop()` works too).
            poll: override the scheduler's `poll` for this run.
            max_ticks: return after this many ticks.

        Returns:
            How many ticks ran and jobs were enqueued.
        """
        pause_max = self.poll if poll is None else poll
        if not pause_max > 0:
            msg = f"poll must be > 0 seconds, got {pause_max}"
            raise InvalidArgumentError(msg)
        started = time.monotonic()
        ticks = 0
        enqueued = 0
        led = False
        try:
            while not self._stopping(stop):
                try:
                    result = self.tick()
                except BusyError:
                    # Another process held the write lock too long; try again later.
                    self._sleep(pause_max, stop)
                    continue
                ticks += 1
                enqueued += len(result.jobs)
                led = led or result.leader
                if max_ticks is not None and ticks >= max_ticks:
                    break
                self._sleep(self._pause(result, pause_max), stop)
        finally:
            if led:
                try:
                    self.release()
                except TloError:
                    pass  # closed or busy: the lease simply lapses
        return SchedulerStats(
            ticks=ticks, enqueued=enqueued, led=led, seconds=time.monotonic() - started
        )

    def stop(self) -> None:
        """Ask `run` to return (safe from any thread and from signal handlers)."""
        self._stop.set()

    def release(self) -> bool:
        """Give up the lease if this scheduler holds it, in one turn.

        Returns:
            True if a lease was released.
        """
        with self._journal.turn_scope(self.branch) as (txn, turn):
            lease = _read_lease(txn.conn, self.branch)
            if lease is None or lease.holder != self.holder:
                return False
            self._emit(txn, turn, model.LEASE_RELEASED, {
                "name": LEASE_NAME, "holder": self.holder,
            })
        return True

    def _pause(self, result: TickResult, pause_max: float) -> float:
        now = self._journal.now_us()
        pause = pause_max
        if result.leader:
            pause = min(pause, self.lease / 3.0)
            if result.next_due_us is not None:
                pause = min(pause, (result.next_due_us - now) / _US)
        elif result.lease_until_us is not None:
            pause = min(pause, (result.lease_until_us - now) / _US)
        return max(0.0, pause)

    def _stopping(self, stop: threading.Event | None) -> bool:
        return self._stop.is_set() or (stop is not None and stop.is_set())

    def _sleep(self, seconds: float, stop: threading.Event | None) -> None:
        deadline = time.monotonic() + seconds
        waiter = stop if stop is not None else self._stop
        while not self._stopping(stop):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            waiter.wait(min(left, _SLICE))

    # -- queries -------------------------------------------------------------------------------

    def schedules(self) -> list[ScheduleInfo]:
        """The schedules recorded in the file, by task name."""
        rows = _read_schedules(self._journal.store.connection(), self.branch)
        return [row.info() for row in rows.values()]

    def lease_holder(self) -> LeaseInfo | None:
        """The scheduler lease as recorded (it may have lapsed: compare `until_us` with
        the time), or None when no scheduler holds it."""
        return _read_lease(self._journal.store.connection(), self.branch)

    def next_runs(
        self, limit: int = 10, *, now: datetime | float | None = None
    ) -> list[ScheduledRun]:
        """The next `limit` runs of all scheduled tasks, soonest first (what `tlo schedule`
        lists). Writes nothing.

        A schedule already recorded in the file starts from its stored next run (marked
        `overdue` when that is past); a task no scheduler has seen yet, or whose schedule
        changed, starts from `now` (marked `persisted=False`).

        Args:
            limit: how many runs to list in all.
            now: list as of this time (aware datetime or epoch seconds); default: the
                database clock.
        """
        if limit < 1:
            return []
        at = self._journal.now_us() if now is None else to_us(now)
        conn = self._journal.store.connection()
        tasks = _read_tasks(conn, self.branch, [])
        schedules = _read_schedules(conn, self.branch)
        runs: list[ScheduledRun] = []
        for name, task in tasks.items():
            row = schedules.get(name)
            try:
                table = task.timetable()
                persisted = row is not None and task.same_spec(row)
                first = row.next_run if row is not None and persisted else table.first_after(at)
                times = [first]
                current = max(first, at)
                while len(times) < limit:
                    current = table.after(first, current)
                    times.append(current)
            except TloError:
                continue  # reported by tick
            interval = None if task.interval_us is None else task.interval_us / _US
            runs.extend(
                ScheduledRun(
                    task=name, at_us=when, cron=task.cron, interval=interval,
                    catch_up=task.options.catch_up, overdue=when <= at, persisted=persisted,
                )
                for when in times
            )
        runs.sort(key=lambda r: (r.at_us, r.task))
        return runs[:limit]
