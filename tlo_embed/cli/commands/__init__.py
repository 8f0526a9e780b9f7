"""The `tlo` subcommands, in the order `tlo --help` and docs/cli.md list them."""

from __future__ import annotations

from typing import Final

from tlo_embed.cli.command import Command
from tlo_embed.cli.commands import check, demo, init, log, status

COMMANDS: Final[tuple[Command, ...]] = (
    init.COMMAND,
    status.COMMAND,
    log.COMMAND,
    check.COMMAND,
    demo.COMMAND,
)
