"""`tlo run FILE`: the scheduler and a worker in one process."""

from __future__ import annotations

import argparse
import sys
import threading
import time

import attrs

from tlo_embed.cli.command import Command, Example
from tlo_embed.cli.commands import worker as worker_command
from tlo_embed.tasks.scheduler import SchedulerStats


def configure(parser: argparse.ArgumentParser) -> None:
    worker_command.add_worker_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = worker_command.settings_of(args)
    with worker_command.app_path(args.app_dir), worker_command.open_file(
        args.file, settings
    ) as db:
        worker_command.load_task_modules(db, args.imports)
        progress = worker_command.Progress(sys.stderr)
        db.on(progress)
        worker = db.worker(settings=settings)
        scheduler = db.scheduler()
        if not args.json:
            print(worker_command.describe_settings(worker, args.file) + "; with the scheduler",
                  flush=True)
        failures: list[BaseException] = []
        scheduled: list[SchedulerStats] = []
        stop = threading.Event()
        thread: threading.Thread | None = None
        if args.until_idle:
            # Enqueue what is due now; the worker then drains it.
            started = time.monotonic()
            tick = scheduler.tick()
            scheduled.append(SchedulerStats(
                ticks=1, enqueued=len(tick.jobs), led=tick.leader,
                seconds=time.monotonic() - started,
            ))
            for problem in tick.problems:
                print(f"tlo: warning: {problem}", file=sys.stderr)
        else:
            def schedule() -> None:
                try:
                    scheduled.append(scheduler.run(stop=stop))
                except BaseException as e:  # noqa: BLE001 - reported by the main thread
                    failures.append(e)
                    worker.stop()  # no scheduler: stop the worker too, and say why

            thread = threading.Thread(target=schedule, name="tlo-scheduler", daemon=True)
            thread.start()
        try:
            stats = worker.run(
                until_idle=args.until_idle, max_jobs=args.max_jobs, handle_signals=True
            )
        finally:
            progress.done()
            stop.set()
            if thread is not None:
                thread.join()
            else:
                scheduler.release()
        if failures:
            raise failures[0]
        lines: list[str] = []
        if scheduled:
            s = scheduled[0]
            lines.append(f"scheduler: {s.ticks} tick{'' if s.ticks == 1 else 's'}, {s.enqueued}"
                         f" job{'' if s.enqueued == 1 else 's'} enqueued"
                         + ("" if s.led else " (another scheduler held the lease)"))
        return worker_command.finish(
            stats, worker, as_json=args.json, lines=lines,
            extra={"scheduler": attrs.asdict(scheduled[0]) if scheduled else None},
        )


COMMAND = Command(
    name="run",
    summary="run the scheduler and a worker together until stopped",
    description=(
        "Run the scheduler of FILE's interval and cron tasks (it enqueues their jobs when "
        "they are due; only one scheduler per file is active at a time, across processes) "
        "and a worker for its jobs, in one process: what a small deployment needs. With "
        "--until-idle, the scheduler ticks once (enqueueing what is due now) and the worker "
        "runs until idle. Takes the options of `tlo worker`. " + worker_command.CONVENTION
    ),
    examples=(
        Example(argv=("run", "app.tlo", "--until-idle"),
                says="enqueue what is due now, run every due job, then exit"),
        Example(argv=("run", "app.tlo", "--import", "tlo_embed.tasks.examples", "--executor",
                      "thread", "--concurrency", "2", "--until-idle", "--json"),
                says="the same with the example tasks, 2 threads, and a JSON summary"),
    ),
    exit_statuses=worker_command.COMMAND.exit_statuses,
    configure=configure,
    run=run,
)
