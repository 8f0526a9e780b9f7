"""`Database`: the public face of an open .tlo file (returned by `tlo_embed.open`).

Public methods open the turn; the layers below do the work inside it. Every method acts on
the handle's current branch (`main` unless given to `open`).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, final

import attrs

from tlo_embed.clock import Clock, SystemClock
from tlo_embed.codec.cbor import DEFAULT_COMPRESS_THRESHOLD, Codec
from tlo_embed.codec.upcast import Upcaster, Upcasters
from tlo_embed.errors import InvalidArgumentError, NotFoundError
from tlo_embed.handlers.runtime import DEFAULT_MAX_ATTEMPTS, DEFAULT_SNAPSHOT_EVERY, Executed, HandlerRuntime
from tlo_embed.journal import branches
from tlo_embed.journal.check import CheckReport, Progress, check
from tlo_embed.journal.context import TurnHandle
from tlo_embed.journal.core import Journal
from tlo_embed.journal.read import EventFilter
from tlo_embed.journal.records import ANY, AppendResult, Event, RecordedEvent, coerce_event_id
from tlo_embed.journal.subscriptions import (
    Subscription,
    SubscriptionInfo,
    delete_subscription,
    list_subscriptions,
)
from tlo_embed.plugins.projection import PluginsApplier
from tlo_embed.store.connection import DURABILITY_LEVELS
from tlo_embed.store.migrate import SCHEMA_VERSION
from tlo_embed.store.sql import rows as sql_rows
from tlo_embed.store.sql import value as sql_value
from tlo_embed.store.txn import DEFAULT_BUSY_TIMEOUT, Store
from tlo_embed.tasks.admin import QueueAdmin, to_us
from tlo_embed.tasks.metrics import QueueStats, queue_stats
from tlo_embed.tasks.model import Job, TaskInfo, TaskOptions, job_stream
from tlo_embed.tasks.projection import TasksApplier
from tlo_embed.tasks.queue import JobQueue
from tlo_embed.tasks.registry import TaskFunction, TaskRegistry
from tlo_embed.tasks.scheduler import Scheduler
from tlo_embed.tasks.settings import WorkerSettings
from tlo_embed.tasks.worker import Hook, Worker, fire_hooks

if TYPE_CHECKING:
    from tlo_embed.plugins.host import PluginHost, Plugins

__version__: Final = "0.1.0"


@attrs.frozen(kw_only=True)
class BranchInfo:
    """A branch as reported by `Database.status()`."""

    name: str
    parent: str | None
    fork_seq: int
    head_seq: int


@attrs.frozen(kw_only=True)
class Status:
    """Facts about an open file (what `tlo status` prints)."""

    path: str
    size_bytes: int
    schema_version: int
    durability: str
    branch: str
    last_seq: int
    turns: int
    events: int
    streams: int
    subscriptions: int
    snapshots: int
    branches: tuple[BranchInfo, ...]
    created_at_us: int | None
    created_by: str | None


@final
class Database:
    """An open .tlo file. Create it with `tlo_embed.open`; close it (or use `with`).

    The handle may be shared by threads: each thread gets its own SQLite connection, and
    writes from all of them are serialized.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        durability: str = "normal",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        branch: str = branches.MAIN,
        compress_threshold: int = DEFAULT_COMPRESS_THRESHOLD,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        clock: Clock | None = None,
        readonly: bool = False,
    ) -> None:
        if durability not in DURABILITY_LEVELS:
            msg = f"durability must be one of {sorted(DURABILITY_LEVELS)}, got {durability!r}"
            raise InvalidArgumentError(msg)
        if busy_timeout <= 0:
            msg = f"busy_timeout must be > 0 seconds, got {busy_timeout}"
            raise InvalidArgumentError(msg)
        if compress_threshold < 0 or snapshot_every < 0:
            msg = "compress_threshold and snapshot_every must be >= 0"
            raise InvalidArgumentError(msg)
        the_clock: Clock = clock if clock is not None else SystemClock()
        self.path = os.fspath(path)
        self._store = Store(
            self.path,
            durability=durability,
            busy_timeout=busy_timeout,
            create=create,
            now_us=the_clock.now_us(),
            library_version=__version__,
            readonly=readonly,
        )
        self._journal = Journal(
            self._store, codec=Codec(compress_threshold), upcasters=Upcasters(), clock=the_clock,
            appliers=[TasksApplier(), PluginsApplier()],
        )
        self._handlers = HandlerRuntime(self._journal, snapshot_every=snapshot_every)
        self._jobs = JobQueue(self._journal)
        self._registry = TaskRegistry(self._journal)
        # The plugin host (and wasmtime, ~60 ms to import) is loaded on first use.
        self._plugin_host: PluginHost | None = None
        self._plugins: Plugins | None = None
        self._registry.resolve_target = self._plugin_target
        self._hooks: list[Hook] = []
        self.branch = branch
        if branch != branches.MAIN:
            try:
                self._journal.segments(branch)  # NotFoundError for an unknown branch
            except BaseException:
                self._store.close()
                raise

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent). Later calls raise ClosedError."""
        if self._plugin_host is not None:
            self._plugin_host.close()
        self._store.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._store.closed

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"branch={self.branch!r}"
        return f"<tlo_embed.Database {self.path!r} {state}>"

    @property
    def journal(self) -> Journal:
        """The journal engine object (for layers built on this one)."""
        return self._journal

    @property
    def plugins(self) -> Plugins:
        """The WebAssembly plugins of this branch: install, call, grant, revoke, remove,
        list, log, verify, subscribe (see `tlo_embed.plugins.host.Plugins`)."""
        view = self._plugins
        if view is None or view.branch != self.branch:
            from tlo_embed.plugins.host import Plugins

            view = Plugins(self._plugin_runtime(), self.branch)
            self._plugins = view
        return view

    def _plugin_runtime(self) -> PluginHost:
        host = self._plugin_host
        if host is None:
            from tlo_embed.plugins.host import PluginHost

            host = PluginHost(self._journal)
            self._plugin_host = host
        return host

    def _plugin_target(self, branch: str, target: str) -> TaskFunction | None:
        """Resolve a task's "plugin:<name>#<export>" import path (None for other paths)."""
        if not target.startswith("plugin:"):
            return None
        return self._plugin_runtime().task_function(branch, target)

    # -- writing -------------------------------------------------------------------------------

    def append(
        self,
        stream: str,
        events: Sequence[Event] | Event,
        *,
        expected_version: int = ANY,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> AppendResult:
        """Append events to `stream` in one turn.

        Args:
            stream: the stream's name (any non-empty string; "$"-prefixed names are the
                engine's).
            events: one Event or a list; all are recorded in one turn, or none.
            expected_version: the stream's version you expect: an int (0 = no stream yet),
                `ANY` (default), `NO_STREAM` or `STREAM_EXISTS`.
            idempotency_key: a key for the whole append; repeating an append with the same
                key returns the original result and writes nothing.
            correlation_id, causation_id: recorded on the turn.

        Returns:
            AppendResult(seq, version, ...); `duplicate=True` if it was a repeat.

        Raises:
            ConcurrencyError: the stream is not at `expected_version`.
            IdempotencyConflictError: the key or an event id was used for a different append.
            CodecError: data or metadata cannot be encoded (nothing is written).
        """
        return self._journal.append(
            self.branch, stream, events,
            expected_version=expected_version, idempotency_key=idempotency_key,
            correlation_id=correlation_id, causation_id=causation_id,
        )

    def turn(
        self,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> TurnHandle:
        """Open one turn spanning several appends (and your own SQL), committed together.

        Example::

            with db.turn() as t:
                t.append("order-1", Event("OrderPlaced", {...}), expected_version=0)
                t.append("customer-7", Event("OrderLinked", {...}))
        """
        return TurnHandle(self._journal, self._journal.turn_scope(
            self.branch, correlation_id=correlation_id, causation_id=causation_id,
            idempotency_key=idempotency_key,
        ))

    def register_upcaster(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        """Upcast `event_type` data from `from_version` to `from_version + 1` on read."""
        self._journal.upcasters.register(event_type, from_version, fn)

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator form of `register_upcaster`."""

        def register(fn: Upcaster) -> Upcaster:
            self.register_upcaster(event_type, from_version, fn)
            return fn

        return register

    # -- reading -------------------------------------------------------------------------------

    def read(
        self,
        stream: str,
        *,
        from_version: int = 1,
        backward: bool = False,
        limit: int | None = None,
    ) -> Iterator[RecordedEvent]:
        """The events of `stream`, lazily, in version order (newest first if `backward`).

        `from_version` is inclusive; for a backward read, 0 (or any value past the end)
        starts from the newest event.
        """
        if backward and from_version == 1:
            from_version = 0
        return self._journal.read(
            self.branch, stream, from_version=from_version, backward=backward, limit=limit
        )

    def read_all(
        self,
        from_seq: int = 0,
        *,
        to_seq: int | None = None,
        types: Sequence[str] | str | None = None,
        stream_prefix: str | None = None,
        limit: int | None = None,
    ) -> Iterator[RecordedEvent]:
        """Every event in journal order, lazily, from turn `from_seq` (inclusive).

        Args:
            types: GLOB patterns on the event type ("Order*").
            stream_prefix: only streams starting with this.
            to_seq: stop after this turn.
        """
        return self._journal.read_all(
            self.branch, from_seq=from_seq,
            to_seq=branches.UNBOUNDED if to_seq is None else to_seq,
            where=EventFilter([types] if isinstance(types, str) else types, stream_prefix),
            limit=limit,
        )

    def get_event(self, event_id: uuid.UUID | str) -> RecordedEvent:
        """The event with this id.

        Raises:
            NotFoundError: no such event on this branch.
        """
        key = coerce_event_id(event_id)
        found = None if key is None else self._journal.get_event(self.branch, key)
        if found is None:
            msg = f"no event with id {event_id} on branch {self.branch!r}"
            raise NotFoundError(msg)
        return found

    def stream_version(self, stream: str) -> int:
        """The stream's current version (0 if it does not exist)."""
        return self._journal.stream_version(self.branch, stream)

    @property
    def last_seq(self) -> int:
        """The seq of the newest turn on this branch (0 when empty)."""
        return self._journal.head(self.branch)

    def wait(self, after_seq: int, timeout: float | None = None) -> bool:
        """Block until a turn newer than `after_seq` commits (any process); False on timeout."""
        return self._journal.wait_for_head(self.branch, after_seq, timeout)

    # -- subscriptions -------------------------------------------------------------------------

    def subscribe(
        self,
        name: str,
        *,
        types: Sequence[str] | str | None = None,
        stream_prefix: str | None = None,
        from_seq: int | None = None,
    ) -> Subscription:
        """A durable named subscription (created on first use, resumed afterwards).

        Args:
            types, stream_prefix: which events it delivers (see `read_all`).
            from_seq: where a new subscription starts (default: the beginning); given for an
                existing one, it moves the position there (catch-up or skip).
        """
        return Subscription(
            self._journal, name=name, branch=self.branch,
            types=[types] if isinstance(types, str) else types,
            stream_prefix=stream_prefix, from_seq=from_seq,
        )

    def subscriptions(self) -> list[SubscriptionInfo]:
        """Every subscription of this branch."""
        return list_subscriptions(self._journal, self.branch)

    def unsubscribe(self, name: str) -> None:
        """Delete a subscription and its position.

        Raises:
            NotFoundError: no such subscription.
        """
        delete_subscription(self._journal, self.branch, name)

    # -- handlers ------------------------------------------------------------------------------

    def execute(
        self,
        handler: Any,
        stream: str,
        command: Any,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Executed:
        """Run `command` through an event-sourced handler on `stream`.

        Loads the state (snapshot plus newer events), calls `handler.process(state, command)`,
        appends the events it returns with optimistic concurrency (retrying on conflict),
        folds them, and snapshots every `snapshot_every` events.

        Raises:
            ConcurrencyError: `max_attempts` conflicts in a row.
        """
        return self._handlers.execute(
            handler, self.branch, stream, command, max_attempts=max_attempts,
            correlation_id=correlation_id, causation_id=causation_id,
        )

    def state(self, handler: Any, stream: str, *, at_seq: int | None = None) -> Any:
        """The handler's state of `stream`, now or as of turn `at_seq`."""
        spec = self._handlers.spec(handler)
        upto = branches.UNBOUNDED if at_seq is None else at_seq
        state, _ = self._handlers.load(spec, self.branch, stream, upto)
        return state

    # -- tasks ---------------------------------------------------------------------------------

    def task(
        self,
        fn: TaskFunction | None = None,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int = 0,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 3600.0,
        timeout: float | None = None,
        exclusive: bool = False,
        cron: str | None = None,
        interval: float | None = None,
        catch_up: str = "once",
    ) -> Any:
        """Register a function as a task; use as `@db.task` or `@db.task(queue=..., ...)`.

        The definition (name, `module:qualname`, options) is recorded in the file, so other
        processes can run the task. Returns the function unchanged.

        Args:
            name: the task's name (default: the function's `__name__`).
            queue, priority: where its jobs go, and their default priority.
            retries: attempts after the first before a job is a dead letter (state failed).
            backoff, max_backoff: seconds before the first retry, doubling each time up to
                `max_backoff`, plus a deterministic jitter of up to 25%.
            timeout: seconds an attempt may run before it counts as failed.
            exclusive: never run two jobs of this task at once.
            cron: run on a schedule: a cron expression such as "*/5 * * * *" (UTC; see
                `tlo_embed.tasks.cron`). A running `db.scheduler()` enqueues the jobs.
            interval: run every `interval` seconds (instead of `cron`).
            catch_up: what the scheduler does with runs that fell due while it was not
                running: "skip" them, run "once" for all of them (default), or run "all"
                of them (at most 1000); see `tlo_embed.tasks.scheduler`.

        Raises:
            InvalidArgumentError: a bad option (both cron and interval, a malformed cron
                expression, an unknown catch_up...); nothing is recorded.
        """
        options = TaskOptions(
            queue=queue, priority=priority, retries=retries, backoff=backoff,
            max_backoff=max_backoff, timeout=timeout, exclusive=exclusive, cron=cron,
            interval=interval, catch_up=catch_up,
        )

        def register(target: TaskFunction) -> TaskFunction:
            self._registry.register(self.branch, target, name=name, options=options)
            return target

        return register if fn is None else register(fn)

    def plugin_task(
        self,
        name: str,
        *,
        plugin: str,
        export: str,
        queue: str = "default",
        priority: int = 0,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 3600.0,
        timeout: float | None = None,
        exclusive: bool = False,
        cron: str | None = None,
        interval: float | None = None,
        catch_up: str = "once",
    ) -> str:
        """Register a task implemented by a plugin export (recorded like `task`, with the
        import path "plugin:<plugin>#<export>"). Its jobs run in inline and thread workers
        of any process that opens the file; the payload becomes the export's arguments (a
        dict of parameter names, a list, or the one argument; see `PluginTask`).

        Returns:
            The task's name.

        Raises:
            PluginNotFound: no such plugin or export on this branch.
        """
        host = self._plugin_runtime()
        plan = host.export(host.load(self.branch, plugin), export)
        options = TaskOptions(
            queue=queue, priority=priority, retries=retries, backoff=backoff,
            max_backoff=max_backoff, timeout=timeout, exclusive=exclusive, cron=cron,
            interval=interval, catch_up=catch_up,
        )
        target = f"plugin:{plugin}#{plan.name}"
        fn = host.task_function(self.branch, target)
        assert fn is not None
        return self._registry.register(
            self.branch, fn, name=name, options=options, import_path=target
        )

    def tasks(self) -> list[TaskInfo]:
        """Every task recorded in the file."""
        return self._registry.list(self.branch)

    def remove_task(self, name: str) -> None:
        """Forget a task definition (its jobs and history stay).

        Raises:
            TaskNotFoundError: no such task.
        """
        self._registry.remove(self.branch, name)

    def enqueue(
        self,
        task: str,
        payload: Any = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        delay: float = 0.0,
        eta: datetime | float | None = None,
        dedup_key: str | None = None,
        max_attempts: int | None = None,
        after: Sequence[str | Job] = (),
        exclusive_key: str | None = None,
    ) -> Job:
        """Add a job for `task`, in one turn.

        Args:
            payload: the task's arguments: a dict (keyword arguments), a list (positional),
                None, or one CBOR value.
            queue, priority: override the task's defaults (higher priority runs first).
            delay, eta: not before `delay` seconds from now, or not before `eta` (an aware
                datetime or epoch seconds).
            dedup_key: while a job with this key is waiting or running, enqueueing another
                returns that job instead.
            max_attempts: override the task's `retries + 1`.
            after: jobs (or job ids) that must succeed first; if one fails or is cancelled,
                this job is marked blocked.
            exclusive_key: never run two jobs with this key at once.

        Raises:
            TaskNotFoundError: the task is not registered here nor in the file.
            NotFoundError: a job in `after` does not exist.
            CodecError: the payload is not CBOR-encodable (nothing is written).
        """
        options = self._registry.options(self.branch, task)
        if dedup_key is not None:
            holder = self._jobs.by_dedup_key(self.branch, dedup_key)
            if holder is not None:
                return holder  # nothing enqueued, so no hook fires
        job = self._jobs.enqueue(
            self.branch, task, payload, options, priority=priority, delay=delay,
            eta_us=None if eta is None else to_us(eta), dedup_key=dedup_key,
            max_attempts=max_attempts, after=[a.id if isinstance(a, Job) else a for a in after],
            exclusive_key=exclusive_key, queue=queue,
        )
        fire_hooks(self._hooks, "enqueued", job)
        return job

    def worker(
        self,
        *,
        queues: Sequence[str] | str | None = None,
        concurrency: int | None = None,
        executor: str | None = None,
        lease: float | None = None,
        poll: float | None = None,
        grace: float | None = None,
        worker_id: str | None = None,
        settings: WorkerSettings | None = None,
        batch: int = 1,
    ) -> Worker:
        """A worker for this branch's jobs; call `.run(...)` on it (see `Worker`).

        Each argument left None comes from `settings` when given, else from its `TLO_*`
        environment variable, else from the default (see `WorkerSettings`): by default one
        job at a time, inline, 30 s leases.

        Args:
            queues: the queues to take jobs from (a list or "a,b"; None: every queue).
            concurrency: how many jobs run at once.
            executor: "inline" (in the calling thread), "thread" (a thread pool) or
                "process" (child processes; tasks must be importable by `module:qualname`).
            lease: seconds a claim lasts without renewal (renewed every third of it).
            poll: seconds between looks for new jobs when idle.
            grace: seconds running jobs may take to finish once the worker is told to stop
                before they are released to other workers (default: no limit).
            worker_id: the worker's name in the file (default host:pid:random).
            settings: resolved settings to start from instead of the environment.
            batch: jobs per turn. Inline: claim this many jobs per turn; they run one after
                another under leases taken at the claim (keep `batch * job time` well under
                `lease`), and their outcomes are recorded in the turn that claims the next
                batch. Thread and process executors: hold finished outcomes back until this
                many have finished (at most 50 ms, or until nothing else runs), then record
                them in one turn with the claims for the freed slots. Whatever `batch`, a
                worker records outcomes and its next claims in one turn.

        Raises:
            InvalidArgumentError: a value (or a `TLO_*` variable) is out of range.
        """
        base = settings if settings is not None else WorkerSettings.from_env()
        chosen = base.with_arguments(
            queues=queues, concurrency=concurrency, executor=executor, lease=lease, poll=poll,
            grace=grace, worker_id=worker_id,
        )
        return Worker(
            self._jobs, self._registry, branch=self.branch, queues=chosen.queues,
            concurrency=chosen.concurrency, executor=chosen.executor, lease=chosen.lease,
            poll=chosen.poll, worker_id=chosen.worker_id, hooks=self._hooks,
            grace=chosen.grace, batch=batch,
        )

    def scheduler(
        self,
        *,
        holder: str | None = None,
        lease: float = 60.0,
        grace: float = 60.0,
        poll: float = 1.0,
    ) -> Scheduler:
        """The scheduler of this branch's interval and cron tasks: call `.run(...)` on it,
        or `.tick()` for one step (see `Scheduler`). Writes nothing until then.

        Only one scheduler per branch is active at a time, across processes: the others
        wait for its lease to lapse.

        Args:
            holder: the name it holds the lease under (default host:pid:random).
            lease: seconds the lease lasts without renewal.
            grace: seconds a run may be late and still count as on time (catch_up="skip").
            poll: the longest `run` sleeps between ticks, in seconds.
        """
        return Scheduler(
            self._journal, self._jobs, branch=self.branch, holder=holder, lease=lease,
            grace=grace, poll=poll, hooks=self._hooks,
        )

    def on(self, hook: Hook) -> Hook:
        """Call `hook(event, job)` on job transitions: enqueued, started, succeeded, failed,
        retrying, dead (for enqueues through this handle and its workers, after the turn)."""
        self._hooks.append(hook)
        return hook

    def job(self, job_id: str | Job) -> Job:
        """The job as it stands now.

        Raises:
            NotFoundError: no such job.
        """
        return self.queue.get(job_id.id if isinstance(job_id, Job) else job_id)

    def job_history(self, job_id: str) -> list[RecordedEvent]:
        """Every transition of the job, as recorded (enqueued, claims, failures, result...)."""
        return list(self._journal.read(self.branch, job_stream(job_id)))

    def jobs(
        self,
        *,
        state: str | None = None,
        task: str | None = None,
        queue: str | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        text: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        """Jobs by state, task, queue, enqueue time range and text (in id, task, error or
        dedup key), oldest first."""
        return self._jobs.find(
            self.branch, state=state, task=task, queue=queue,
            since_us=None if since is None else to_us(since),
            until_us=None if until is None else to_us(until), text=text, limit=limit,
        )

    @property
    def queue(self) -> QueueAdmin:
        """Job administration: peek, move, reschedule, cancel, requeue, purge, counts."""
        return QueueAdmin(self._jobs, self.branch)

    def stats(
        self,
        *,
        task: str | None = None,
        queue: str | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        progress: Progress | None = None,
    ) -> QueueStats:
        """Job counts, throughput and latency percentiles (queue wait, run time, end to end).

        Counts are of the jobs as they stand; throughput and latencies are folded from the
        jobs' recorded history (see `tlo_embed.tasks.metrics`).

        Args:
            task, queue: only this task's jobs / jobs in this queue.
            since, until: only what happened in [since, until) (aware datetimes or epoch
                seconds); counts then cover the jobs enqueued in that range.
            progress: called as progress(seq, head_seq) while the journal is read.

        Raises:
            InvalidArgumentError: `until` is not after `since`, or a datetime is naive.
        """
        return queue_stats(
            self._journal, self.branch, task=task, queue=queue,
            since_us=None if since is None else to_us(since),
            until_us=None if until is None else to_us(until), progress=progress,
        )

    # -- inspection ----------------------------------------------------------------------------

    def check(
        self,
        *,
        handlers: Sequence[Any] = (),
        integrity: bool = True,
        progress: Progress | None = None,
    ) -> CheckReport:
        """Re-fold the journal and compare it with every projection table.

        Args:
            handlers: also re-fold these handlers' snapshots and compare.
            integrity: also run SQLite's quick_check.
        """
        report = check(self._journal, integrity=integrity, progress=progress)
        extra: list[str] = []
        for handler in handlers:
            extra.extend(self._handlers.verify_snapshots(handler))
        if not extra:
            return report
        return attrs.evolve(report, ok=False, problems=report.problems + tuple(extra))

    def status(self) -> Status:
        """Facts about the file: size, schema version, counts, branches."""
        conn = self._store.connection()

        def count(sql: str) -> int:
            return int(sql_value(conn, sql))

        size = 0
        for suffix in ("", "-wal"):
            try:
                size += os.path.getsize(self.path + suffix)
            except OSError:
                pass
        meta: dict[str, Any] = {
            str(r[0]): r[1] for r in sql_rows(conn, "SELECT key, value FROM meta")
        }
        created = meta.get("created_at")
        created_by = meta.get("created_by")
        return Status(
            path=os.path.abspath(self.path),
            size_bytes=size,
            schema_version=count("PRAGMA user_version"),
            durability=self._store.durability,
            branch=self.branch,
            last_seq=self._journal.last_seq(),
            turns=count("SELECT count(*) FROM turns"),
            events=count("SELECT count(*) FROM events"),
            streams=count("SELECT count(*) FROM streams"),
            subscriptions=count("SELECT count(*) FROM subscriptions"),
            snapshots=count("SELECT count(*) FROM snapshots"),
            branches=tuple(
                BranchInfo(
                    name=str(r[0]), parent=None if r[1] is None else str(r[1]),
                    fork_seq=int(r[2]), head_seq=int(r[3]),
                )
                for r in sql_rows(
                    conn, "SELECT name, parent, fork_seq, head_seq FROM branches ORDER BY name"
                )
            ),
            created_at_us=created if isinstance(created, int) else None,
            created_by=created_by if isinstance(created_by, str) else None,
        )


def open(  # noqa: A001 - the public name the docs use: tlo_embed.open("app.tlo")
    path: str | os.PathLike[str],
    *,
    create: bool = True,
    durability: str = "normal",
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    branch: str = branches.MAIN,
    compress_threshold: int = DEFAULT_COMPRESS_THRESHOLD,
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    clock: Clock | None = None,
    readonly: bool = False,
) -> Database:
    """Open (and by default create) a .tlo file.

    Args:
        path: the file.
        create: create the file when it does not exist.
        durability: "normal" (default): a committed turn survives the process crashing at
            any moment; an OS crash or power loss may lose the last turns, never corrupting
            the file. "full": every commit is fsynced; committed turns survive power loss.
        busy_timeout: seconds to wait for another process's write before BusyError.
        branch: the branch this handle reads and writes.
        compress_threshold: zlib-compress payloads of at least this many bytes (0: never).
        snapshot_every: default snapshot interval for handlers, in events (0: never).
        clock: where turn times come from (tests pass a FixedClock).
        readonly: open for reading only; nothing is written to the file, not even a
            migration; appends raise ReadOnlyError. The file must exist.

    Raises:
        NotATloFileError, SchemaVersionError, DamagedFileError, ReadOnlyError, BusyError:
            the file cannot be opened as a .tlo file; nothing in it was changed.
    """
    return Database(
        path, create=create, durability=durability, busy_timeout=busy_timeout, branch=branch,
        compress_threshold=compress_threshold, snapshot_every=snapshot_every, clock=clock,
        readonly=readonly,
    )


SCHEMA: Final = SCHEMA_VERSION
