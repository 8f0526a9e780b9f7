"""`tlo log FILE`: list events."""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import tlo_embed
from tlo_embed.cli import output
from tlo_embed.cli.command import Command, Example, UsageError

DEFAULT_LIMIT = 50


def _count(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stream", metavar="S",
                       help="only the events of stream S, in version order")
    where.add_argument("--prefix", metavar="P", help="only streams whose name starts with P")
    parser.add_argument(
        "--type", metavar="GLOB", action="append", default=[],
        help="only event types matching GLOB (*, ?, [...]; case-sensitive); repeat for several",
    )
    parser.add_argument(
        "--from-seq", metavar="N", type=_count, default=0,
        help="start at turn N (inclusive); with --backward, list turns N and older",
    )
    parser.add_argument(
        "--limit", metavar="N", type=_count, default=DEFAULT_LIMIT,
        help=f"show at most N events; 0 shows all (default: {DEFAULT_LIMIT})",
    )
    parser.add_argument("--backward", action="store_true",
                        help="newest first (only with --stream)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON Lines: one object per event, nothing shortened")


def run(args: argparse.Namespace) -> int:
    if args.backward and args.stream is None:
        raise UsageError("--backward needs --stream")
    # One more than asked for, to tell the user when there is more to see.
    fetch = None if args.limit == 0 else args.limit + 1
    with tlo_embed.open(args.file, readonly=True) as db:
        if args.stream is not None:
            found = stream_events(db, args.stream, types=args.type, from_seq=args.from_seq,
                                  backward=args.backward, limit=fetch)
        else:
            found = db.read_all(args.from_seq, types=args.type or None,
                                stream_prefix=args.prefix, limit=fetch)
        events = list(found)
    more = fetch is not None and len(events) == fetch
    events = events[: args.limit or None]
    if args.json:
        for event in events:
            print(output.json_text(event_json(event)))
        return 0
    if not events:
        print("(no events)")
        return 0
    print("\n".join(output.table(
        ("seq", "idx", "stream", "version", "type", "recorded at", "data"),
        [(e.seq, e.index, e.stream, e.version, e.type,
          output.iso_time(e.recorded_at_us, timespec="milliseconds"),
          output.shorten(output.json_text(output.json_safe(e.data)))) for e in events],
    )))
    if more:
        print(f"(showing the first {args.limit} events; --limit N shows more, --limit 0 all)",
              file=sys.stderr)
    return 0


def stream_events(
    db: tlo_embed.Database,
    stream: str,
    *,
    types: Sequence[str],
    from_seq: int,
    backward: bool,
    limit: int | None,
) -> Iterator[tlo_embed.RecordedEvent]:
    """The events of one stream, filtered like `read_all` filters the whole journal."""
    found: Iterator[tlo_embed.RecordedEvent] = db.read(stream, backward=backward)
    if from_seq:
        if backward:
            found = (e for e in found if e.seq <= from_seq)
        else:
            found = itertools.dropwhile(lambda e: e.seq < from_seq, found)
    if types:
        found = (e for e in found if any(fnmatch.fnmatchcase(e.type, t) for t in types))
    return itertools.islice(found, limit)


def event_json(event: tlo_embed.RecordedEvent) -> dict[str, Any]:
    """The JSON object `tlo log --json` prints for one event (see tlo_embed.cli.output)."""
    return {
        "seq": event.seq,
        "index": event.index,
        "stream": event.stream,
        "version": event.version,
        "type": event.type,
        "data": output.json_safe(event.data),
        "schema_version": event.schema_version,
        "branch": event.branch,
        "metadata": output.json_safe(event.metadata),
        "id": str(event.id),
        "recorded_at": output.iso_time(event.recorded_at_us),
        "recorded_at_us": event.recorded_at_us,
    }


COMMAND = Command(
    name="log",
    summary="list events, across the journal or of one stream",
    description=(
        "List the events of a .tlo file in journal order (seq, then idx: the events of one "
        "turn share a seq), or with --stream the events of one stream in version order. "
        "Text output shows one event per line with its data as compact JSON, shortened to "
        f"{output.DATA_WIDTH} characters. --json prints JSON Lines, one object per event with "
        "every field: seq, index, stream, version, type, data, schema_version, branch, "
        "metadata, id (UUID text), recorded_at (ISO 8601 UTC, 'Z') and recorded_at_us. "
        "Payload values JSON cannot hold are written as one-key objects: bytes as "
        '{"$base64": "..."}, datetimes as {"$datetime": "..."}, UUIDs as {"$uuid": "..."}, '
        'decimals as {"$decimal": "..."}, NaN and infinities as {"$float": "nan"}, other '
        'CBOR tags as {"$tag": N, "$value": ...}; non-string map keys become their JSON text.'
    ),
    examples=(
        Example(argv=("log", "app.tlo"), says="the first 50 events of the journal"),
        Example(argv=("log", "app.tlo", "--stream", "order-1", "--backward", "--limit", "5"),
                says="the newest 5 events of stream order-1"),
        Example(argv=("log", "app.tlo", "--prefix", "order-", "--type", "Item*", "--json"),
                says="events of streams order-*, types Item*, as JSON Lines"),
        Example(argv=("log", "app.tlo", "--from-seq", "3", "--limit", "0"),
                says="every event from turn 3 on"),
    ),
    exit_statuses=((0, "the events were listed (possibly none)"),),
    configure=configure,
    run=run,
)
