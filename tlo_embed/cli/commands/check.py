"""`tlo check FILE`: prove the projections equal the fold of the journal."""

from __future__ import annotations

import argparse
import sys

import attrs

import tlo_embed
from tlo_embed.cli import output
from tlo_embed.cli.command import Command, Example


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--no-integrity", action="store_true",
                        help="skip SQLite's page-level quick_check (faster on large files)")


def run(args: argparse.Namespace) -> int:
    progress = output.ProgressLine(sys.stderr, "checking")
    try:
        with tlo_embed.open(args.file, readonly=True) as db:
            report = db.check(integrity=not args.no_integrity, progress=progress)
    finally:
        progress.done()
    if args.json:
        fields = attrs.asdict(report)
        fields["integrity_checked"] = not args.no_integrity
        print(output.json_text(fields))
    else:
        print(f"checked {args.file}")
        print("\n".join("  " + line for line in output.fields([
            ("turns replayed", report.turns),
            ("events replayed", report.events),
            ("tables compared", ", ".join(report.tables)),
            ("sqlite quick_check", "skipped" if args.no_integrity else "ran"),
        ])))
        if report.ok:
            print("ok: every projection equals the fold of the journal")
        else:
            print(f"{len(report.problems)} problem(s) found:")
            print("\n".join(f"  - {problem}" for problem in report.problems))
    return 0 if report.ok else 1


COMMAND = Command(
    name="check",
    summary="verify that every projection table equals the fold of the journal",
    description=(
        "Replay the whole journal of a .tlo file into a scratch database and compare every "
        "projection table (streams, branches, ...) with the file's, row by row; check the "
        "journal's own invariants (every turn has events, stream versions have no gaps) and, "
        "unless --no-integrity, run SQLite's quick_check. Nothing is written. A progress "
        "line is shown on stderr when it is a terminal."
    ),
    examples=(
        Example(argv=("check", "app.tlo"), says="check everything"),
        Example(argv=("check", "app.tlo", "--no-integrity", "--json"),
                says="skip the page-level check; print JSON"),
    ),
    exit_statuses=(
        (0, "the file is consistent"),
        (1, "problems were found (listed on stdout)"),
    ),
    configure=configure,
    run=run,
)
