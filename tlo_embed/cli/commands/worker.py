"""`tlo worker FILE`: run jobs from a .tlo file until stopped (or until idle).

The pieces `tlo run` shares (options, settings, task modules, the summary) live here too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import attrs

import tlo_embed
from tlo_embed.cli import arguments, output
from tlo_embed.cli.command import Command, CommandError, Example
from tlo_embed.tasks.settings import EXECUTOR_NAMES, WorkerSettings

#: How a task module is written, shown in --help of `tlo worker` and `tlo run`.
CONVENTION = (
    "Task modules: each --import MODULE is imported (from --app-dir, default the current "
    "directory, or from the Python path) and, if it defines register(db), that is called "
    "with the open database, so it can register its tasks: define the task functions at "
    "the top level of the module and register them in register(db) with "
    "db.task(fn, queue=..., retries=...); see tlo_embed.tasks.examples. Jobs of tasks the "
    "application already registered in the file need no --import when their modules are "
    "importable: the worker imports each function by the path recorded with it. With "
    "--executor process every task must be importable that way (not defined in __main__). "
    "Options left out come from TLO_* environment variables (TLO_QUEUES, TLO_CONCURRENCY, "
    "TLO_EXECUTOR, TLO_LEASE, TLO_POLL, TLO_GRACE, TLO_WORKER_ID, TLO_BUSY_TIMEOUT, "
    "TLO_DURABILITY), then from the defaults. Stopping: the first SIGTERM or Ctrl-C stops "
    "claiming and lets running jobs finish (at most --grace seconds); a second one gives "
    "the running jobs back to the queue at once and exits."
)


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = arguments.count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_seconds(text: str) -> float:
    """A number of seconds > 0."""
    value = arguments.seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `tlo worker` and `tlo run` share."""
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    parser.add_argument(
        "--import", dest="imports", metavar="MODULE", action="append", default=[],
        help="import this tasks module and call its register(db), if any (repeatable)",
    )
    parser.add_argument(
        "--app-dir", metavar="DIR", default=".",
        help="put DIR first on the Python path while the worker runs (default: the current "
             "directory)",
    )
    parser.add_argument(
        "--queues", metavar="A,B",
        help="take jobs only from these queues (default: every queue; env TLO_QUEUES)",
    )
    parser.add_argument(
        "--concurrency", metavar="N", type=positive_int,
        help="run up to N jobs at once (default 1; env TLO_CONCURRENCY)",
    )
    parser.add_argument(
        "--executor", choices=EXECUTOR_NAMES,
        help="where jobs run: inline (the worker's thread, one at a time), thread (a pool "
             "of N threads) or process (N child processes; timeouts and cancellations kill "
             "the child) (default inline; env TLO_EXECUTOR)",
    )
    parser.add_argument(
        "--lease", metavar="S", type=positive_seconds,
        help="a claim lasts S seconds unless renewed; a stopped worker's jobs are taken "
             "over after that (default 30; env TLO_LEASE)",
    )
    parser.add_argument(
        "--poll", metavar="S", type=positive_seconds,
        help="when idle, look for new jobs every S seconds (default 0.5; env TLO_POLL)",
    )
    parser.add_argument(
        "--grace", metavar="S", type=arguments.seconds,
        help="once stopping, give running jobs S seconds to finish, then release them "
             "(default: no limit; env TLO_GRACE)",
    )
    parser.add_argument(
        "--worker-id", metavar="ID",
        help="the worker's name in the file (default host:pid:random; env TLO_WORKER_ID)",
    )
    parser.add_argument(
        "--until-idle", action="store_true",
        help="exit once no job is running or due within 5 seconds",
    )
    parser.add_argument(
        "--max-jobs", metavar="N", type=positive_int,
        help="exit after claiming N jobs (once they finish)",
    )
    parser.add_argument(
        "--json", action="store_true",
        help="print the summary as one JSON object (and no start line)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    add_worker_arguments(parser)


def settings_of(args: argparse.Namespace) -> WorkerSettings:
    """The options given, then TLO_* variables, then defaults (see WorkerSettings)."""
    return WorkerSettings.resolve(
        queues=args.queues, concurrency=args.concurrency, executor=args.executor,
        lease=args.lease, poll=args.poll, grace=args.grace, worker_id=args.worker_id,
    )


def open_file(path: str, settings: WorkerSettings) -> tlo_embed.Database:
    """Open an existing file with the settings' durability and busy timeout."""
    return tlo_embed.open(
        path, create=False, durability=settings.durability, busy_timeout=settings.busy_timeout
    )


@contextmanager
def app_path(directory: str) -> Iterator[None]:
    """`directory` first on sys.path while the block runs (removed afterwards)."""
    entry = os.path.abspath(directory)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def load_task_modules(db: tlo_embed.Database, modules: list[str]) -> None:
    """Import each module and call its `register(db)`, if it has one.

    Raises:
        CommandError: a module cannot be imported, or its register(db) failed.
    """
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            msg = f"cannot import tasks module {name!r}: {e}"
            raise CommandError(msg) from e
        register = getattr(module, "register", None)
        if register is None:
            continue
        if not callable(register):
            msg = f"{name}.register is not a function (a tasks module's register(db) is)"
            raise CommandError(msg)
        try:
            register(db)
        except tlo_embed.TloError:
            raise
        except Exception as e:  # the user's code: say where it failed
            msg = f"{name}.register(db) failed: {type(e).__name__}: {e}"
            raise CommandError(msg) from e


class Progress:
    """A live count of what the worker did, redrawn on a terminal (stderr) at most 5 times a
    second; nothing is drawn when stderr is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.counts = {"started": 0, "succeeded": 0, "retrying": 0, "dead": 0}
        self._lock = threading.Lock()
        self._drawn_at = 0.0
        self._drawn = False

    def __call__(self, event: str, job: tlo_embed.Job) -> None:
        if event not in self.counts:
            return
        with self._lock:
            self.counts[event] += 1
            now = time.monotonic()
            if not self.enabled or now - self._drawn_at < 0.2:
                return
            self._drawn_at = now
            c = self.counts
            self.stream.write(
                f"\r{c['started']} started, {c['succeeded']} succeeded, {c['retrying']} "
                f"retrying, {c['dead']} dead\x1b[K"
            )
            self.stream.flush()
            self._drawn = True

    def done(self) -> None:
        """Erase the line if anything was drawn."""
        with self._lock:
            if self._drawn:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._drawn = False


def describe_settings(worker: tlo_embed.Worker, path: str) -> str:
    """The start line: who runs what, how."""
    queues = ",".join(worker.queues) if worker.queues else "all"
    return (
        f"worker {worker.worker_id} on {path}: queues {queues}, executor {worker.executor} "
        f"x{worker.concurrency}, lease {worker.lease:g}s"
    )


def summary(stats: tlo_embed.WorkerStats) -> str:
    """The last line: what happened."""
    rate = stats.succeeded / stats.seconds if stats.seconds > 0 else 0.0
    how = "interrupted" if stats.interrupted else "stopped"
    return (
        f"{how}: {stats.claimed} claimed, {stats.succeeded} succeeded, {stats.retried} "
        f"retried, {stats.dead} dead, {stats.lost} lost, {stats.released} released in "
        f"{stats.seconds:.1f} s ({rate:.1f} jobs/s)"
    )


def stats_json(stats: tlo_embed.WorkerStats, worker: tlo_embed.Worker) -> dict[str, Any]:
    """The object `--json` prints: every WorkerStats field plus the worker's id."""
    fields: dict[str, Any] = attrs.asdict(stats)
    fields["worker"] = worker.worker_id
    return fields


def finish(
    stats: tlo_embed.WorkerStats,
    worker: tlo_embed.Worker,
    *,
    as_json: bool,
    extra: dict[str, Any] | None = None,
    lines: Sequence[str] = (),
) -> int:
    """Print the summary (`lines` first; `extra` fields in JSON); returns the exit status
    (130 when running jobs were cut short).

    After an interruption, threads of the thread executor may still be running task code
    that cannot be stopped; the process then exits at once instead of waiting for them.
    """
    if as_json:
        fields = stats_json(stats, worker)
        fields.update(extra or {})
        print(output.json_text(fields))
    else:
        for line in lines:
            print(line)
        print(summary(stats))
    if not stats.interrupted:
        return 0
    if any(t.name.startswith("tlo-worker") and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


EXIT_INTERRUPTED = 130


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with app_path(args.app_dir), open_file(args.file, settings) as db:
        load_task_modules(db, args.imports)
        progress = Progress(sys.stderr)
        db.on(progress)
        worker = db.worker(settings=settings)
        if not args.json:
            print(describe_settings(worker, args.file), flush=True)
        try:
            stats = worker.run(
                until_idle=args.until_idle, max_jobs=args.max_jobs, handle_signals=True
            )
        finally:
            progress.done()
        return finish(stats, worker, as_json=args.json)


COMMAND = Command(
    name="worker",
    summary="run jobs from a .tlo file until stopped, or until idle",
    description=(
        "Claim jobs from FILE and run them: each claim, result, retry and dead letter is "
        "recorded in the file. Many worker processes on the file's machine may run at once; "
        "a job is run by one worker at a time, and a worker that dies loses nothing: once its "
        "lease runs out another worker takes the job over. "
        "Prints a start line, a live count on a terminal, and a summary when it stops. "
        + CONVENTION
    ),
    examples=(
        Example(argv=("worker", "app.tlo", "--until-idle"),
                says="run every job that is due, then exit"),
        Example(argv=("worker", "app.tlo", "--import", "tlo_embed.tasks.examples",
                      "--executor", "process", "--concurrency", "2", "--until-idle", "--json"),
                says="register the example tasks, run jobs in 2 child processes, print a "
                     "JSON summary"),
        Example(argv=("worker", "app.tlo", "--queues", "default", "--executor", "thread",
                      "--concurrency", "4", "--max-jobs", "100", "--until-idle"),
                says="4 threads on the default queue; stop after 100 jobs or when idle"),
    ),
    exit_statuses=(
        (0, "the worker stopped: idle, --max-jobs reached, or a first signal"),
        (1, "a tasks module could not be imported or registered"),
        (EXIT_INTERRUPTED, (
            "a second signal (or --grace) stopped it before its running jobs finished; they "
            "were given back to the queue")),
    ),
    configure=configure,
    run=run,
)
