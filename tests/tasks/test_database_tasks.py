"""tlo_embed/database.py, task methods: task, tasks, remove_task, enqueue, worker, on, job,
job_history, jobs, queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import tlo_embed
from tlo_embed.tasks import model
from tlo_embed.tasks.registry import import_path_of

from .support import (
    START_US,
    US,
    add,
    assert_checks,
    echo,
    noop,
    opened,
    still_clock,
    turns,
)


@pytest.fixture
def clock() -> tlo_embed.FixedClock:
    """A clock that only moves when a test moves it."""
    return still_clock()


@pytest.fixture
def db(db_path: Path, clock: tlo_embed.FixedClock) -> Iterator[tlo_embed.Database]:
    """A fresh file, checked (projections == fold) after the test."""
    database = tlo_embed.open(db_path, clock=clock)
    try:
        yield database
        assert_checks(database)
    finally:
        database.close()


# -- task registration -----------------------------------------------------------------------------


def test_task_decorator_bare_and_with_options_returns_the_function(
    db: tlo_embed.Database,
) -> None:
    """@db.task and @db.task(...) register the function and return it unchanged."""
    assert db.task(add) is add
    decorated = db.task(name="shout", queue="loud", priority=2, retries=5, backoff=2.0,
                        max_backoff=30.0, timeout=9.0, exclusive=True)(echo)
    assert decorated is echo
    infos = {t.name: t for t in db.tasks()}
    assert set(infos) == {"add", "shout"}
    assert infos["shout"].options == tlo_embed.TaskOptions(
        queue="loud", priority=2, retries=5, backoff=2.0, max_backoff=30.0, timeout=9.0,
        exclusive=True)
    assert infos["add"].import_path == import_path_of(add)
    assert infos["add"].registered_at_us == START_US


def test_tasks_registered_twice_write_one_event_unless_options_change(
    db: tlo_embed.Database,
) -> None:
    """Same options: one TaskRegistered; changed options: another one."""
    db.task(add, retries=1)
    db.task(add, retries=1)
    assert len(list(db.read(model.TASKS_STREAM))) == 1
    db.task(add, retries=2)
    events = list(db.read(model.TASKS_STREAM))
    assert [e.type for e in events] == [model.TASK_REGISTERED] * 2
    assert db.tasks()[0].options.retries == 2


def test_local_functions_have_no_import_path(db: tlo_embed.Database) -> None:
    """A task defined in a function is recorded without an import path."""

    @db.task
    def inner() -> None:
        """Local."""

    assert db.tasks()[0].import_path is None


def test_bad_task_options_raise(db: tlo_embed.Database) -> None:
    """Invalid options raise InvalidArgumentError and record nothing."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.task(add, retries=-1)
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.task(add, timeout=0)
    assert db.tasks() == [] and turns(db) == 0


def test_remove_task_forgets_the_definition_but_keeps_jobs(db: tlo_embed.Database) -> None:
    """remove_task deletes the definition; its jobs and history stay; enqueue then fails."""
    db.task(noop)
    job = db.enqueue("noop")
    db.remove_task("noop")
    assert db.tasks() == []
    assert db.job(job.id).state == "pending"
    assert [e.type for e in db.read(model.TASKS_STREAM)] == [
        model.TASK_REGISTERED, model.TASK_REMOVED]
    with pytest.raises(tlo_embed.TaskNotFoundError):
        db.enqueue("noop")
    with pytest.raises(tlo_embed.TaskNotFoundError):
        db.remove_task("noop")


def test_tasks_are_visible_to_other_handles(db_path: Path) -> None:
    """Another handle on the file lists the task and can enqueue it."""
    clock = still_clock()
    with opened(db_path, clock) as first, opened(db_path, clock) as second:
        first.task(add, queue="math")
        assert [t.name for t in second.tasks()] == ["add"]
        assert second.enqueue("add", [1, 2]).queue == "math"


# -- enqueue --------------------------------------------------------------------------------------


def test_enqueue_an_unknown_task_raises_and_writes_nothing(db: tlo_embed.Database) -> None:
    """Enqueueing a task nobody registered raises TaskNotFoundError; no turn."""
    with pytest.raises(tlo_embed.TaskNotFoundError):
        db.enqueue("nope", {"x": 1})
    assert turns(db) == 0


def test_enqueue_a_non_cbor_payload_raises_and_writes_nothing(db: tlo_embed.Database) -> None:
    """A payload CBOR cannot encode raises CodecError; the turn count is unchanged."""
    db.task(echo)
    before = turns(db)
    with pytest.raises(tlo_embed.CodecError):
        db.enqueue("echo", {"value": lambda: None})
    with pytest.raises(tlo_embed.CodecError):
        db.enqueue("echo", [object()])
    assert turns(db) == before
    assert db.jobs() == []


def test_enqueue_after_a_missing_job_raises_not_found(db: tlo_embed.Database) -> None:
    """after=[missing] raises NotFoundError; nothing written."""
    db.task(noop)
    before = turns(db)
    with pytest.raises(tlo_embed.NotFoundError):
        db.enqueue("noop", after=["missing"])
    assert turns(db) == before


def test_enqueue_accepts_jobs_and_ids_in_after(db: tlo_embed.Database) -> None:
    """after= takes Job objects or ids alike."""
    db.task(noop)
    a, b = db.enqueue("noop"), db.enqueue("noop")
    child = db.enqueue("noop", after=[a, b.id])
    assert child.waiting_on == 2
    assert [e.data["after"] for e in db.job_history(child.id)][:1] == [[a.id, b.id]]


def test_enqueue_options_delay_eta_and_overrides(db: tlo_embed.Database) -> None:
    """delay, eta (datetime or epoch seconds), queue, priority and max_attempts apply."""
    db.task(noop, queue="q", priority=1, retries=3)
    job = db.enqueue("noop", delay=10)
    assert (job.queue, job.priority, job.max_attempts) == ("q", 1, 4)
    assert job.run_at_us == START_US + 10 * US
    when = datetime.fromtimestamp(START_US / US + 99, tz=UTC)
    assert db.enqueue("noop", eta=when).run_at_us == START_US + 99 * US
    assert db.enqueue("noop", eta=START_US / US + 5).run_at_us == START_US + 5 * US
    job = db.enqueue("noop", queue="other", priority=-3, max_attempts=1, exclusive_key="k")
    assert (job.queue, job.priority, job.max_attempts, job.exclusive_key) == (
        "other", -3, 1, "k")
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.enqueue("noop", eta=datetime(2030, 1, 1))


def test_enqueue_with_a_dedup_key_returns_the_waiting_job(db: tlo_embed.Database) -> None:
    """The same dedup key while the first job waits returns that job."""
    db.task(noop)
    first = db.enqueue("noop", dedup_key="welcome:a@b.c")
    assert db.enqueue("noop", dedup_key="welcome:a@b.c").id == first.id
    assert len(db.jobs()) == 1


def test_an_exclusive_task_keys_its_jobs_by_name(db: tlo_embed.Database) -> None:
    """@db.task(exclusive=True) jobs carry the task name as exclusive key."""
    db.task(noop, exclusive=True)
    assert db.enqueue("noop").exclusive_key == "noop"


def ids(jobs: list[tlo_embed.Job]) -> list[str]:
    """The ids of `jobs`, in order."""
    return [j.id for j in jobs]


# -- reading jobs ----------------------------------------------------------------------------------


def test_job_and_job_history(db: tlo_embed.Database) -> None:
    """db.job takes an id or a Job; job_history lists every transition in order."""
    db.task(add)
    job = db.enqueue("add", {"a": 2, "b": 3})
    db.worker().run(until_idle=True)
    assert db.job(job.id) == db.job(job)
    assert (db.job(job).state, db.job(job).result) == ("succeeded", 5)
    history = db.job_history(job.id)
    assert [e.type for e in history] == [
        model.JOB_ENQUEUED, model.JOB_CLAIMED, model.JOB_SUCCEEDED]
    assert all(e.stream == model.job_stream(job.id) for e in history)
    with pytest.raises(tlo_embed.NotFoundError):
        db.job("missing")
    assert db.job_history("missing") == []


def test_jobs_filters(db: tlo_embed.Database, clock: tlo_embed.FixedClock) -> None:
    """db.jobs filters by state, task, queue, time range and text, oldest first."""
    db.task(noop)
    db.task(echo, queue="io", retries=0)
    a = db.enqueue("noop")
    clock.now += 10 * US
    b = db.enqueue("echo", ["x"], dedup_key="special")
    ids = lambda jobs: [j.id for j in jobs]
    assert ids(db.jobs()) == [a.id, b.id]
    assert ids(db.jobs(task="echo")) == [b.id]
    assert ids(db.jobs(queue="io")) == [b.id]
    assert ids(db.jobs(state="pending")) == [a.id, b.id]
    assert ids(db.jobs(since=START_US / US + 5)) == [b.id]
    assert ids(db.jobs(until=datetime.fromtimestamp(START_US / US + 5, tz=UTC))) == [
        a.id]
    assert ids(db.jobs(text="special")) == [b.id]
    assert ids(db.jobs(limit=1)) == [a.id]
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.jobs(state="nope")


def test_hooks_see_enqueues(db: tlo_embed.Database) -> None:
    """db.on(hook) is called with ("enqueued", job) after each enqueue."""
    db.task(noop)
    seen: list[tuple[str, str]] = []
    db.on(lambda event, job: seen.append((event, job.id)))
    job = db.enqueue("noop")
    assert seen == [("enqueued", job.id)]


def test_a_deduplicated_enqueue_fires_no_hook(db: tlo_embed.Database) -> None:
    """An enqueue answered by dedup records no transition, so no 'enqueued' hook fires."""
    db.task(noop)
    seen: list[str] = []
    db.on(lambda event, job: seen.append(event))
    db.enqueue("noop", dedup_key="once")
    seq = db.last_seq
    db.enqueue("noop", dedup_key="once")
    assert db.last_seq == seq
    assert seen == ["enqueued"]


def test_the_readme_flow(db: tlo_embed.Database, clock: tlo_embed.FixedClock) -> None:
    """Register, enqueue with a dependency, run a worker, list by state, read the result."""

    @db.task(queue="emails", retries=5, backoff=2.0, timeout=30)  # type: ignore[untyped-decorator]
    def send_email(to: str, subject: str) -> dict[str, str]:
        return {"sent": to, "subject": subject}

    parent = db.enqueue("send_email", {"to": "x@y.z", "subject": "first"})
    job = db.enqueue("send_email", {"to": "a@b.c", "subject": "hi"}, priority=5, delay=10,
                     dedup_key="welcome:a@b.c", after=[parent.id])
    clock.now += 10 * US
    db.worker(queues=["emails"], concurrency=4, executor="thread").run(until_idle=True)
    assert db.jobs(state="failed", task="send_email") == []
    assert db.job(job.id).result == {"sent": "a@b.c", "subject": "hi"}
    assert [j.id for j in db.jobs(state="succeeded")] == [parent.id, job.id]
