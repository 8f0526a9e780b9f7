"""Worker processes on one file: a killed worker loses no job, many workers run each job
once, and dependencies and exclusivity hold across processes; signals stop a worker cleanly.

Workers are real `tlo worker` processes (`python -m tlo_embed worker ...`, the build under
test). Their tasks live in worker_tasks.py, copied into the test's temp directory as
`tlo_worker_tasks` and loaded with `--app-dir`, so the workers, their child processes and
this test all name the functions by the same `module:qualname`.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import tlo_embed
from tlo_embed.tasks import model

HERE = Path(__file__).resolve().parent
MODULE = "tlo_worker_tasks"
#: A bound on waiting for a process that should be making progress; only hit when it hangs.
HANG_GUARD = 120.0


def child_env() -> dict[str, str]:
    """os.environ, plus PYTHONPATH for this process's tlo_embed when none is set (as in
    conftest.py: children must import the build under test)."""
    env = dict(os.environ)
    if not env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.realpath(
            tlo_embed.__file__)))
    return env


class Tasks:
    """The tasks module of one test: where it is, and the module itself."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        path = directory / f"{MODULE}.py"
        shutil.copy(HERE / "worker_tasks.py", path)
        spec = importlib.util.spec_from_file_location(MODULE, path)
        assert spec is not None and spec.loader is not None
        self.module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)

    def register(self, db: tlo_embed.Database) -> None:
        """Register the tasks as the workers will (same import paths, same options)."""
        self.module.register(db)


@pytest.fixture
def tasks(tmp_path: Path) -> Tasks:
    """worker_tasks.py as `tlo_worker_tasks` in a directory of its own."""
    directory = tmp_path / "app"
    directory.mkdir()
    return Tasks(directory)


class WorkerProcess:
    """One `tlo worker` child process."""

    def __init__(self, path: Path, tasks: Tasks, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tlo_embed", "worker", str(path), "--app-dir",
             str(tasks.directory), "--import", MODULE, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
        )
        self.stdout = ""
        self.stderr = ""

    def finish(self) -> int:
        """Wait for the worker to exit; returns its exit status."""
        try:
            self.stdout, self.stderr = self.proc.communicate(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.stdout, self.stderr = self.proc.communicate()
            pytest.fail(f"worker hung; stderr:\n{self.stderr}")
        return self.proc.returncode

    def summary(self) -> dict[str, Any]:
        """The JSON summary a `--json` worker printed last."""
        lines = self.stdout.strip().splitlines()
        assert lines, self.stderr
        found: dict[str, Any] = json.loads(lines[-1])
        return found


@pytest.fixture
def workers() -> Iterator[Callable[..., WorkerProcess]]:
    """Starts `tlo worker` processes; any still running after the test are killed."""
    started: list[WorkerProcess] = []

    def start(path: Path, tasks: Tasks, *args: str) -> WorkerProcess:
        worker = WorkerProcess(path, tasks, *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
        worker.proc.communicate()


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


def assert_checks(path: Path) -> None:
    """The file's projections equal the fold of its journal."""
    with tlo_embed.open(path) as db:
        report = db.check()
        assert report.ok, report.problems


# -- a worker killed mid-job ------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_a_worker_killed_mid_job_loses_nothing(
    tmp_path: Path, tasks: Tasks, workers: Callable[..., WorkerProcess], executor: str
) -> None:
    """A worker SIGKILLed while running a job: after its lease expires another worker
    process claims the job and completes it; one success is recorded."""
    path = tmp_path / "jobs.tlo"
    marker = tmp_path / "started.pid"
    with tlo_embed.open(path) as db:
        tasks.register(db)
        job = db.enqueue("hang_once", [str(marker)])

    first = workers(path, tasks, "--executor", executor, "--lease", "2", "--worker-id", "A")
    wait_until(marker.exists, "the first worker to start the job")
    runner = int(marker.read_text())  # the child process, or the worker itself (thread)
    with tlo_embed.open(path) as db:
        held = db.job(job)
        assert (held.state, held.worker, held.attempts) == ("running", "A", 1)
    first.proc.send_signal(signal.SIGKILL)
    assert first.finish() == -signal.SIGKILL
    # Nothing of the dead worker runs on: its task child exits with it.
    wait_until(lambda: not alive(runner), "the killed worker's task process to exit")

    second = workers(path, tasks, "--executor", executor, "--lease", "2", "--worker-id", "B",
                     "--max-jobs", "1", "--json")
    assert second.finish() == 0, second.stderr
    assert (second.summary()["claimed"], second.summary()["succeeded"]) == (1, 1)
    with tlo_embed.open(path) as db:
        done = db.job(job)
        assert (done.state, done.result, done.attempts) == ("succeeded", "finished", 2)
        events = db.job_history(job.id)
        claims = [e.data["worker"] for e in events if e.type == model.JOB_CLAIMED]
        assert claims == ["A", "B"]
        assert [e.type for e in events].count(model.JOB_SUCCEEDED) == 1
        assert model.JOB_FAILED not in [e.type for e in events]
    assert_checks(path)


# -- many workers, many jobs -----------------------------------------------------------------

JOBS = 20_000
#: (executor, concurrency) of each of the four worker processes.
FLEET = [("thread", "8"), ("thread", "8"), ("process", "4"), ("inline", "1")]


def test_four_worker_processes_run_20000_jobs_exactly_once(
    tmp_path: Path, tasks: Tasks, workers: Callable[..., WorkerProcess]
) -> None:
    """4 worker processes (thread, thread, process, inline executors) drain 20,000 jobs:
    every job succeeds with its own result, and the journal holds one success per job."""
    path = tmp_path / "jobs.tlo"
    with tlo_embed.open(path) as db:
        tasks.register(db)
        with db.turn():
            ids = [db.enqueue("work", [n]).id for n in range(JOBS)]
    fleet = [
        workers(path, tasks, "--executor", executor, "--concurrency", concurrency,
                "--lease", "5", "--until-idle", "--json")
        for executor, concurrency in FLEET
    ]
    for worker in fleet:
        assert worker.finish() == 0, worker.stderr
    summaries = [w.summary() for w in fleet]
    # A job taken over after a lease ran out is claimed twice; only one report is recorded.
    assert sum(s["succeeded"] for s in summaries) == JOBS
    assert sum(s["claimed"] for s in summaries) == JOBS + sum(s["lost"] for s in summaries)

    with tlo_embed.open(path) as db:
        successes = Counter(e.stream for e in db.read_all(types=model.JOB_SUCCEEDED))
        assert len(successes) == JOBS
        assert set(successes.values()) == {1}
        assert set(successes) == {model.job_stream(i) for i in ids}
        jobs = db.jobs()
        assert len(jobs) == JOBS
        assert {j.state for j in jobs} == {"succeeded"}
        by_id = {j.id: j for j in jobs}
        assert [by_id[i].result for i in ids] == list(range(JOBS))
        report = db.check()
        assert report.ok, report.problems


# -- dependencies and exclusivity across processes ----------------------------------------------


def read_stamps(log_dir: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (start, end, pid) recorded by `stamp` tasks in every process's log."""
    stamps: dict[str, tuple[int, int, int]] = {}
    for log in log_dir.glob("*.log"):
        for line in log.read_text().splitlines():
            name, start, end, pid = line.split()
            assert name not in stamps, f"{name} ran twice"
            stamps[name] = (int(start), int(end), int(pid))
    return stamps


def assert_no_overlap(intervals: list[tuple[int, int, int]], what: str) -> None:
    """Sorted by start, each interval begins after the one before it ended."""
    ordered = sorted(intervals)
    for before, after in itertools.pairwise(ordered):
        assert after[0] >= before[1], f"{what}: runs overlap: {before} and {after}"


def test_dependencies_and_exclusivity_hold_across_worker_processes(
    tmp_path: Path, tasks: Tasks, workers: Callable[..., WorkerProcess]
) -> None:
    """With 3 worker processes: an exclusive task (and each exclusive key) never has two
    runs overlapping; no child starts before its parents succeeded; children of a failed
    parent never run."""
    path = tmp_path / "jobs.tlo"
    logs = tmp_path / "stamps"
    logs.mkdir()
    edges: list[tuple[str, str]] = []  # (parent name, child name)
    names: dict[str, str] = {}  # job id -> name
    with tlo_embed.open(path) as db:
        tasks.register(db)

        def stamp(name: str, task: str = "stamp", **kwargs: Any) -> tlo_embed.Job:
            job = db.enqueue(task, [str(logs), name, 0.02], **kwargs)
            names[job.id] = name
            return job

        exclusive = [stamp(f"x{i}", "stamp_exclusive") for i in range(24)]
        keyed = [stamp(f"k{k}-{i}", exclusive_key=f"k{k}") for k in range(3) for i in range(8)]
        for d in range(8):  # diamonds: a -> b, c -> d
            a = stamp(f"a{d}")
            b = stamp(f"b{d}", after=[a])
            c = stamp(f"c{d}", after=[a])
            stamp(f"d{d}", after=[b, c])
            edges += [(f"a{d}", f"b{d}"), (f"a{d}", f"c{d}"), (f"b{d}", f"d{d}"),
                      (f"c{d}", f"d{d}")]
        chain = stamp("chain0")
        for i in range(1, 6):
            chain = stamp(f"chain{i}", after=[chain])
            edges.append((f"chain{i - 1}", f"chain{i}"))
        broken = db.enqueue("broken", ["parent"])
        orphan = stamp("orphan", after=[broken])
        grand_orphan = stamp("grand-orphan", after=[orphan])

    fleet = [
        workers(path, tasks, "--executor", executor, "--concurrency", concurrency,
                "--lease", "10", "--until-idle", "--json")
        for executor, concurrency in [("thread", "4"), ("thread", "4"), ("process", "3")]
    ]
    for worker in fleet:
        assert worker.finish() == 0, worker.stderr

    stamps = read_stamps(logs)
    assert_no_overlap([stamps[names[j.id]] for j in exclusive], "exclusive task")
    for k in range(3):
        assert_no_overlap([stamps[f"k{k}-{i}"] for i in range(8)], f"exclusive key k{k}")
    for parent, child in edges:
        assert stamps[parent][1] <= stamps[child][0], f"{child} started before {parent} ended"
    assert "orphan" not in stamps and "grand-orphan" not in stamps

    with tlo_embed.open(path) as db:
        # Journal positions (seq, index): a worker's turn can record a parent's success and
        # then claim its child.
        succeeded_at: dict[str, tuple[int, int]] = {}
        first_claim: dict[str, tuple[int, int]] = {}
        for event in db.read_all(stream_prefix=model.JOB_STREAM_PREFIX):
            job_id = event.stream[len(model.JOB_STREAM_PREFIX):]
            if event.type == model.JOB_SUCCEEDED:
                succeeded_at[names.get(job_id, job_id)] = (event.seq, event.index)
            elif event.type == model.JOB_CLAIMED:
                first_claim.setdefault(names.get(job_id, job_id), (event.seq, event.index))
        for parent, child in edges:
            assert succeeded_at[parent] < first_claim[child], (parent, child)
        assert db.job(broken).state == "failed"
        for job in (orphan, grand_orphan):
            assert db.job(job).state == "blocked"
            assert model.JOB_CLAIMED not in [e.type for e in db.job_history(job.id)]
        finished = {j.id: j.state for j in db.jobs()}
        runnable = set(names) - {orphan.id, grand_orphan.id}
        assert {finished[i] for i in runnable} == {"succeeded"}
        assert len(stamps) == len(runnable)
        assert [j.id for j in keyed if finished[j.id] != "succeeded"] == []
        report = db.check()
        assert report.ok, report.problems


# -- signals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_sigterm_lets_the_running_job_finish(
    tmp_path: Path, tasks: Tasks, workers: Callable[..., WorkerProcess], executor: str
) -> None:
    """The first SIGTERM stops claiming; the running job finishes and the worker exits 0,
    leaving the other jobs waiting."""
    path = tmp_path / "jobs.tlo"
    logs = tmp_path / "stamps"
    logs.mkdir()
    with tlo_embed.open(path) as db:
        tasks.register(db)
        running = db.enqueue("stamp", [str(logs), "first", 1.0], priority=1)
        waiting = db.enqueue("stamp", [str(logs), "second", 0.0])
    worker = workers(path, tasks, "--executor", executor, "--json")
    wait_until(lambda: _state(path, running) == "running", "the first job to start")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.finish() == 0, worker.stderr
    assert worker.summary()["interrupted"] is False
    with tlo_embed.open(path) as db:
        assert db.job(running).state == "succeeded"
        assert db.job(waiting).state == "pending"
    assert_checks(path)


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_a_second_signal_releases_the_running_job_at_once(
    tmp_path: Path, tasks: Tasks, workers: Callable[..., WorkerProcess], executor: str
) -> None:
    """SIGTERM then SIGINT: the worker exits 130 without waiting; the running job is
    released (waiting again, the attempt not counted) and another worker completes it."""
    path = tmp_path / "jobs.tlo"
    marker = tmp_path / "started.pid"
    with tlo_embed.open(path) as db:
        tasks.register(db)
        job = db.enqueue("hang_once", [str(marker)])
    worker = workers(path, tasks, "--executor", executor, "--json")
    wait_until(marker.exists, "the job to start")
    # Two different signals are never merged into one, however close together.
    worker.proc.send_signal(signal.SIGTERM)
    worker.proc.send_signal(signal.SIGINT)
    assert worker.finish() == 130, worker.stderr
    summary = worker.summary()
    assert (summary["interrupted"], summary["released"]) == (True, 1)
    with tlo_embed.open(path) as db:
        released = db.job(job)
        assert (released.state, released.attempts) == ("pending", 0)
    # No lease to wait for: the next worker takes the job at once.
    again = workers(path, tasks, "--executor", executor, "--until-idle", "--json")
    assert again.finish() == 0, again.stderr
    with tlo_embed.open(path) as db:
        done = db.job(job)
        assert (done.state, done.attempts, done.result) == ("succeeded", 1, "finished")
    assert_checks(path)


def _state(path: Path, job: tlo_embed.Job) -> str:
    with tlo_embed.open(path) as db:
        return db.job(job).state
