"""`tlo queue FILE peek|move|reschedule|purge|requeue`: administer waiting and dead jobs."""

from __future__ import annotations

import argparse
import sys
from typing import Final

import tlo_embed
from tlo_embed.cli import arguments, jobview, output
from tlo_embed.cli.command import Command, CommandError, Example, UsageError
from tlo_embed.tasks.model import RUNNING, STATES, WAITING

DEFAULT_PEEK: Final = 20
#: Everything but a job that is running can be purged.
PURGEABLE: Final = tuple(s for s in STATES if s != RUNNING)
#: `move --queue` and `requeue` list every job first; this is "no limit".
_ALL: Final = 1 << 62


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION",
                                    required=True)

    peek = actions.add_parser(
        "peek", help="list waiting jobs in the order workers take them",
        description="List the waiting jobs (pending or retrying), of one queue or all, in the "
                    "order workers claim them: highest priority first, then the earliest "
                    "due, then the oldest. Jobs not yet due, or waiting for parent jobs, are "
                    "listed in their place. Nothing is written.")
    peek.add_argument("--queue", metavar="Q", help="only queue Q")
    peek.add_argument("--limit", metavar="N", type=arguments.count, default=DEFAULT_PEEK,
                      help=f"show at most N jobs (default: {DEFAULT_PEEK})")
    peek.add_argument("--json", action="store_true", help="print JSON Lines: one object per job")

    move = actions.add_parser(
        "move", help="move waiting jobs to another queue",
        description="Move waiting jobs to queue --to: every waiting job of queue --queue, or "
                    "the jobs given by id (jobs that are not waiting are left where they are).")
    move.add_argument("ids", metavar="ID", nargs="*", help="job ids, or their first characters")
    move.add_argument("--to", metavar="Q", required=True, help="the queue to move them to")
    move.add_argument("--queue", metavar="FROM", help="move every waiting job of queue FROM")

    reschedule = actions.add_parser(
        "reschedule", help="change when (and at which priority) a waiting job runs",
        description="Make a waiting job due after --delay seconds from now, or at --at; "
                    "--priority also changes its priority.")
    reschedule.add_argument("id", metavar="ID", help="a job id, or its first characters")
    when = reschedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--delay", metavar="S", type=arguments.seconds,
                      help="due S seconds from now (0: now)")
    when.add_argument("--at", metavar="WHEN", type=arguments.timestamp,
                      help="due at WHEN, an ISO 8601 time (UTC unless it has an offset)")
    reschedule.add_argument("--priority", metavar="P", type=arguments.integer,
                            help="the new priority (higher runs first)")

    purge = actions.add_parser(
        "purge", help="remove a queue's jobs from the job table",
        description="Remove the jobs of queue --queue that are in the given states (default: "
                    "pending and retrying) from the job table, in one turn. Their history "
                    "stays in the journal (`tlo jobs FILE show ID` still prints it). Running "
                    "jobs are never purged: cancel them first. Asks for confirmation on a "
                    "terminal; elsewhere --yes is required.")
    purge.add_argument("--queue", metavar="Q", required=True, help="the queue to purge")
    purge.add_argument("--state", metavar="S", choices=PURGEABLE, action="append",
                       help=f"purge jobs in state S ({', '.join(PURGEABLE)}); repeat for "
                            "several (default: pending and retrying)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    requeue = actions.add_parser(
        "requeue", help="put dead letters (failed jobs) back in their queue",
        description="Requeue every failed job (a dead letter), of queue --queue or of all "
                    "queues, or the jobs given by id if they failed, were cancelled or were "
                    "blocked (others are skipped). Each becomes pending again with its "
                    "attempts reset, due now. A job still waiting for a parent job that "
                    "failed, was cancelled, is blocked or was purged is not requeued (it "
                    "would wait forever) and is named with that parent: give the parent's "
                    "id too, and both are requeued.")
    requeue.add_argument("ids", metavar="ID", nargs="*", help="job ids, or their first characters")
    requeue.add_argument("--queue", metavar="Q", help="only the failed jobs of queue Q")


def run(args: argparse.Namespace) -> int:
    if args.action == "peek":
        return _peek(args)
    if args.action == "move":
        return _move(args)
    if args.action == "reschedule":
        return _reschedule(args)
    if args.action == "purge":
        return _purge(args)
    return _requeue(args)


def _peek(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, readonly=True) as db:
        jobs = db.queue.peek(args.queue, limit=args.limit)
    if args.json:
        for job in jobs:
            print(output.json_text(jobview.job_json(job)))
        return 0
    if not jobs:
        print("(no waiting jobs)")
        return 0
    print("\n".join(output.table(
        ("id", "task", "queue", "state", "priority", "due at", "tries", "note"),
        [(j.id, j.task, j.queue, j.state, j.priority, jobview.when(j.run_at_us),
          f"{j.attempts}/{j.max_attempts}", jobview.note(j)) for j in jobs],
    )))
    return 0


def _one_source(args: argparse.Namespace, what: str) -> None:
    if args.ids and args.queue is not None:
        raise UsageError(f"give --queue or job ids to {what}, not both")


def _move(args: argparse.Namespace) -> int:
    _one_source(args, "move")
    if not args.ids and args.queue is None:
        raise UsageError("say which jobs to move: --queue FROM or job ids")
    with tlo_embed.open(args.file, create=False) as db:
        if args.ids:
            ids = [jobview.resolve(db, ref).id for ref in args.ids]
        else:
            ids = [j.id for j in db.queue.peek(args.queue, limit=_ALL)]
        moved = jobview.in_batches(ids, "moving", lambda chunk: db.queue.move(chunk, args.to))
    skipped = len(ids) - moved
    note = f" ({skipped} not waiting, or already there)" if args.ids and skipped else ""
    print(f"moved {jobview.plural(moved, 'job')} to queue {args.to}{note}")
    return 0


def _reschedule(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, create=False) as db:
        job = jobview.resolve(db, args.id)
        done = db.queue.reschedule(job.id, delay=args.delay, eta=args.at, priority=args.priority)
    print(f"job {done.id} is due at {jobview.when(done.run_at_us)}, priority {done.priority}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    states: list[str] = args.state or list(WAITING)
    with tlo_embed.open(args.file, create=False) as db:
        count = sum(1 for j in db.jobs(queue=args.queue) if j.state in states)
        if count == 0:
            print(f"nothing to purge: queue {args.queue} has no {' or '.join(states)} jobs")
            return 0
        what = (f"{jobview.plural(count, 'job')} ({', '.join(states)}) of queue "
                f"{args.queue}")
        if not args.yes:
            _confirm_purge(what)
        progress = output.ProgressLine(sys.stderr, "purging", unit="jobs")
        progress(0, count)
        try:
            purged = db.queue.purge(args.queue, states=states)
        finally:
            progress.done()
    print(f"purged {jobview.plural(purged, 'job')} from queue {args.queue}")
    return 0


def _confirm_purge(what: str) -> None:
    """Ask on the terminal; raise CommandError unless the answer is yes."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise CommandError(f"purging {what} needs --yes (there is no terminal to ask on); "
                           "nothing was purged")
    print(f"purge {what}? Their history stays in the journal. [y/N] ", end="",
          file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("not confirmed; nothing was purged")


def _requeue(args: argparse.Namespace) -> int:
    _one_source(args, "requeue")
    with tlo_embed.open(args.file, create=False) as db:
        if args.ids:
            ids = [jobview.resolve(db, ref).id for ref in args.ids]
        else:
            ids = [j.id for j in db.jobs(state="failed", queue=args.queue)]
        count, held = jobview.requeue(db, ids)
        lines = jobview.held_back(db, held)
    skipped = len(ids) - count - len(held)
    note = f" ({skipped} skipped: not failed, cancelled or blocked)" if skipped else ""
    print(f"requeued {jobview.plural(count, 'job')}{note}")
    for line in lines:
        print(line)
    return 0


COMMAND = Command(
    name="queue",
    summary="peek at, move, reschedule, purge or requeue jobs",
    description=(
        "Administer the queues of a .tlo file. `peek` lists waiting jobs in the order workers "
        "take them; `move` moves waiting jobs to another queue; `reschedule` changes when a "
        "waiting job is due (and its priority); `purge` removes a queue's waiting jobs (or "
        "those in the states given) from the job table, keeping their history; `requeue` "
        "puts dead letters back in line. Every change is recorded in the journal. Moves and "
        "requeues of many jobs commit in batches of "
        f"{jobview.BATCH}, with a progress line on stderr when it is a terminal; "
        "`tlo queue FILE ACTION --help` describes each action's options. An ID may be "
        "shortened to its first characters when only one job starts with them."
    ),
    examples=(
        Example(argv=("queue", "app.tlo", "peek", "--queue", "emails", "--limit", "5"),
                says="the next 5 jobs workers would take from queue emails"),
        Example(argv=("queue", "app.tlo", "move", "--queue", "images", "--to", "images-slow"),
                says="move every waiting job of queue images to images-slow"),
        Example(argv=("queue", "app.tlo", "reschedule", "018bcfe5-6804", "--delay", "3600",
                      "--priority", "9"),
                says="run a waiting job in an hour, at priority 9"),
        Example(argv=("queue", "app.tlo", "requeue", "--queue", "emails"),
                says="requeue every dead letter of queue emails"),
        Example(argv=("queue", "app.tlo", "purge", "--queue", "images-slow", "--yes"),
                says="remove the waiting jobs of queue images-slow, without asking"),
    ),
    exit_statuses=(
        (0, "done (possibly changing nothing)"),
        (1, "purge was not confirmed (nothing was purged)"),
        (4, "no job has that id (NotFoundError)"),
    ),
    configure=configure,
    run=run,
)
