"""`tlo init FILE`: create a new .tlo file."""

from __future__ import annotations

import argparse

import tlo_embed
from tlo_embed.cli.command import Command, Example
from tlo_embed.store.connection import APPLICATION_ID, read_header


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the .tlo file to create")
    parser.add_argument(
        "--durability", choices=("normal", "full"), default="normal",
        help=(
            "durability of the connection that creates the file (default: normal). It is "
            "not stored in the file: every program chooses its own with "
            "tlo_embed.open(path, durability=...)"
        ),
    )


def run(args: argparse.Namespace) -> int:
    path: str = args.file
    header = read_header(path)  # refuses a file that is not SQLite, changing nothing
    existed = header is not None and header.application_id == APPLICATION_ID
    # An existing .tlo file is opened without create, so a damaged or newer one is refused.
    with tlo_embed.open(path, create=not existed, durability=args.durability) as db:
        status = db.status()
    if existed:
        print(f"{path} is already a .tlo file (schema version {status.schema_version}, "
              f"{status.turns} turns)")
    else:
        print(f"created {path} (schema version {status.schema_version})")
    return 0


COMMAND = Command(
    name="init",
    summary="create a new .tlo file",
    description=(
        "Create a new, empty .tlo file: a SQLite database holding the tlo_embed schema, with "
        "the branch `main`. If FILE is already a .tlo file, say so and exit 0. An "
        "existing file that is not a .tlo file is refused and left unchanged (an empty file, "
        "or an empty SQLite database, is claimed)."
    ),
    examples=(
        Example(argv=("init", "app.tlo"), says="create app.tlo in the current directory"),
        Example(argv=("init", "app.tlo", "--durability", "full"),
                says="the same, fsyncing the creating write"),
    ),
    exit_statuses=((0, "the file was created, or already was a .tlo file"),),
    configure=configure,
    run=run,
)
