"""`tlo jobs FILE [list|show|retry|cancel]`: find jobs, show one with its history, retry, cancel."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

import tlo_embed
from tlo_embed.cli import arguments, jobview, output
from tlo_embed.cli.command import Command, Example, UsageError
from tlo_embed.cli.commands.log import event_json
from tlo_embed.tasks.model import FINISHED, STATES

DEFAULT_LIMIT: Final = 50
#: The states a job can be retried (requeued) from.
RETRYABLE: Final = ("failed", "cancelled", "blocked")
#: The list filters: (option, dest) pairs, given to `tlo jobs` or to `tlo jobs list`.
_FILTERS: Final = ("state", "task", "queue", "since", "until", "text")


def _filters(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    """Add the listing options; a nested `list` parser leaves unset options to its parent."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if nested else value

    parser.add_argument("--state", metavar="S", choices=STATES, default=default(None),
                        help=f"only jobs in state S: {', '.join(STATES)}")
    parser.add_argument("--task", metavar="T", default=default(None),
                        help="only jobs of task T")
    parser.add_argument("--queue", metavar="Q", default=default(None),
                        help="only jobs in queue Q")
    parser.add_argument("--since", metavar="WHEN", type=arguments.past, default=default(None),
                        help="only jobs enqueued at or after WHEN: an ISO 8601 time (UTC "
                             "unless it has an offset) or a span ago (90s, 15m, 2h, 7d)")
    parser.add_argument("--until", metavar="WHEN", type=arguments.past, default=default(None),
                        help="only jobs enqueued before WHEN")
    parser.add_argument("--text", metavar="X", default=default(None),
                        help="only jobs whose id, task, error or dedup key contains X")
    parser.add_argument("--limit", metavar="N", type=arguments.count,
                        default=default(DEFAULT_LIMIT),
                        help=f"show at most N jobs; 0 shows all (default: {DEFAULT_LIMIT})")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="print JSON Lines: one object per job")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    _filters(parser, nested=False)
    actions = parser.add_subparsers(title="actions (default: list)", dest="action",
                                    metavar="[ACTION]")
    listing = actions.add_parser(
        "list", help="list jobs, oldest first (the default)",
        description="List jobs, oldest first, filtered by state, task, queue, enqueue time "
                    "and text. Nothing is written.")
    _filters(listing, nested=True)
    show = actions.add_parser(
        "show", help="show one job and its history",
        description="Show one job as it stands (payload, result, error, times) and every "
                    "transition recorded in its history. Nothing is written.")
    show.add_argument("id", metavar="ID", help="a job id, or its first characters")
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                      help='print one JSON object: {"job": ..., "history": [...]}')
    retry = actions.add_parser(
        "retry", help="put failed, cancelled or blocked jobs back in their queue",
        description="Requeue jobs that failed (dead letters), were cancelled or were "
                    "blocked: each becomes pending again with its attempts reset, due now, "
                    "in one turn. A job still waiting for a parent job that failed, was "
                    "cancelled, is blocked or was purged is not requeued (it would wait "
                    "forever) and is named with that parent: retry the parent with it.")
    retry.add_argument("ids", metavar="ID", nargs="+", help="job ids, or their first characters")
    cancel = actions.add_parser(
        "cancel", help="cancel waiting or running jobs",
        description="Cancel jobs that are waiting or running; jobs that depend on them are "
                    "blocked. A running job's worker finds out when it reports, and its "
                    "report is discarded.")
    cancel.add_argument("ids", metavar="ID", nargs="+", help="job ids, or their first characters")
    cancel.add_argument("--reason", metavar="TEXT", default="cancelled",
                        help="recorded as the job's error (default: cancelled)")


def run(args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action != "list":
        given = [f"--{name}" for name in _FILTERS if getattr(args, name) is not None]
        if args.limit != DEFAULT_LIMIT:
            given.append("--limit")
        if given:
            raise UsageError(f"`{action}` takes no {', '.join(given)} (list filters)")
    if action == "show":
        return _show(args)
    if action == "retry":
        return _retry(args)
    if action == "cancel":
        return _cancel(args)
    return _list(args)


def _list(args: argparse.Namespace) -> int:
    fetch = None if args.limit == 0 else args.limit + 1
    with tlo_embed.open(args.file, readonly=True) as db:
        found = db.jobs(state=args.state, task=args.task, queue=args.queue, since=args.since,
                        until=args.until, text=args.text, limit=fetch)
    more = fetch is not None and len(found) == fetch
    jobs = found[: args.limit or None]
    if args.json:
        for job in jobs:
            print(output.json_text(jobview.job_json(job)))
        return 0
    if not jobs:
        print("(no jobs)")
        return 0
    print("\n".join(jobview.job_table(jobs)))
    if more:
        print(f"(showing the first {args.limit} jobs; --limit N shows more, --limit 0 all)",
              file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, readonly=True) as db:
        job: tlo_embed.Job | None
        try:
            job = jobview.resolve(db, args.id)
            history = db.job_history(job.id)
        except tlo_embed.NotFoundError:
            # A purged job has left the job table, but its history is still in the journal.
            job = None
            history = db.job_history(args.id.strip().lower())
            if not history:
                raise
    if args.json:
        print(output.json_text({
            "job": None if job is None else jobview.job_json(job),
            "history": [event_json(e) for e in history],
        }))
        return 0
    if job is None:
        print(f"job {args.id} is no longer in the job table (purged); its history:")
    else:
        print("\n".join(output.fields(_job_fields(job))))
    print()
    print("\n".join(output.table(
        ("seq", "version", "type", "recorded at", "data"),
        [(e.seq, e.version, e.type, output.iso_time(e.recorded_at_us, timespec="milliseconds"),
          output.shorten(output.json_text(output.json_safe(e.data)))) for e in history],
    )))
    return 0


def _job_fields(job: tlo_embed.Job) -> list[tuple[str, object]]:
    def value(x: Any) -> str:
        return output.json_text(output.json_safe(x))

    return [
        ("id", job.id),
        ("task", job.task),
        ("queue", job.queue),
        ("state", job.state),
        ("priority", job.priority),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("worker", job.worker or "-"),
        ("lease until", jobview.when(job.lease_until_us)),
        ("dedup key", job.dedup_key or "-"),
        ("exclusive key", job.exclusive_key or "-"),
        ("waits for", jobview.plural(job.waiting_on, "parent job")),
        ("enqueued at", jobview.when(job.enqueued_at_us)),
        ("due at", jobview.when(job.run_at_us)),
        ("started at", jobview.when(job.started_at_us)),
        ("finished at", jobview.when(job.finished_at_us)),
        ("payload", value(job.payload)),
        ("result", "-" if job.result is None else value(job.result)),
        ("error", job.error or "-"),
    ]


def _retry(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, create=False) as db:
        jobs = [jobview.resolve(db, ref) for ref in args.ids]
        refused = [j for j in jobs if j.state not in RETRYABLE]
        if refused:
            listed = ", ".join(f"{j.id} ({j.state})" for j in refused)
            msg = (f"only failed, cancelled or blocked jobs can be retried: {listed}; "
                   "nothing was requeued")
            raise tlo_embed.InvalidArgumentError(msg)
        report = db.queue.requeue_report([j.id for j in jobs])
        lines = jobview.held_back(db, report.blocked_by)
    print(f"requeued {jobview.plural(len(report.requeued), 'job')}")
    for line in lines:
        print(line)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, create=False) as db:
        jobs = [jobview.resolve(db, ref) for ref in args.ids]
        refused = [j for j in jobs if j.state in FINISHED]
        if refused:
            listed = ", ".join(f"{j.id} ({j.state})" for j in refused)
            msg = f"these jobs already finished: {listed}; nothing was cancelled"
            raise tlo_embed.InvalidArgumentError(msg)
        for job in jobs:
            db.queue.cancel(job.id, args.reason)
            print(f"cancelled {job.id} ({job.task}, was {job.state})")
    return 0


COMMAND = Command(
    name="jobs",
    summary="list jobs, show one with its history, retry or cancel jobs",
    description=(
        "Work with the jobs of a .tlo file. With no ACTION (or `list`), list jobs oldest "
        "first, filtered by --state, --task, --queue, enqueue time (--since, --until) and "
        "--text; --json prints JSON Lines, one object per job with every field (times as "
        "ISO 8601 UTC strings beside the exact *_us integers). `show ID` prints one job and "
        "its recorded history (every transition, with its time). `retry ID...` puts failed, "
        "cancelled or blocked jobs back in their queue; `cancel ID...` cancels waiting or "
        "running jobs. An ID may be shortened to its first characters when only one job "
        "starts with them. list and show only read the file. Retrying or cancelling a job "
        "in a state that does not allow it changes nothing and exits 2."
    ),
    examples=(
        Example(argv=("jobs", "app.tlo"), says="the first 50 jobs, oldest first"),
        Example(argv=("jobs", "app.tlo", "--state", "failed", "--task", "send_email"),
                says="the dead letters of task send_email"),
        Example(argv=("jobs", "app.tlo", "list", "--since", "2023-11-14", "--text", "timeout",
                      "--json"),
                says="jobs enqueued since a date whose error mentions timeout, as JSON Lines"),
        Example(argv=("jobs", "app.tlo", "show", "018bcfe5-6801"),
                says="one job (by the start of its id) and its history"),
        Example(argv=("jobs", "app.tlo", "retry", "018bcfe5-6802"),
                says="requeue a failed job"),
        Example(argv=("jobs", "app.tlo", "cancel", "018bcfe5-6803", "--reason", "duplicate"),
                says="cancel a waiting job"),
    ),
    exit_statuses=(
        (0, "done (a listing may be empty)"),
        (4, "no job has that id (NotFoundError)"),
    ),
    configure=configure,
    run=run,
)
