"""`tlo stats FILE`: job counts, throughput and latency percentiles."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import attrs

import tlo_embed
from tlo_embed.cli import arguments, jobview, output
from tlo_embed.cli.command import Command, Example
from tlo_embed.tasks.model import STATES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    parser.add_argument("--task", metavar="T", help="only jobs of task T")
    parser.add_argument("--queue", metavar="Q", help="only jobs in queue Q")
    parser.add_argument("--since", metavar="WHEN", type=arguments.past,
                        help="only what happened at or after WHEN: an ISO 8601 time (UTC "
                             "unless it has an offset) or a span ago (90s, 15m, 2h, 7d)")
    parser.add_argument("--until", metavar="WHEN", type=arguments.past,
                        help="only what happened before WHEN")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    progress = output.ProgressLine(sys.stderr, "reading the journal")
    try:
        with tlo_embed.open(args.file, readonly=True) as db:
            stats = db.stats(task=args.task, queue=args.queue, since=args.since,
                             until=args.until, progress=progress)
    finally:
        progress.done()
    if args.json:
        print(output.json_text(as_json(stats)))
        return 0
    print("\n".join(text(stats)))
    return 0


def _time(us: int | None) -> str | None:
    return None if us is None else output.iso_time(us)


def as_json(stats: tlo_embed.QueueStats) -> dict[str, Any]:
    """The object `tlo stats --json` prints: every QueueStats field (latencies in
    microseconds), the window's ends as ISO 8601, and `finished` and `window_seconds`."""
    fields: dict[str, Any] = attrs.asdict(stats)
    for name in ("since", "until", "start", "end"):
        fields[name] = _time(fields[f"{name}_us"])
    fields["finished"] = stats.finished
    fields["window_seconds"] = stats.window_seconds
    return fields


def _duration(us: int | None) -> str:
    return "-" if us is None else output.human_duration(us)


def _state_counts(counts: dict[str, int]) -> str:
    parts = [f"{n} {state}" for state, n in counts.items() if n]
    return ", ".join(parts) if parts else "none"


def text(stats: tlo_embed.QueueStats) -> list[str]:
    """The lines `tlo stats` prints."""
    scope = []
    if stats.task is not None:
        scope.append(f"task {stats.task}")
    if stats.queue is not None:
        scope.append(f"queue {stats.queue}")
    window = "no job events in range"
    if stats.start_us is not None and stats.end_us is not None:
        window = (f"{jobview.when(stats.start_us)} to {jobview.when(stats.end_us)} "
                  f"({output.human_duration(stats.end_us - stats.start_us)})")
    rate = "-" if stats.throughput is None else f"{stats.throughput:.3g} jobs/s"
    lines = output.fields([
        ("jobs", f"{sum(stats.counts.values())}: {_state_counts(stats.counts)}"),
        ("scope", ", ".join(scope) or "every task and queue"),
        ("window", window),
        ("activity", f"{stats.enqueued} enqueued, {stats.started} started, "
                     f"{stats.succeeded} succeeded, {stats.retried} retried, {stats.dead} dead, "
                     f"{stats.cancelled} cancelled, {stats.blocked} blocked"),
        ("throughput", f"{rate} ({jobview.plural(stats.finished, 'job')} finished)"),
    ])
    lines.append("")
    lines += output.table(
        ("latency", "samples", "p50", "p90", "p99", "max"),
        [(name, d.count, _duration(d.p50_us), _duration(d.p90_us), _duration(d.p99_us),
          _duration(d.max_us))
         for name, d in (("queue wait", stats.wait), ("run time", stats.run),
                         ("end to end", stats.end_to_end))],
    )
    for title, groups in (("task", stats.by_task), ("queue", stats.by_queue)):
        if groups:
            lines.append("")
            lines += output.table(
                (title, *STATES),
                [(name, *(counts.get(state, 0) for state in STATES))
                 for name, counts in sorted(groups.items())],
            )
    return lines


COMMAND = Command(
    name="stats",
    summary="show job counts, throughput and latency percentiles",
    description=(
        "Summarize the jobs of a .tlo file: how many are in each state (per task and per "
        "queue too), what happened in the time range (enqueued, started, succeeded, retried, "
        "dead, cancelled, blocked), the throughput (jobs finished per second over the window: "
        "the range given, or from the first to the last job event in it) and the p50, p90, "
        "p99 and maximum of three latencies: queue wait (from due to claimed), run time (as "
        "the worker measured each attempt) and end to end (from enqueued to finished). "
        "Latencies are computed from the jobs' recorded history, which is read once, with a "
        "progress line on stderr when it is a terminal. Nothing is written. --json prints "
        "one object with every figure (durations in microseconds, times also as ISO 8601)."
    ),
    examples=(
        Example(argv=("stats", "app.tlo"), says="every task and queue, over the whole history"),
        Example(argv=("stats", "app.tlo", "--task", "send_email", "--since", "2023-11-14",
                      "--json"),
                says="one task, since a date, as JSON"),
        Example(argv=("stats", "app.tlo", "--queue", "emails", "--since", "1h"),
                says="queue emails over the last hour"),
    ),
    exit_statuses=((0, "the figures were printed (possibly all zero)"),),
    configure=configure,
    run=run,
)
