"""The task registry: task names -> functions (in this process) and definitions (in the file).

A definition (name, import path, options) is recorded in the `$tasks` stream when it is new
or changed, so a worker in another process can find the function by its import path, and the
file's history says when each task's options changed. Functions themselves stay in memory;
nothing is attached to them (compiled functions take no attributes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, final

from tlo_embed.codec.cbor import ENC_CBOR, decode
from tlo_embed.errors import InvalidArgumentError, TaskNotFoundError
from tlo_embed.journal.core import Journal
from tlo_embed.journal.records import ANY, Event
from tlo_embed.store import sql
from tlo_embed.tasks import model
from tlo_embed.tasks.model import TaskInfo, TaskOptions

TaskFunction = Callable[..., Any]


def import_path_of(fn: TaskFunction) -> str | None:
    """`module:qualname` when another process can import `fn` that way, else None."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if module == "__main__" or "<locals>" in qualname or "<lambda>" in qualname:
        return None
    return f"{module}:{qualname}"


def resolve_import_path(path: str) -> TaskFunction:
    """Import `module:qualname` and return the callable it names.

    Raises:
        TaskNotFoundError: the module or attribute cannot be found, or is not callable.
    """
    module_name, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as e:
        msg = f"cannot import task function {path!r}: {e}"
        raise TaskNotFoundError(msg) from e
    if not callable(target):
        msg = f"{path!r} is not callable"
        raise TaskNotFoundError(msg)
    return target  # type: ignore[no-any-return]


@final
class TaskRegistry:
    """Tasks known to one open database."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._functions: dict[str, TaskFunction] = {}
        self._options: dict[str, TaskOptions] = {}
        #: Resolves import paths that are not Python ones (the plugin layer's
        #: "plugin:<name>#<export>"): (branch, path) -> a callable, or None.
        self.resolve_target: Callable[[str, str], TaskFunction | None] | None = None

    def register(
        self,
        branch: str,
        fn: TaskFunction,
        *,
        name: str | None,
        options: TaskOptions,
        import_path: str | None = None,
    ) -> str:
        """Register `fn` under `name` (default: its `__name__`) and record the definition.

        `import_path` overrides the recorded path (a path `resolve_target` understands).

        Returns:
            The task's name.
        """
        if not callable(fn):
            msg = f"a task must be callable, got {type(fn).__name__}"
            raise InvalidArgumentError(msg)
        task_name = name if name is not None else getattr(fn, "__name__", "")
        if not isinstance(task_name, str) or not task_name:
            msg = "a task needs a non-empty name"
            raise InvalidArgumentError(msg)
        if options.retries < 0 or options.backoff < 0 or options.max_backoff < 0:
            msg = "retries, backoff and max_backoff must be >= 0"
            raise InvalidArgumentError(msg)
        if options.timeout is not None and options.timeout <= 0:
            msg = f"timeout must be > 0 seconds, got {options.timeout}"
            raise InvalidArgumentError(msg)
        if import_path is None:
            import_path = import_path_of(fn)
        data = {"name": task_name, "import_path": import_path, "options": options.to_data()}
        with self.journal.turn_scope(branch) as (txn, turn):
            stored = self._stored(txn.conn, branch, task_name)
            # Compared as plain data: compiled code compares attrs instances by identity.
            if (
                stored is None
                or stored.import_path != import_path
                or stored.options.to_data() != options.to_data()
            ):
                self.journal.append_in(
                    txn, turn, model.TASKS_STREAM, Event(model.TASK_REGISTERED, data), ANY
                )
        self._functions[task_name] = fn
        self._options[task_name] = options
        return task_name

    def remove(self, branch: str, name: str) -> None:
        """Forget a task (its jobs stay; workers can no longer run them).

        Raises:
            TaskNotFoundError: no such task in the file.
        """
        with self.journal.turn_scope(branch) as (txn, turn):
            if self._stored(txn.conn, branch, name) is None:
                msg = f"no task named {name!r} is registered"
                raise TaskNotFoundError(msg)
            self.journal.append_in(
                txn, turn, model.TASKS_STREAM, Event(model.TASK_REMOVED, {"name": name}), ANY
            )
        self._functions.pop(name, None)
        self._options.pop(name, None)

    def options(self, branch: str, name: str) -> TaskOptions:
        """The task's options: from this process's registration, else from the file.

        Raises:
            TaskNotFoundError: the task is unknown.
        """
        found = self._options.get(name)
        if found is not None:
            return found
        stored = self._stored(self.journal.store.connection(), branch, name)
        if stored is None:
            msg = f"no task named {name!r} is registered (register it with @db.task)"
            raise TaskNotFoundError(msg)
        return stored.options

    def function(self, branch: str, name: str) -> TaskFunction:
        """The callable for task `name`: registered here, else imported by its import path.

        Raises:
            TaskNotFoundError: unknown here and not importable.
        """
        fn = self._functions.get(name)
        if fn is not None:
            return fn
        stored = self._stored(self.journal.store.connection(), branch, name)
        if stored is None or stored.import_path is None:
            msg = (
                f"task {name!r} has no function in this process"
                + ("" if stored is None else " and no import path (defined in __main__ or a"
                   " local scope)")
            )
            raise TaskNotFoundError(msg)
        resolver = self.resolve_target
        found = None if resolver is None else resolver(branch, stored.import_path)
        fn = found if found is not None else resolve_import_path(stored.import_path)
        self._functions[name] = fn
        return fn

    def import_path(self, branch: str, name: str) -> str:
        """The `module:qualname` another process imports task `name`'s function by.

        The path of the function registered in this process, else the one recorded in
        the file. Nothing is imported here.

        Raises:
            TaskNotFoundError: the task is unknown, or its function was defined in
                `__main__` or inside another function, where no other process can find it.
        """
        fn = self._functions.get(name)
        path = None if fn is None else import_path_of(fn)
        if path is None:
            stored = self._stored(self.journal.store.connection(), branch, name)
            if stored is None:
                msg = f"no task named {name!r} is registered (register it with @db.task)"
                raise TaskNotFoundError(msg)
            path = stored.import_path
        if path is not None and path.startswith("plugin:"):
            msg = (
                f"task {name!r} is implemented by a plugin ({path}): run it with an inline or"
                " thread worker, not the process executor"
            )
            raise TaskNotFoundError(msg)
        if path is None:
            msg = (
                f"task {name!r} cannot run in another process: its function is defined in"
                " __main__ or inside a function, so it has no import path; define it at the"
                " top level of an importable module"
            )
            raise TaskNotFoundError(msg)
        return path

    def list(self, branch: str) -> list[TaskInfo]:
        """Every task recorded in the file, by name."""
        return [
            _info(row) for row in sql.rows(
                self.journal.store.connection(),
                # Branch through sql.TEXT_PARAM: bare, SQLite re-prepared it every call.
                "SELECT name, import_path, options, registered_at FROM tasks"
                f" WHERE branch = {sql.TEXT_PARAM} ORDER BY name", (branch,),
            )
        ]

    def _stored(self, conn: Any, branch: str, name: str) -> TaskInfo | None:
        rows = sql.rows(
            conn,
            "SELECT name, import_path, options, registered_at FROM tasks"
            " WHERE branch = ? AND name = ?", (branch, name),
        )
        return _info(rows[0]) if rows else None


def _info(row: Any) -> TaskInfo:
    options = decode(row[2], ENC_CBOR)
    return TaskInfo(
        name=row[0], import_path=row[1],
        options=TaskOptions.from_data(options if isinstance(options, dict) else {}),
        registered_at_us=row[3],
    )
