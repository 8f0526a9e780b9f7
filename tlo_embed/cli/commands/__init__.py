"""The `tlo` subcommands, in the order `tlo --help` and docs/cli.md list them."""

from __future__ import annotations

from typing import Final

from tlo_embed.cli.command import Command
from tlo_embed.cli.commands import (
    check,
    demo,
    init,
    jobs,
    log,
    plugin,
    queue,
    run,
    schedule,
    stats,
    status,
    tasks,
    worker,
)

COMMANDS: Final[tuple[Command, ...]] = (
    init.COMMAND,
    status.COMMAND,
    log.COMMAND,
    check.COMMAND,
    tasks.COMMAND,
    jobs.COMMAND,
    queue.COMMAND,
    stats.COMMAND,
    schedule.COMMAND,
    worker.COMMAND,
    run.COMMAND,
    plugin.COMMAND,
    demo.COMMAND,
)
