"""tlo_embed/tasks/settings.py: worker settings from arguments, TLO_* variables, defaults."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import tlo_embed
from tlo_embed.tasks.settings import ENV_VARIABLES, WorkerSettings, parse_queues


def test_defaults_without_environment() -> None:
    """With no TLO_* variable and no argument, every setting is its documented default."""
    settings = WorkerSettings.resolve(environ={})
    assert settings == WorkerSettings()
    assert (settings.queues, settings.concurrency, settings.executor) == (None, 1, "inline")
    assert (settings.lease, settings.poll, settings.grace) == (30.0, 0.5, math.inf)
    assert (settings.worker_id, settings.busy_timeout, settings.durability) == (
        None, 5.0, "normal")


def test_every_variable_is_read() -> None:
    """Each TLO_* variable sets its setting, parsed to the setting's type."""
    env = {
        "TLO_QUEUES": " emails, ,reports ", "TLO_CONCURRENCY": "4", "TLO_EXECUTOR": "process",
        "TLO_LEASE": "12.5", "TLO_POLL": "0.1", "TLO_GRACE": "30", "TLO_WORKER_ID": "w1",
        "TLO_BUSY_TIMEOUT": "2", "TLO_DURABILITY": "full",
    }
    assert sorted(env) == sorted(ENV_VARIABLES)
    assert WorkerSettings.from_env(env) == WorkerSettings(
        queues=("emails", "reports"), concurrency=4, executor="process", lease=12.5, poll=0.1,
        grace=30.0, worker_id="w1", busy_timeout=2.0, durability="full",
    )


def test_arguments_override_environment_which_overrides_defaults() -> None:
    """An explicit argument wins over its variable; a variable wins over the default."""
    env = {"TLO_CONCURRENCY": "4", "TLO_EXECUTOR": "thread", "TLO_LEASE": "9"}
    settings = WorkerSettings.resolve(environ=env, concurrency=2, queues="a,b")
    assert (settings.concurrency, settings.executor, settings.lease) == (2, "thread", 9.0)
    assert settings.queues == ("a", "b")
    assert settings.poll == 0.5


def test_empty_variables_count_as_unset() -> None:
    """A variable set to "" (or blanks) leaves the default in place."""
    assert WorkerSettings.from_env({"TLO_CONCURRENCY": "", "TLO_QUEUES": "  "}) == (
        WorkerSettings())


@pytest.mark.parametrize(("variable", "value"), [
    ("TLO_CONCURRENCY", "four"),
    ("TLO_CONCURRENCY", "0"),
    ("TLO_CONCURRENCY", "1.5"),
    ("TLO_EXECUTOR", "fork"),
    ("TLO_LEASE", "soon"),
    ("TLO_LEASE", "0"),
    ("TLO_LEASE", "inf"),
    ("TLO_POLL", "-1"),
    ("TLO_GRACE", "-1"),
    ("TLO_GRACE", "nan"),
    ("TLO_BUSY_TIMEOUT", "0"),
    ("TLO_DURABILITY", "off"),
])
def test_a_bad_variable_is_refused_by_name(variable: str, value: str) -> None:
    """A malformed or out-of-range variable raises InvalidArgumentError naming it."""
    with pytest.raises(tlo_embed.InvalidArgumentError, match=variable):
        WorkerSettings.from_env({variable: value})


def test_grace_may_be_infinite() -> None:
    """TLO_GRACE=inf means no limit (the default)."""
    assert WorkerSettings.from_env({"TLO_GRACE": "inf"}).grace == math.inf


@pytest.mark.parametrize(("argument", "value"), [
    ("concurrency", 0), ("executor", "fork"), ("lease", 0.0), ("poll", -1.0),
    ("grace", -0.5), ("busy_timeout", 0.0), ("durability", "off"), ("worker_id", ""),
])
def test_a_bad_argument_is_refused_by_name(argument: str, value: object) -> None:
    """An out-of-range argument raises InvalidArgumentError naming the argument."""
    with pytest.raises(tlo_embed.InvalidArgumentError, match=f"^{argument} must be"):
        WorkerSettings(**{argument: value})  # type: ignore[arg-type]


def test_queue_lists() -> None:
    """Queues: comma-separated text or a list; blanks dropped; none left means every queue."""
    assert parse_queues("a, b,,c ") == ("a", "b", "c")
    assert parse_queues(" , ") is None
    assert WorkerSettings(queues=["x"]).queues == ("x",)
    assert WorkerSettings(queues=[]).queues is None
    assert WorkerSettings().with_arguments(queues=["y", "z"]).queues == ("y", "z")


def test_database_worker_reads_the_environment(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """db.worker() takes unset options from TLO_* variables; explicit arguments win."""
    monkeypatch.setenv("TLO_CONCURRENCY", "3")
    monkeypatch.setenv("TLO_EXECUTOR", "thread")
    monkeypatch.setenv("TLO_QUEUES", "emails")
    monkeypatch.setenv("TLO_GRACE", "7")
    with tlo_embed.open(db_path) as db:
        worker = db.worker()
        assert (worker.concurrency, worker.executor, worker.queues) == (3, "thread", ["emails"])
        assert worker.grace == 7.0
        explicit = db.worker(concurrency=1, executor="inline", queues=["reports"])
        assert (explicit.concurrency, explicit.executor, explicit.queues) == (
            1, "inline", ["reports"])


def test_database_worker_with_settings_ignores_the_environment(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """db.worker(settings=...) starts from those settings instead of the environment."""
    monkeypatch.setenv("TLO_CONCURRENCY", "3")
    monkeypatch.setenv("TLO_EXECUTOR", "thread")
    with tlo_embed.open(db_path) as db:
        worker = db.worker(settings=WorkerSettings(lease=4.0), poll=0.25)
        assert (worker.concurrency, worker.executor) == (1, "inline")
        assert (worker.lease, worker.poll) == (4.0, 0.25)


def test_database_worker_refuses_a_bad_variable(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad TLO_* variable makes db.worker() raise, naming the variable."""
    monkeypatch.setenv("TLO_LEASE", "often")
    with tlo_embed.open(db_path) as db, pytest.raises(
        tlo_embed.InvalidArgumentError, match="TLO_LEASE"
    ):
        db.worker()
