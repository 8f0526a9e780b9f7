"""`tlo status FILE`: facts about a .tlo file."""

from __future__ import annotations

import argparse
from typing import Any

import attrs

import tlo_embed
from tlo_embed.cli import output
from tlo_embed.cli.command import Command, Example


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, readonly=True) as db:
        status = db.status()
    if args.json:
        print(output.json_text(as_json(status)))
        return 0
    created = "unknown" if status.created_at_us is None else output.iso_time(
        status.created_at_us, timespec="seconds")
    print("\n".join(output.fields([
        ("file", status.path),
        ("size", f"{output.human_size(status.size_bytes)} ({status.size_bytes:,} bytes)"),
        ("schema version", status.schema_version),
        ("created", f"{created} by tlo_embed {status.created_by or 'unknown'}"),
        ("last seq", status.last_seq),
        ("turns", status.turns),
        ("events", status.events),
        ("streams", status.streams),
        ("subscriptions", status.subscriptions),
        ("snapshots", status.snapshots),
    ])))
    print()
    print("\n".join(output.table(
        ("branch", "parent", "fork seq", "head seq"),
        [(b.name, b.parent or "-", b.fork_seq, b.head_seq) for b in status.branches],
    )))
    return 0


def as_json(status: tlo_embed.Status) -> dict[str, Any]:
    """The JSON object `tlo status --json` prints: every Status field, plus `created_at`."""
    fields: dict[str, Any] = attrs.asdict(status)
    created = status.created_at_us
    fields["created_at"] = None if created is None else output.iso_time(created)
    return fields


COMMAND = Command(
    name="status",
    summary="show a .tlo file's size, schema version, counts and branches",
    description=(
        "Show facts about an existing .tlo file: its path and size (with the write-ahead "
        "log), schema version, when and by which tlo_embed version it was created, the "
        "newest turn (last seq), how many turns, events, streams, subscriptions and "
        "snapshots it holds, and its branches (parent, fork point, head). FILE is never "
        "created. With --json, one object with the same facts (times as ISO 8601, plus "
        "the exact *_us integers)."
    ),
    examples=(
        Example(argv=("status", "app.tlo"), says="a readable summary"),
        Example(argv=("status", "app.tlo", "--json"), says="the same as one JSON object"),
    ),
    exit_statuses=((0, "the status was printed"),),
    configure=configure,
    run=run,
)
