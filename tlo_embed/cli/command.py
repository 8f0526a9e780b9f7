"""`Command`: what one `tlo` subcommand declares (its help, examples, arguments, body).

Each module of `tlo_embed.cli.commands` builds one `Command`. The parser, `--help` and
docs/cli.md are all rendered from these records, so the examples a user reads are the ones the
tests execute (tests/cli/test_cli_reference.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import attrs

class UsageError(Exception):
    """A combination of arguments the parser cannot express was given (exit status 2)."""


class CommandError(Exception):
    """A command refuses to go on for a reason of its own (exit status 1).

    Errors of the engine are `tlo_embed.TloError`s; this is for the CLI's own refusals, such as
    `tlo demo` declining to overwrite a file.
    """


#: A command's body: takes the parsed arguments, returns the exit status.
Runner = Callable[[argparse.Namespace], int]

#: Adds a command's arguments to its parser.
Configure = Callable[[argparse.ArgumentParser], None]


@attrs.frozen(kw_only=True)
class Example:
    """One example invocation shown in `--help` and docs/cli.md (and run by the tests).

    Attributes:
        argv: the command line after `tlo`, e.g. ("status", "app.tlo", "--json").
        says: what it does, in a few words.
    """

    argv: tuple[str, ...]
    says: str


@attrs.frozen(kw_only=True)
class Command:
    """One `tlo` subcommand.

    Attributes:
        name: the subcommand's name (`tlo NAME ...`).
        summary: one line, shown in `tlo --help`'s command list.
        description: a paragraph, shown at the top of `tlo NAME --help`.
        examples: example invocations (run by the tests in a directory holding app.tlo).
        exit_statuses: (status, meaning) pairs specific to this command; the statuses shared by
            all commands are listed in `tlo --help`.
        configure: adds the command's arguments to its parser.
        run: the command's body.
    """

    name: str
    summary: str
    description: str
    examples: tuple[Example, ...]
    exit_statuses: tuple[tuple[int, str], ...]
    configure: Configure
    run: Runner
