"""`tlo tasks FILE`: the task definitions recorded in a file."""

from __future__ import annotations

import argparse
from typing import Any

import attrs

import tlo_embed
from tlo_embed.cli import output
from tlo_embed.cli.command import Command, Example


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an existing .tlo file")
    parser.add_argument("--json", action="store_true",
                        help="print JSON Lines: one object per task, every option")


def run(args: argparse.Namespace) -> int:
    with tlo_embed.open(args.file, readonly=True) as db:
        tasks = db.tasks()
    if args.json:
        for task in tasks:
            print(output.json_text(task_json(task)))
        return 0
    if not tasks:
        print("(no tasks)")
        return 0
    print("\n".join(output.table(
        ("name", "queue", "options", "import path"),
        [(t.name, t.options.queue, option_text(t.options) or "-",
          t.import_path or "- (not importable: defined in __main__ or a local scope)")
         for t in tasks],
    )))
    return 0


def option_text(options: tlo_embed.TaskOptions) -> str:
    """The options that differ from the defaults, except the queue: "retries=5 exclusive"."""
    defaults = attrs.asdict(tlo_embed.TaskOptions())
    words = []
    for name, value in attrs.asdict(options).items():
        if name == "queue" or value == defaults.get(name):
            continue
        if isinstance(value, bool):
            words.append(name if value else f"{name}=no")
        elif isinstance(value, float):
            words.append(f"{name}={value:g}")
        elif isinstance(value, str) and " " in value:
            words.append(f"{name}={output.json_text(value)}")
        else:
            words.append(f"{name}={value}")
    return " ".join(words)


def task_json(task: tlo_embed.TaskInfo) -> dict[str, Any]:
    """The JSON object `tlo tasks --json` prints for one task."""
    return {
        "name": task.name,
        "import_path": task.import_path,
        "options": output.json_safe(attrs.asdict(task.options)),
        "registered_at": output.iso_time(task.registered_at_us),
        "registered_at_us": task.registered_at_us,
    }


COMMAND = Command(
    name="tasks",
    summary="list the task definitions recorded in a .tlo file",
    description=(
        "List the tasks registered in a .tlo file (with @db.task or db.task(fn)), by name: "
        "the queue their jobs go to, the options that differ from the defaults (priority, "
        "retries, backoff, max_backoff, timeout, exclusive, ...) and the import path "
        "(module:qualname) a worker in another process loads the function from. A task "
        "defined in __main__ or inside a function has no import path: only the process that "
        "registered it can run its jobs. Nothing is written. --json prints JSON Lines, one "
        "object per task: name, import_path, options (every option), registered_at (ISO "
        "8601 UTC) and registered_at_us."
    ),
    examples=(
        Example(argv=("tasks", "app.tlo"), says="a table of the tasks"),
        Example(argv=("tasks", "app.tlo", "--json"), says="one JSON object per task"),
    ),
    exit_statuses=((0, "the tasks were listed (possibly none)"),),
    configure=configure,
    run=run,
)
