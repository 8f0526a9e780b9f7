"""tlo_embed/tasks/worker.py with executor="process" (tlo_embed/tasks/process.py): jobs run in
child processes, which timeouts, cancellations and stopping kill; signals are handled only
when asked, in the main thread.

The task functions live in a module written to the test's temp directory and put on
sys.path: spawned children get the parent's sys.path, so they import the tasks by the same
`module:qualname` the test registered.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import tlo_embed
from tlo_embed.tasks import model
from tlo_embed.tasks.process import ChildFailure, ProcessPool

#: A bound on waiting for something that should happen soon; only reached when it hangs.
HANG_GUARD = 60.0

TASKS = textwrap.dedent('''
    import os
    import time


    def echo(value=None):
        return value


    def call(*args, **kwargs):
        return {"args": list(args), "kwargs": kwargs}


    def pid():
        return os.getpid()


    def boom(message):
        raise ValueError(message)


    def exit_now(code):
        os._exit(code)


    def not_cbor():
        return object()


    def hang(pid_file, seconds=60.0):
        with open(pid_file + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(pid_file + ".tmp", pid_file)
        time.sleep(seconds)
        return "woke"


    def hang_once(pid_file):
        if not os.path.exists(pid_file):
            hang(pid_file)
        return "second time"


    def handler_of_sigterm():
        import signal
        return repr(signal.getsignal(signal.SIGTERM))
''')


@pytest.fixture
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The task module, importable here and in spawned children (a fresh name per test)."""
    name = f"tlo_ptasks_{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "tasks"
    directory.mkdir()
    (directory / f"{name}.py").write_text(TASKS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(directory))
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)


@pytest.fixture
def db(db_path: Path) -> Iterator[tlo_embed.Database]:
    """A fresh file with the real clock, checked (projections == fold) after the test."""
    database = tlo_embed.open(db_path)
    try:
        yield database
        report = database.check()
        assert report.ok, report.problems
    finally:
        database.close()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition()` holds; fail (naming `what`) only if it never does."""
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def pid_in(path: Path) -> int:
    """The pid a `hang` task wrote, once it is there."""
    wait_until(path.exists, f"{path.name} to be written")
    return int(path.read_text())


def run_in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start fn in a thread; its return value lands in the list."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def history(db: tlo_embed.Database, job: tlo_embed.Job) -> list[str]:
    """The event types of the job's history."""
    return [e.type for e in db.job_history(job.id)]


# -- results and failures ----------------------------------------------------------------------


def test_results_come_back_from_child_processes(db: tlo_embed.Database, tasks: ModuleType) -> None:
    """Payloads map to arguments as in other executors, and results round-trip as CBOR."""
    db.task(tasks.echo)
    db.task(tasks.call)
    db.task(tasks.pid)
    value = {"n": 1, "xs": [1.5, "two", None, True], "raw": b"\x00\xff", "nested": {"k": [[]]}}
    jobs = {
        "value": db.enqueue("echo", [value]),
        "none": db.enqueue("echo"),
        "scalar": db.enqueue("echo", 7),
        "args": db.enqueue("call", [1, 2]),
        "kwargs": db.enqueue("call", {"a": 1}),
        "pid": db.enqueue("pid"),
    }
    stats = db.worker(executor="process", concurrency=2).run(until_idle=True)
    assert (stats.claimed, stats.succeeded, stats.dead) == (6, 6, 0)
    got = {k: db.job(j).result for k, j in jobs.items()}
    assert got["value"] == value
    assert got["none"] is None
    assert got["scalar"] == 7
    assert got["args"] == {"args": [1, 2], "kwargs": {}}
    assert got["kwargs"] == {"args": [], "kwargs": {"a": 1}}
    assert got["pid"] != os.getpid()


def test_process_batches_record_outcomes_and_claims_together(
    db: tlo_embed.Database, tasks: ModuleType
) -> None:
    """batch=2 on 2 children: every job succeeds once, with fewer turns than two per job
    (outcomes and the next claims share turns), and failures still retry."""
    db.task(tasks.echo)
    db.task(tasks.boom, retries=1, backoff=0.0)
    jobs = [db.enqueue("echo", [i]) for i in range(6)]
    bad = db.enqueue("boom", ["no"])
    before = db.status().turns
    stats = db.worker(executor="process", concurrency=2, batch=2).run(until_idle=True)
    assert (stats.succeeded, stats.retried, stats.dead) == (6, 1, 1)
    assert [db.job(j.id).result for j in jobs] == list(range(6))
    assert db.job(bad.id).state == "failed"
    # 8 attempts: separate claim and outcome turns would take 16.
    assert db.status().turns - before < 16


def test_an_exception_in_the_child_is_the_recorded_error(
    db: tlo_embed.Database, tasks: ModuleType
) -> None:
    """A task's exception is recorded as `Type: message`, retried, then dead-lettered."""
    db.task(tasks.boom, retries=1, backoff=0.01)
    job = db.enqueue("boom", ["bad input"])
    stats = db.worker(executor="process").run(until_idle=True)
    assert (stats.retried, stats.dead) == (1, 1)
    done = db.job(job)
    assert (done.state, done.attempts, done.error) == ("failed", 2, "ValueError: bad input")


def test_a_task_defined_in_a_function_fails_with_task_not_found(
    db: tlo_embed.Database,
) -> None:
    """A local function has no import path: the job fails saying so; no child is needed."""

    def local() -> int:
        return 1

    db.task(local, retries=0)
    job = db.enqueue("local")
    db.worker(executor="process").run(until_idle=True)
    done = db.job(job)
    assert done.state == "failed"
    assert "TaskNotFoundError" in (done.error or "")
    assert "cannot run in another process" in (done.error or "")


def test_a_task_module_the_child_cannot_import_fails_with_task_not_found(
    db: tlo_embed.Database, tmp_path: Path
) -> None:
    """A function whose module is not on the path is recorded as the child's import error."""
    source = tmp_path / "elsewhere"
    source.mkdir()
    (source / "tlo_unreachable_tasks.py").write_text("def f():\n    return 1\n")
    spec = importlib.util.spec_from_file_location(
        "tlo_unreachable_tasks", source / "tlo_unreachable_tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not in sys.path: no other process can import it
    db.task(module.f, retries=0)
    job = db.enqueue("f")
    db.worker(executor="process").run(until_idle=True)
    done = db.job(job)
    assert done.state == "failed"
    assert "TaskNotFoundError" in (done.error or "")
    assert "tlo_unreachable_tasks:f" in (done.error or "")


def test_a_result_that_is_not_cbor_fails_without_retry(
    db: tlo_embed.Database, tasks: ModuleType
) -> None:
    """A result CBOR cannot hold is a failure with no retry (running again cannot help)."""
    db.task(tasks.not_cbor, retries=3)
    job = db.enqueue("not_cbor")
    db.worker(executor="process").run(until_idle=True)
    done = db.job(job)
    assert (done.state, done.attempts) == ("failed", 1)
    assert (done.error or "").startswith("result not recorded")


def test_a_child_that_dies_fails_its_job_and_is_replaced(
    db: tlo_embed.Database, tasks: ModuleType
) -> None:
    """A child exiting mid-job fails that attempt; later jobs run in a fresh child."""
    db.task(tasks.exit_now, retries=0)
    db.task(tasks.echo)
    dying = db.enqueue("exit_now", [3], priority=1)
    after = db.enqueue("echo", ["still here"])
    db.worker(executor="process").run(until_idle=True)
    assert db.job(dying).state == "failed"
    assert "exited (exit code 3)" in (db.job(dying).error or "")
    assert (db.job(after).state, db.job(after).result) == ("succeeded", "still here")


# -- timeouts, cancellation, stopping ---------------------------------------------------------


def test_a_job_past_its_timeout_has_its_child_killed(
    db: tlo_embed.Database, tasks: ModuleType, tmp_path: Path
) -> None:
    """At the deadline the child is killed and the attempt fails with "timed out"."""
    db.task(tasks.hang, retries=0, timeout=0.5)
    pid_file = tmp_path / "hang.pid"
    job = db.enqueue("hang", [str(pid_file)])
    stats = db.worker(executor="process").run(until_idle=True)
    assert stats.dead == 1
    done = db.job(job)
    assert (done.state, done.error) == ("failed", "timed out after 0.5s")
    child = int(pid_file.read_text())
    wait_until(lambda: not alive(child), "the timed-out child to be gone")


def test_a_job_cancelled_while_running_has_its_child_killed(
    db: tlo_embed.Database, tasks: ModuleType, tmp_path: Path
) -> None:
    """Cancelling a running job kills its child at the next heartbeat; nothing is recorded."""
    db.task(tasks.hang, retries=0)
    pid_file = tmp_path / "hang.pid"
    job = db.enqueue("hang", [str(pid_file)])
    worker = db.worker(executor="process", lease=0.6)
    thread, out = run_in_thread(lambda: worker.run(until_idle=True))
    child = pid_in(pid_file)
    with tlo_embed.open(db.path) as other:
        other.queue.cancel(job.id, "not needed")
    thread.join(HANG_GUARD)
    assert not thread.is_alive()
    assert out[0].lost == 1
    assert db.job(job).state == "cancelled"
    assert model.JOB_SUCCEEDED not in history(db, job)
    wait_until(lambda: not alive(child), "the cancelled job's child to be gone")


def test_stopping_past_the_grace_period_releases_the_running_job(
    db: tlo_embed.Database, tasks: ModuleType, tmp_path: Path
) -> None:
    """After `grace`, a running job is released (attempt not counted) and its child killed."""
    db.task(tasks.hang_once, retries=0)
    pid_file = tmp_path / "hang.pid"
    job = db.enqueue("hang_once", [str(pid_file)])
    worker = db.worker(executor="process", grace=0.2)
    thread, out = run_in_thread(lambda: worker.run())
    child = pid_in(pid_file)
    worker.stop()
    thread.join(HANG_GUARD)
    assert not thread.is_alive()
    stats = out[0]
    assert (stats.released, stats.interrupted, stats.succeeded) == (1, True, 0)
    released = db.job(job)
    assert (released.state, released.attempts, released.worker) == ("pending", 0, None)
    assert history(db, job)[-1] == model.JOB_RELEASED
    wait_until(lambda: not alive(child), "the released job's child to be gone")
    # Another worker takes it at once (no lease to wait for): the attempt it makes is 1.
    db.worker(executor="process").run(until_idle=True)
    done = db.job(job)
    assert (done.state, done.attempts, done.result) == ("succeeded", 1, "second time")


def test_stopping_within_the_grace_period_lets_the_job_finish(
    db: tlo_embed.Database, tasks: ModuleType, tmp_path: Path
) -> None:
    """stop() with no grace limit waits for the running job, which succeeds."""
    db.task(tasks.hang, retries=0)
    pid_file = tmp_path / "hang.pid"
    job = db.enqueue("hang", [str(pid_file), 0.5])
    worker = db.worker(executor="process")
    thread, out = run_in_thread(lambda: worker.run())
    pid_in(pid_file)
    worker.stop()
    thread.join(HANG_GUARD)
    assert not thread.is_alive()
    assert (out[0].succeeded, out[0].released, out[0].interrupted) == (1, 0, False)
    assert db.job(job).result == "woke"


def test_signal_handlers_are_installed_only_when_asked_and_restored(
    db: tlo_embed.Database,
) -> None:
    """handle_signals=True swaps SIGTERM/SIGINT handlers for the run, in the main thread."""
    seen: list[object] = []

    def look() -> None:
        seen.append(signal.getsignal(signal.SIGTERM))

    db.task(look)
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    db.enqueue("look")
    db.worker().run(until_idle=True)  # not asked: untouched
    db.enqueue("look")
    db.worker().run(until_idle=True, handle_signals=True)
    assert seen[0] == before[0]
    assert seen[1] != before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_signal_handlers_are_left_alone_off_the_main_thread(db: tlo_embed.Database) -> None:
    """handle_signals=True in another thread changes no handler (Python only allows it in
    the main thread)."""
    seen: list[object] = []

    def look() -> None:
        seen.append(signal.getsignal(signal.SIGTERM))

    db.task(look)
    db.enqueue("look")
    before = signal.getsignal(signal.SIGTERM)
    thread, out = run_in_thread(lambda: db.worker().run(until_idle=True, handle_signals=True))
    thread.join(HANG_GUARD)
    assert out and out[0].succeeded == 1
    assert seen == [before]


# -- the pool itself ---------------------------------------------------------------------------


def test_the_pool_refuses_more_jobs_than_children(tasks: ModuleType) -> None:
    """A pool of one runs one job at a time; a second submit while busy is a bug, refused."""
    pool = ProcessPool(1)
    try:
        first = pool.submit("a", f"{tasks.__name__}:echo", [1])
        with pytest.raises(RuntimeError, match="busy"):
            pool.submit("b", f"{tasks.__name__}:echo", [2])
        assert first.result(HANG_GUARD) == 1
        second = pool.submit("b", f"{tasks.__name__}:echo", [2])
        assert second.result(HANG_GUARD) == 2
    finally:
        pool.shutdown()


def test_killing_a_job_fails_its_future_with_the_reason(
    tasks: ModuleType, tmp_path: Path
) -> None:
    """kill(job) stops that job's child; the future fails with ChildFailure(reason)."""
    pool = ProcessPool(1)
    try:
        future = pool.submit("a", f"{tasks.__name__}:hang", [str(tmp_path / "p")])
        child = pid_in(tmp_path / "p")
        assert pool.kill("a", "no longer wanted")
        error = future.exception(HANG_GUARD)
        assert isinstance(error, ChildFailure)
        assert (error.text, error.retry) == ("no longer wanted", True)
        assert not pool.kill("a", "again")
        wait_until(lambda: not alive(child), "the killed child to be gone")
    finally:
        pool.shutdown()


def test_children_ignore_sigterm_and_sigint(tasks: ModuleType) -> None:
    """A child's SIGTERM/SIGINT handlers do nothing: the worker decides when children stop."""
    pool = ProcessPool(1)
    try:
        text = pool.submit("a", f"{tasks.__name__}:handler_of_sigterm", None).result(HANG_GUARD)
        assert "_ignore_signal" in text
    finally:
        pool.shutdown()
