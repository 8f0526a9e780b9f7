"""`tlo schedule FILE`: the next runs of scheduled tasks, or one scheduler tick."""

from __future__ import annotations

import argparse
from typing import Any

import tlo_embed
from tlo_embed.cli import output
from tlo_embed.cli.command import Command, Example


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    parser.add_argument("--limit", type=int, default=10, metavar="N",
                        help="how many upcoming runs to list (default 10)")
    parser.add_argument("--tick", action="store_true",
                        help="run one scheduler step: enqueue the runs that are due (takes "
                             "the scheduler lease unless another scheduler holds it)")
    parser.add_argument("--json", action="store_true", help="print JSON Lines")


def run(args: argparse.Namespace) -> int:
    if args.limit < 0:
        msg = f"--limit must be >= 0, got {args.limit}"
        raise tlo_embed.InvalidArgumentError(msg)
    if args.tick:
        return _tick(args)
    with tlo_embed.open(args.file, readonly=True) as db:
        runs = db.scheduler().next_runs(args.limit) if args.limit else []
    if args.json:
        for item in runs:
            print(output.json_text(run_json(item)))
        return 0
    if not runs:
        print("(no scheduled runs)")
        return 0
    print("\n".join(output.table(
        ("due", "task", "schedule", "catch-up", "note"),
        [(output.iso_time(r.at_us, timespec="seconds"), r.task, _schedule_text(r),
          r.catch_up, _note(r)) for r in runs],
    )))
    return 0


def _tick(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, create=False) as db:
        scheduler = db.scheduler()
        result = scheduler.tick()
        scheduler.release()
    if args.json:
        print(output.json_text({
            "leader": result.leader, "holder": result.holder,
            "jobs": [job.id for job in result.jobs], "problems": list(result.problems),
            "next_due": None if result.next_due_us is None else output.iso_time(
                result.next_due_us),
        }))
        return 0
    if not result.leader:
        print(f"another scheduler holds the lease ({result.holder}); nothing done")
        return 0
    print(f"enqueued {len(result.jobs)} job(s)")
    for job in result.jobs:
        print(f"  {job.id}  {job.task}  due {output.iso_time(job.run_at_us, timespec='seconds')}")
    for problem in result.problems:
        print(f"problem: {problem}")
    if result.next_due_us is not None:
        print(f"next run due {output.iso_time(result.next_due_us, timespec='seconds')}")
    return 0


def _schedule_text(item: tlo_embed.ScheduledRun) -> str:
    if item.cron is not None:
        return f"cron {item.cron}"
    return f"every {item.interval:g}s"


def _note(item: tlo_embed.ScheduledRun) -> str:
    if not item.persisted:
        return "not yet recorded by a scheduler"
    return "overdue" if item.overdue else ""


def run_json(item: tlo_embed.ScheduledRun) -> dict[str, Any]:
    """The JSON object printed for one upcoming run."""
    return {
        "task": item.task, "due": output.iso_time(item.at_us), "due_us": item.at_us,
        "cron": item.cron, "interval": item.interval, "catch_up": item.catch_up,
        "overdue": item.overdue, "persisted": item.persisted,
    }


COMMAND = Command(
    name="schedule",
    summary="list the next runs of scheduled tasks, or run one scheduler step",
    description=(
        "List the upcoming runs of the tasks registered with a schedule (@db.task(cron=...) "
        "or interval=...), soonest first: when each is due, its schedule and catch-up "
        "policy. Nothing is written. With --tick, run one scheduler step instead: enqueue a "
        "job for every run that is due (applying each task's catch-up policy), record the "
        "next runs, and release the scheduler lease; if another scheduler holds the lease, "
        "nothing is done. A long-running scheduler is `tlo run` (scheduler and worker)."
    ),
    examples=(
        Example(argv=("schedule", "app.tlo"), says="the next 10 runs"),
        Example(argv=("schedule", "app.tlo", "--limit", "3", "--json"),
                says="the next 3 runs as JSON Lines"),
        Example(argv=("schedule", "app.tlo", "--tick"), says="enqueue what is due, once"),
    ),
    exit_statuses=((0, "the runs were listed, or the step ran"),),
    configure=configure,
    run=run,
)
