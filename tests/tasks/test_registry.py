"""tlo_embed/tasks/registry.py: task names -> functions in memory and definitions in the file."""

from __future__ import annotations

import functools
import os.path
from pathlib import Path

import pytest

import tlo_embed
from tlo_embed.tasks import model
from tlo_embed.tasks.model import TaskOptions
from tlo_embed.tasks.registry import TaskRegistry, import_path_of, resolve_import_path

from . import support
from .support import MAIN, add, opened, still_clock


class Holder:
    """A class whose method is a task function."""

    @staticmethod
    def triple(x: int) -> int:
        """Three times x."""
        return 3 * x


def registrations(db: tlo_embed.Database) -> list[tlo_embed.RecordedEvent]:
    """The events of the `$tasks` stream."""
    return list(db.read(model.TASKS_STREAM))


# -- import paths --------------------------------------------------------------------------------


def test_import_path_of_a_module_level_function_is_module_and_qualname() -> None:
    """A module-level function is found again as `module:qualname`."""
    assert import_path_of(add) == f"{add.__module__}:add"
    assert import_path_of(Holder.triple) == f"{Holder.__module__}:Holder.triple"


def test_import_path_of_locals_and_lambdas_is_none() -> None:
    """Functions defined in a local scope, and lambdas, cannot be imported: None."""

    def local() -> None:
        """A local function."""

    assert import_path_of(local) is None
    assert import_path_of(lambda: None) is None


def test_import_path_of_a_main_function_is_none() -> None:
    """A function of `__main__` means nothing to another process: None."""

    def script_task() -> None:
        """Stands for a function defined in a script."""

    script_task.__module__ = "__main__"
    script_task.__qualname__ = "script_task"
    assert import_path_of(script_task) is None


def test_import_path_of_a_callable_without_a_qualname_is_none() -> None:
    """A callable object without __module__/__qualname__ (a partial) has no import path."""
    assert import_path_of(functools.partial(add, 1)) is None


def test_resolve_import_path_finds_functions_and_nested_attributes() -> None:
    """`module:qualname` resolves to the callable, through dotted attributes too."""
    assert resolve_import_path("os.path:join") is os.path.join
    assert resolve_import_path(import_path_of(add) or "") is add
    assert resolve_import_path(import_path_of(Holder.triple) or "")(2) == 6


@pytest.mark.parametrize(
    "path",
    ["no_such_module_for_tlo:f", "os.path:no_such_function", "os:path.nothing_here",
     "tlo_embed.tasks.model:PENDING"],
    ids=["module", "attribute", "nested", "not-callable"],
)
def test_resolve_import_path_failures_are_task_not_found(path: str) -> None:
    """A missing module, missing attribute or non-callable target raises TaskNotFoundError."""
    with pytest.raises(tlo_embed.TaskNotFoundError):
        resolve_import_path(path)


# -- registration --------------------------------------------------------------------------------


def test_register_records_a_definition(db: tlo_embed.Database) -> None:
    """register returns the name and records name, import path and options in `$tasks`."""
    registry = TaskRegistry(db.journal)
    opts = TaskOptions(queue="math", retries=1)
    assert registry.register(MAIN, add, name=None, options=opts) == "add"
    [event] = registrations(db)
    assert event.type == model.TASK_REGISTERED
    assert event.data == {"name": "add", "import_path": import_path_of(add),
                          "options": opts.to_data()}
    [info] = registry.list(MAIN)
    assert (info.name, info.import_path, info.options) == ("add", import_path_of(add), opts)
    assert info.registered_at_us == event.recorded_at_us


def test_registering_twice_with_the_same_options_writes_one_event(
    db: tlo_embed.Database,
) -> None:
    """Re-registering an unchanged definition (e.g. at every start-up) writes nothing."""
    registry = TaskRegistry(db.journal)
    registry.register(MAIN, add, name=None, options=TaskOptions(retries=2))
    seq = db.last_seq
    registry.register(MAIN, add, name=None, options=TaskOptions(retries=2))
    assert db.last_seq == seq
    assert len(registrations(db)) == 1


def test_changed_options_write_another_event(db: tlo_embed.Database) -> None:
    """A definition whose options changed is recorded again; the table holds the newest."""
    registry = TaskRegistry(db.journal)
    registry.register(MAIN, add, name=None, options=TaskOptions(retries=2))
    registry.register(MAIN, add, name=None, options=TaskOptions(retries=5))
    events = registrations(db)
    assert [e.type for e in events] == [model.TASK_REGISTERED] * 2
    assert [e.data["options"]["retries"] for e in events] == [2, 5]
    assert registry.list(MAIN)[0].options.retries == 5
    support.assert_checks(db)


def test_a_new_function_under_the_same_name_writes_another_event(
    db: tlo_embed.Database,
) -> None:
    """Re-pointing a name at another function (a new import path) is recorded."""
    registry = TaskRegistry(db.journal)
    registry.register(MAIN, add, name="calc", options=TaskOptions())
    registry.register(MAIN, support.echo, name="calc", options=TaskOptions())
    assert [e.data["import_path"] for e in registrations(db)] == [
        import_path_of(add), import_path_of(support.echo)]
    assert registry.function(MAIN, "calc") is support.echo


def test_a_second_handle_registering_the_same_definition_writes_nothing(
    db_path: Path,
) -> None:
    """The comparison is with the file, not this process: another handle sees it stored."""
    clock = still_clock()
    with opened(db_path, clock) as first, opened(db_path, clock) as second:
        TaskRegistry(first.journal).register(MAIN, add, name=None, options=TaskOptions())
        TaskRegistry(second.journal).register(MAIN, add, name=None, options=TaskOptions())
        assert len(registrations(first)) == 1


@pytest.mark.parametrize(
    "options",
    [TaskOptions(retries=-1), TaskOptions(backoff=-0.5), TaskOptions(max_backoff=-1.0),
     TaskOptions(timeout=0.0), TaskOptions(timeout=-3.0)],
    ids=["retries", "backoff", "max-backoff", "timeout-zero", "timeout-negative"],
)
def test_bad_options_are_refused_and_nothing_written(
    db: tlo_embed.Database, options: TaskOptions
) -> None:
    """Negative retries/backoff or a non-positive timeout raise InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        TaskRegistry(db.journal).register(MAIN, add, name=None, options=options)
    assert db.last_seq == 0


def test_non_callables_and_empty_names_are_refused(db: tlo_embed.Database) -> None:
    """A task must be callable and have a non-empty name."""
    registry = TaskRegistry(db.journal)
    with pytest.raises(tlo_embed.InvalidArgumentError):
        registry.register(MAIN, 42, name="x", options=TaskOptions())  # type: ignore[arg-type]
    with pytest.raises(tlo_embed.InvalidArgumentError):
        registry.register(MAIN, add, name="", options=TaskOptions())
    with pytest.raises(tlo_embed.InvalidArgumentError):
        registry.register(MAIN, functools.partial(add, 1), name=None, options=TaskOptions())
    assert db.last_seq == 0


# -- lookups ---------------------------------------------------------------------------------------


def test_options_come_from_this_process_else_from_the_file(db_path: Path) -> None:
    """Another handle, which registered nothing, reads a task's options from the file."""
    clock = still_clock()
    opts = TaskOptions(queue="math", priority=4, retries=0)
    with opened(db_path, clock) as first, opened(db_path, clock) as second:
        TaskRegistry(first.journal).register(MAIN, add, name=None, options=opts)
        assert TaskRegistry(second.journal).options(MAIN, "add") == opts
        with pytest.raises(tlo_embed.TaskNotFoundError):
            TaskRegistry(second.journal).options(MAIN, "nope")


def test_function_is_imported_by_path_in_another_handle(db_path: Path) -> None:
    """A handle that did not register the task imports its function by the stored path."""
    clock = still_clock()
    with opened(db_path, clock) as first, opened(db_path, clock) as second:
        TaskRegistry(first.journal).register(MAIN, add, name="plus", options=TaskOptions())
        assert TaskRegistry(second.journal).function(MAIN, "plus") is add


def test_function_without_an_import_path_is_not_found_elsewhere(db_path: Path) -> None:
    """A local function runs only in the process that registered it."""
    clock = still_clock()

    def local() -> None:
        """Not importable."""

    with opened(db_path, clock) as first, opened(db_path, clock) as second:
        registry = TaskRegistry(first.journal)
        registry.register(MAIN, local, name=None, options=TaskOptions())
        assert registry.function(MAIN, "local") is local
        assert registry.list(MAIN)[0].import_path is None
        with pytest.raises(tlo_embed.TaskNotFoundError, match="no import path"):
            TaskRegistry(second.journal).function(MAIN, "local")
        with pytest.raises(tlo_embed.TaskNotFoundError):
            TaskRegistry(second.journal).function(MAIN, "unknown")


def test_list_is_sorted_by_name(db: tlo_embed.Database) -> None:
    """list() returns every recorded task by name."""
    registry = TaskRegistry(db.journal)
    for name in ("b", "c", "a"):
        registry.register(MAIN, add, name=name, options=TaskOptions())
    assert [t.name for t in registry.list(MAIN)] == ["a", "b", "c"]


# -- removal -------------------------------------------------------------------------------------


def test_remove_records_task_removed_and_forgets_the_task(db: tlo_embed.Database) -> None:
    """remove() appends TaskRemoved; the task is gone from the file and from this process."""
    registry = TaskRegistry(db.journal)
    registry.register(MAIN, add, name=None, options=TaskOptions())
    registry.remove(MAIN, "add")
    assert [e.type for e in registrations(db)] == [model.TASK_REGISTERED, model.TASK_REMOVED]
    assert registry.list(MAIN) == []
    with pytest.raises(tlo_embed.TaskNotFoundError):
        registry.options(MAIN, "add")
    with pytest.raises(tlo_embed.TaskNotFoundError):
        registry.function(MAIN, "add")
    support.assert_checks(db)


def test_remove_of_an_unknown_task_raises_and_writes_nothing(db: tlo_embed.Database) -> None:
    """Removing a task that is not in the file raises TaskNotFoundError; no turn."""
    with pytest.raises(tlo_embed.TaskNotFoundError):
        TaskRegistry(db.journal).remove(MAIN, "ghost")
    assert db.last_seq == 0


def test_a_removed_task_can_be_registered_again(db: tlo_embed.Database) -> None:
    """After removal the same definition is recorded anew."""
    registry = TaskRegistry(db.journal)
    registry.register(MAIN, add, name=None, options=TaskOptions())
    registry.remove(MAIN, "add")
    registry.register(MAIN, add, name=None, options=TaskOptions())
    assert len(registrations(db)) == 3
    assert [t.name for t in registry.list(MAIN)] == ["add"]
