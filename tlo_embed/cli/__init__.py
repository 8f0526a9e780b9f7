"""The `tlo` command: `main()` builds the parser from the commands and maps errors to exit statuses.

Every subcommand lives in `tlo_embed.cli.commands` as a `Command` record; this module only
assembles them and owns the one place where errors become messages:

- a `tlo_embed.TloError` prints `tlo: error: <message>` and exits with the error's `code`
  (listed by `tlo --help`); never a traceback;
- wrong arguments print argparse's usage message and exit 2;
- Ctrl-C exits 130, a closed output pipe (`tlo log ... | head`) exits 141, quietly.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import os
import platform
import shlex
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import Final

import apsw

import tlo_embed
from tlo_embed.cli.command import Command, CommandError, UsageError
from tlo_embed.cli.commands import COMMANDS
from tlo_embed.database import SCHEMA

__all__ = ["actions_of", "build_parser", "build_parsers", "error_message", "exit_status", "main"]

PROG: Final = "tlo"
#: Help text is wrapped to the terminal, but never wider than this.
MAX_WIDTH: Final = 100

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141

#: What each error means on the command line, by class name; the status is the class's `code`.
_ERROR_MEANINGS: Final[dict[str, str]] = {
    "TloError": "any other error of tlo_embed",
    "InvalidArgumentError": "an argument value is malformed",
    "ClosedError": "the file was closed while in use",
    "NotFoundError": "a named thing (event, branch, subscription) does not exist",
    "StoreError": "the file cannot be used, e.g. it does not exist",
    "NotATloFileError": "the file is not a SQLite database, or not a .tlo file",
    "SchemaVersionError": "the file is newer than this tlo_embed; upgrade to open it",
    "DamagedFileError": "the file is truncated or corrupt; restore it from a copy",
    "ReadOnlyError": "the file or its directory cannot be written",
    "BusyError": "another process held the write lock too long; try again",
    "CodecError": "a stored payload cannot be decoded",
    "SqlError": "a statement run through TurnContext.sql failed",
    "ConcurrencyError": "a stream was not at the expected version",
    "IdempotencyConflictError": "an idempotency key was reused for a different append",
    "LeaseLostError": "a worker reported on a job it no longer holds",
    "TaskNotFoundError": "no task of that name is registered",
}


def exit_status(error: tlo_embed.TloError) -> int:
    """The exit status for an engine error: its class's `code` (1 when out of range)."""
    return exit_status_of(type(error))


def exit_status_of(cls: type[tlo_embed.TloError]) -> int:
    """The exit status `main` uses for errors of class `cls`."""
    code = cls.code
    return code if 0 < code < 126 else EXIT_FAILED


def _error_classes() -> list[type[tlo_embed.TloError]]:
    found = [getattr(tlo_embed, name) for name in tlo_embed.__all__]
    classes = [c for c in found if isinstance(c, type) and issubclass(c, tlo_embed.TloError)]
    return sorted(classes, key=lambda c: (c.code, c.__name__))


def _meaning(cls: type[tlo_embed.TloError]) -> str:
    known = _ERROR_MEANINGS.get(cls.__name__)
    if known is not None:
        return known
    doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
    return doc.rstrip(".")


def _status_lines(statuses: Sequence[tuple[int | str, str]]) -> list[str]:
    return [f"  {status!s:<6}{meaning}" for status, meaning in statuses]


def _main_epilog() -> str:
    statuses: list[tuple[int | str, str]] = [
        (EXIT_OK, "success"),
        (EXIT_FAILED, "`tlo check` found problems, or a failure with no more specific status"),
        (EXIT_USAGE, "wrong arguments (usage error)"),
    ]
    for cls in _error_classes():
        if exit_status_of(cls) != EXIT_FAILED:  # status 1 is listed above
            statuses.append((exit_status_of(cls), f"{_meaning(cls)} ({cls.__name__})"))
    statuses.append((EXIT_INTERRUPTED, "interrupted (Ctrl-C)"))
    statuses.append((EXIT_BROKEN_PIPE, "the output pipe was closed (e.g. `tlo log ... | head`)"))
    lines = [
        "Run `tlo COMMAND --help` for a command's options and examples.",
        "",
        "exit status:",
        *_status_lines(statuses),
        "",
        "Errors print `tlo: error: <message>` on stderr, never a traceback.",
    ]
    return "\n".join(lines)


def _command_epilog(command: Command) -> str:
    lines = ["examples:"]
    for example in command.examples:
        lines.append(f"  {PROG} {shlex.join(example.argv)}")
        lines.append(f"      {example.says}")
    lines += ["", "exit status:"]
    lines += _status_lines([
        *command.exit_statuses,
        (EXIT_USAGE, "wrong arguments"),
        ("other", "an error; `tlo --help` lists the statuses"),
    ])
    return "\n".join(lines)


def _formatter(width: int) -> type[argparse.RawDescriptionHelpFormatter]:
    class Formatter(argparse.RawDescriptionHelpFormatter):
        def __init__(self, prog: str) -> None:
            super().__init__(prog, width=width, max_help_position=28)

    return Formatter


def build_parser(*, width: int | None = None) -> argparse.ArgumentParser:
    """The `tlo` parser with every subcommand.

    Args:
        width: wrap help text to this many columns (default: the terminal's, at most 100).
    """
    return build_parsers(width=width)[0]


def build_parsers(
    *, width: int | None = None
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `tlo` parser and each subcommand's parser by name (see `build_parser`)."""
    if width is None:
        width = min(shutil.get_terminal_size().columns - 2, MAX_WIDTH)
    formatter = _formatter(width)

    def wrap(text: str) -> str:
        return textwrap.fill(text, width)

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=wrap(
            "tlo: inspect and manage tlo_embed files. A .tlo file is one SQLite database "
            "holding an application's event journal and everything derived from it."
        ),
        epilog=_main_epilog(),
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", required=True
    )
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.summary,
            description=wrap(command.description),
            epilog=_command_epilog(command),
            formatter_class=formatter,
        )
        command.configure(sub)
        sub.set_defaults(run=command.run, parser=sub)
        for action in actions_of(sub).values():
            # Actions (`tlo queue FILE peek`) are formatted like their command; their usage
            # errors show their own usage. Examples are listed once, by the command.
            action.formatter_class = formatter
            action.description = wrap(action.description or "")
            action.epilog = f"Examples: `{PROG} {command.name} --help`."
            action.set_defaults(parser=action)
        subparsers[command.name] = sub
    return parser, subparsers


def actions_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A command's actions (`tlo queue FILE ACTION ...`) by name: their parsers; {} if none."""
    for action in parser._actions:  # noqa: SLF001 - argparse has no public way to list them
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return dict(action.choices)
    return {}


def version_text() -> str:
    """What `tlo --version` prints: versions of tlo_embed, its schema, the build, SQLite."""
    from tlo_embed.journal import append  # a module the compiled build compiles

    compiled = (append.__file__ or "").endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    build = "compiled with mypyc" if compiled else "pure Python"
    return (
        f"{PROG} {tlo_embed.__version__} (schema {SCHEMA}; {build}; "
        f"Python {platform.python_version()}; SQLite {apsw.sqlite_lib_version()})"
    )


def _say_error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so flushing at exit does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def error_message(error: tlo_embed.TloError, file: str | None = None) -> str:
    """What `tlo` prints for an error of the engine (after "tlo: error: ").

    The engine's messages are written for its Python API; where one gives Python advice the
    command line says it in its own terms: a CapabilityDenied names `--grant CAP` and
    `tlo plugin grant FILE NAME CAP` instead of `grants=[...]` and `plugins.grant(...)`.
    `file` is the .tlo file of the command, if it has one.
    """
    if isinstance(error, tlo_embed.CapabilityDenied) and error.capability and error.plugin:
        cap, plugin = error.capability, error.plugin
        grant = shlex.join([PROG, "plugin", "grant", file or "FILE", plugin, cap])
        if file is None:
            grant = grant.replace("'FILE'", "FILE")
        if "#" in error.import_name:  # refused at call time (the grant was revoked)
            return (f"plugin {plugin!r} called {error.import_name} but is not granted {cap!r}"
                    f" (grant it with `{grant}`)")
        return (f"plugin {plugin!r} imports {error.import_name} but is not granted {cap!r};"
                f" install it with `--grant {cap}` (or grant it later with `{grant}`)")
    return str(error) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the `tlo` command with `argv` (default: `sys.argv[1:]`); return the exit status."""
    parser = build_parser()
    args: argparse.Namespace | None = None
    try:
        args = parser.parse_args(argv)
        try:
            status: int = args.run(args)
        except UsageError as e:
            args.parser.error(str(e))  # prints the usage, raises SystemExit(2)
        return status
    except SystemExit as e:  # argparse: --help, --version, usage errors
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_FAILED)
    except tlo_embed.TloError as e:
        file = getattr(args, "file", None) if args is not None else None
        _say_error(error_message(e, file if isinstance(file, str) else None))
        return exit_status(e)
    except CommandError as e:
        _say_error(str(e))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say_error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as e:
        # Errors of the CLI's own file handling (e.g. `demo --force` cannot delete a file).
        where = f": {e.filename}" if e.filename else ""
        _say_error(f"{e.strerror or e}{where}")
        return EXIT_FAILED
