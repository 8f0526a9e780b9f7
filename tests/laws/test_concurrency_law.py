"""The concurrency law: concurrent appenders never interleave inside a stream.

Writers (threads sharing a handle, threads with a handle each, processes) append batches with
the version they read just before as the expected version, retrying on ConcurrencyError.
Afterwards every stream's versions run 1..n; each successful batch occupies consecutive
versions under one seq, in its own order, with nothing else in that turn; the (seq, version)
each append reported is what is read back; failed attempts left nothing behind.

Why fixed, seeded configurations and not hypothesis: the interleaving is decided by the OS
scheduler, not by the generated input, so hypothesis could neither replay nor shrink a failing
example (it would report it as flaky). Seeds fix the batch sizes and streams; a barrier makes
the first rounds certain to conflict (every writer reads the same version, then all append),
and the rest run free.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

import tlo_embed
from tlo_embed import Event

PACKAGE_DIR = os.path.dirname(os.path.realpath(tlo_embed.__file__))
HELPER = Path(__file__).with_name("batch_appender.py")


@dataclass(frozen=True)
class Appended:
    """One successful append as its writer saw it."""

    writer: int
    batch: int
    seq: int
    stream: str
    version: int
    count: int
    retries: int


def assert_no_interleaving(path: Path, done: list[Appended], streams: int) -> None:
    """The law, checked on the file after all writers finished."""
    with tlo_embed.open(path) as db:
        report = db.check()
        assert report.ok, report.problems
        everything = list(db.read_all())
        at = {(e.stream, e.version): e for e in everything}
        for s in range(streams):
            stream = f"law-{s}"
            versions = [e.version for e in db.read(stream)]
            assert versions == list(range(1, len(versions) + 1)), stream
            assert db.stream_version(stream) == len(versions), stream

        for a in done:
            first = a.version - a.count + 1
            batch = [at[(a.stream, v)] for v in range(first, a.version + 1)]
            assert {e.seq for e in batch} == {a.seq}, a
            assert [(e.data["writer"], e.data["batch"], e.data["i"]) for e in batch] == [
                (a.writer, a.batch, i) for i in range(a.count)
            ], a
            assert [e.index for e in batch] == list(range(a.count)), a
            assert batch[0].data["size"] == a.count, a

        # Nothing but the successful batches was written: failed attempts left no trace.
        assert len(everything) == sum(a.count for a in done)
        assert len({a.seq for a in done}) == len(done), "two appends reported one seq"
        assert report.turns == len(done)


def run_threads(path: Path, *, threads: int, batches: int, streams: int, synced: int,
                shared_handle: bool, seed: int) -> list[Appended]:
    """Append from `threads` threads; the first `synced` rounds go through a barrier."""
    tlo_embed.open(path).close()  # racing to create the file is another test's subject
    shared = tlo_embed.open(path) if shared_handle else None
    barrier = threading.Barrier(threads, timeout=60)  # a hang guard, never reached normally
    done: list[Appended] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        rng = random.Random(seed * 1000 + w)
        db: tlo_embed.Database | None = shared
        try:
            if db is None:
                db = tlo_embed.open(path)
            for b in range(batches):
                lock_step = b < synced
                stream = "law-0" if lock_step else f"law-{rng.randrange(streams)}"
                size = rng.randint(1, 5)
                batch = [Event("Batched", {"writer": w, "batch": b, "i": i, "size": size})
                         for i in range(size)]
                retries = 0
                while True:
                    version = db.stream_version(stream)
                    if lock_step and retries == 0:
                        barrier.wait()  # everyone read the same version: all but one lose
                    try:
                        r = db.append(stream, batch, expected_version=version)
                    except tlo_embed.ConcurrencyError as e:
                        assert e.stream == stream and e.expected == version
                        assert e.actual > version
                        retries += 1
                        continue
                    break
                with lock:
                    done.append(Appended(w, b, r.seq, r.stream, r.version, r.count, retries))
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            barrier.abort()
            with lock:
                failures.append(e)
        finally:
            if shared is None and db is not None:
                db.close()

    workers = [threading.Thread(target=writer, args=(w,)) for w in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if shared is not None:
        shared.close()
    if failures:
        raise failures[0]
    return done


@pytest.mark.parametrize(
    ("threads", "batches", "streams", "shared_handle", "seed"),
    [
        (4, 150, 2, True, 1),
        (3, 150, 1, False, 2),
        (6, 80, 3, True, 3),
    ],
    ids=["4-threads-shared-handle", "3-threads-own-handles", "6-threads-3-streams"],
)
def test_threads_never_interleave_inside_a_stream(
    tmp_path: Path, threads: int, batches: int, streams: int, shared_handle: bool, seed: int
) -> None:
    """Threads appending with read-then-expect versions leave contiguous, unmixed batches."""
    path = tmp_path / "threads.tlo"
    synced = 5
    done = run_threads(path, threads=threads, batches=batches, streams=streams,
                       synced=synced, shared_handle=shared_handle, seed=seed)
    assert len(done) == threads * batches
    # The barrier rounds certainly conflicted: each had one winner and threads - 1 retries.
    lock_step = [a for a in done if a.batch < synced]
    assert sum(a.retries for a in lock_step) >= synced * (threads - 1)
    assert_no_interleaving(path, done, streams)


def child_env() -> dict[str, str]:
    """os.environ (PYTHONPATH selects the build under test), with a fallback to ours."""
    env = dict(os.environ)
    if not env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.path.dirname(PACKAGE_DIR)
    return env


def read_until(proc: subprocess.Popen[str], word: str, lines: list[str]) -> None:
    """Read the child's lines into `lines` until one equals `word`."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            stderr = proc.stderr.read() if proc.stderr is not None else ""
            pytest.fail(f"child exited ({proc.returncode}) before {word!r}:\n{stderr}")
        line = line.rstrip("\n")
        if line == word:
            return
        lines.append(line)


def test_processes_never_interleave_inside_a_stream(tmp_path: Path) -> None:
    """Processes appending with read-then-expect versions leave contiguous, unmixed batches."""
    path = tmp_path / "processes.tlo"
    tlo_embed.open(path).close()
    writers, batches, streams, synced = 3, 200, 2, 5
    procs = [
        subprocess.Popen(
            [sys.executable, str(HELPER), str(path), str(w), str(batches), str(100 + w),
             str(streams), str(synced)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=child_env(), text=True,
        )
        for w in range(writers)
    ]
    outputs: list[list[str]] = [[] for _ in procs]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline() == f"hello {PACKAGE_DIR}\n"
        for _ in range(synced):
            for proc, lines in zip(procs, outputs):
                read_until(proc, "ready", lines)
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
        for proc, lines in zip(procs, outputs):
            out, err = proc.communicate()
            assert proc.returncode == 0, err
            lines.extend(out.splitlines())
            assert lines[-1] == "done", lines[-3:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    done: list[Appended] = []
    for lines in outputs:
        for line in lines[:-1]:
            word, *fields = line.split()
            assert word == "OK", line
            w, b, seq, stream, version, count, retries = fields
            done.append(Appended(int(w), int(b), int(seq), stream, int(version), int(count),
                                 int(retries)))
    assert len(done) == writers * batches
    lock_step = [a for a in done if a.batch < synced]
    assert sum(a.retries for a in lock_step) >= synced * (writers - 1)
    assert_no_interleaving(path, done, streams)
