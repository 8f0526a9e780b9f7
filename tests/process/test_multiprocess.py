"""Several processes writing one .tlo file: nothing lost, nothing duplicated, only typed errors.

Writers are real child processes (writer.py) started with this interpreter and environment, so
they run the build under test, compiled or pure.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import Counter as Tally
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import apsw
import pytest

import tlo_embed
from tlo_embed import Event
from tlo_embed.store.migrate import SCHEMA_VERSION

WRITERS = 3
N = 300


def load_writer_module() -> ModuleType:
    """writer.py imported by path, for its `Counter` handler."""
    spec = importlib.util.spec_from_file_location(
        "tlo_test_writer", Path(__file__).with_name("writer.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COUNTER: Any = load_writer_module().Counter


def start_all(spawn: Any, mode: str, path: Path, n: int = 0,
              writers: int = WRITERS) -> list[Any]:
    """Start `writers` children in `mode`, wait until each imported tlo_embed, then release them."""
    children = [spawn("writer.py", mode, path, w, n, 1000 + w, stdin=True)
                for w in range(writers)]
    for child in children:
        child.check_hello()
    for child in children:
        child.send("go")
    return children


def finish_all(children: list[Any]) -> None:
    """Every child exits 0 and says `done` last."""
    for child in children:
        code = child.finish()
        assert code == 0, f"writer exited {code}:\n{child.stderr}"
        assert child.lines[-1] == "done", child.lines[-3:]


def assert_contiguous(db: tlo_embed.Database, stream: str) -> list[Any]:
    """The stream's events, after checking versions run 1..n and match `streams`."""
    events = list(db.read(stream))
    assert [e.version for e in events] == list(range(1, len(events) + 1)), stream
    assert db.stream_version(stream) == len(events), stream
    return events


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path: Path, spawn: Any) -> None:
    """Three processes' appends (ANY, exact versions, handler commands) are all there, once."""
    path = tmp_path / "shared.tlo"
    tlo_embed.open(path).close()
    finish_all(start_all(spawn, "mixed", path, N))
    commands = WRITERS * len(range(0, N, 3))

    with tlo_embed.open(path) as db:
        shared = assert_contiguous(db, "shared")
        assert len(shared) == WRITERS * N
        keys = [(e.data["writer"], e.data["i"]) for e in shared]
        assert len(set(keys)) == len(keys), "an append was recorded twice"
        for w in range(WRITERS):
            # Each writer's own appends keep their order inside the shared stream.
            assert [i for writer, i in keys if writer == w] == list(range(N)), w
            private = assert_contiguous(db, f"private-{w}")
            assert [(e.data["writer"], e.data["i"]) for e in private] == [
                (w, i) for i in range(N)
            ]
        counted = assert_contiguous(db, "counter")
        assert len(counted) == commands
        assert Tally(e.data["writer"] for e in counted) == {w: commands // WRITERS
                                                             for w in range(WRITERS)}
        # Each command saw the state left by the one before it: no lost update.
        assert [e.data["before"] for e in counted] == list(range(commands))
        assert db.state(COUNTER, "counter") == commands

        everything = list(db.read_all())
        assert len(everything) == WRITERS * N * 2 + commands
        assert len({e.seq for e in everything}) == len(everything), "one event per turn"
        assert all(e.index == 0 for e in everything)
        report = db.check(handlers=[COUNTER])
        assert report.ok, report.problems
        assert report.turns == len(everything)


def test_processes_racing_to_create_a_file_all_open_it(tmp_path: Path, spawn: Any) -> None:
    """Processes opening a not-yet-existing file at once all succeed and it gets one schema."""
    # Who wins is up to the scheduler, so the writers race for 25 fresh files, released
    # together for each: a losing interleaving, if there is one, shows up with near certainty.
    writers, files = 4, 25
    prefix = tmp_path / "racing"
    children = start_all(spawn, "create", prefix, files, writers=writers)
    for i in range(files):
        for child in children:
            child.wait_for_lines(i + 2)
            assert child.lines[i + 1] == f"ready {i}"
        for child in children:
            child.send("go")
    finish_all(children)
    for i in range(files):
        with tlo_embed.open(f"{prefix}-{i}.tlo", create=False) as db:
            created = assert_contiguous(db, "created")
            assert sorted(e.data["writer"] for e in created) == list(range(writers))
            assert db.status().schema_version == SCHEMA_VERSION
            report = db.check()
            assert report.ok, report.problems


def test_threads_racing_to_create_a_file_all_open_it(tmp_path: Path) -> None:
    """Threads opening a not-yet-existing file at once (a barrier releases them) all succeed."""
    # The same race as between processes, cheap enough to run for many fresh files.
    threads, files = 4, 80
    for i in range(files):
        path = tmp_path / f"threads-{i}.tlo"
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def create(writer: int, path: Path = path, barrier: threading.Barrier = barrier,
                   errors: list[BaseException] = errors) -> None:
            barrier.wait()
            try:
                with tlo_embed.open(path) as db:
                    db.append("created", Event("Created", {"writer": writer}))
            except BaseException as e:  # noqa: BLE001 - handed to the test thread
                errors.append(e)

        workers = [threading.Thread(target=create, args=(w,)) for w in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        assert not errors, f"file {i}: {errors[0]!r}"
        with tlo_embed.open(path, create=False) as db:
            assert sorted(e.data["writer"] for e in db.read("created")) == list(range(threads))
            assert db.check().ok


def test_busy_file_raises_typed_busy_error_from_every_write_entry_point(
    tmp_path: Path, spawn: Any
) -> None:
    """While another process holds the write lock, every write raises BusyError, writes nothing."""
    path = tmp_path / "busy.tlo"
    db = tlo_embed.open(path, busy_timeout=0.05)
    try:
        db.append("before", Event("Before"))
        existing = db.subscribe("existing")
        holder = spawn("writer.py", "hold", path, 0, 0, stdin=True)
        holder.check_hello()
        holder.wait_for_lines(2)
        assert holder.lines[1] == "holding"
        with tlo_embed.open(path, busy_timeout=0.05) as other:  # opening needs no write lock
            assert other.last_seq == 1

        before = db.last_seq
        writes: dict[str, Callable[[], object]] = {
            "append": lambda: db.append("busy", Event("Tried")),
            "turn": lambda: db.turn().__enter__(),
            "execute": lambda: db.execute(COUNTER, "counter", {"writer": 9, "i": 0}),
            "subscribe": lambda: db.subscribe("new-one"),
            "process": lambda: existing.process(lambda turn, event: None),
            "ack": lambda: existing.ack(1),
            "reset": lambda: existing.reset(),
            "unsubscribe": lambda: db.unsubscribe("existing"),
        }
        for name, write in writes.items():
            with pytest.raises(tlo_embed.BusyError) as caught:
                write()
            error = caught.value
            assert isinstance(error, tlo_embed.TloError), name
            assert not isinstance(error, apsw.Error), name
            assert error.path == str(path), name
        # Reads never wait for the writer.
        assert [e.type for e in db.read("held")] == []
        assert db.last_seq == before
        assert db.check().ok

        holder.send("release")
        holder.wait_for_lines(3)
        assert holder.lines[2] == "released"
        result = db.append("busy", Event("Tried"), expected_version=0)
        assert result.version == 1
    finally:
        db.close()
    holder.finish()
    with tlo_embed.open(path) as db:
        assert [e.data["first"] for e in db.read("held")][:1] == [True]
        assert db.stream_version("busy") == 1
        assert db.stream_version("counter") == 0
        assert [(s.name, s.position) for s in db.subscriptions()] == [("existing", 0)]
        assert db.check().ok


def test_busy_error_is_chained_to_sqlites_busy_error(tmp_path: Path, spawn: Any) -> None:
    """A BusyError is raised `from` SQLite's error, so tracebacks show the cause (compiled too)."""
    path = tmp_path / "chained.tlo"
    tlo_embed.open(path).close()
    holder = spawn("writer.py", "hold", path, 0, 0, stdin=True)
    holder.check_hello()
    holder.wait_for_lines(2)
    with tlo_embed.open(path, busy_timeout=0.05) as db:
        with pytest.raises(tlo_embed.BusyError) as caught:
            db.append("busy", Event("Tried"))
        holder.send("release")
    holder.finish()
    assert isinstance(caught.value.__cause__, apsw.BusyError), caught.value.__cause__
    assert caught.value.__suppress_context__


def test_hammering_processes_see_only_tlo_errors(tmp_path: Path, spawn: Any) -> None:
    """Processes hammering one file with a tiny busy timeout see only TloErrors, never apsw's."""
    path = tmp_path / "hammer.tlo"
    with tlo_embed.open(path) as setup, setup.turn() as t:
        t.sql("CREATE TABLE hammer_seen (seq INTEGER, idx INTEGER, stream TEXT,"
              " version INTEGER, PRIMARY KEY (seq, idx))")
    holder = spawn("writer.py", "hold", path, 0, 1, stdin=True)
    holder.check_hello()
    holder.wait_for_lines(2)  # "holding": the hammers' first appends must wait and give up

    hammers = start_all(spawn, "hammer", path, 150)
    for child in hammers:
        child.wait_for_lines(2)
        assert child.lines[1] == "EXC tlo_embed.errors.BusyError 1", child.lines[1]
    holder.send("release")
    finish_all(hammers)
    holder.finish()

    kinds: Tally[str] = Tally()
    done: list[tuple[int, str, int, int]] = []
    for child in hammers:
        for line in child.lines[1:-1]:
            word, *rest = line.split()
            if word == "EXC":
                kinds[rest[0]] += 1
                assert rest[1] == "1", f"{rest[0]} is not a TloError"
                assert not rest[0].startswith("apsw"), rest[0]
            else:
                assert word == "OK", line
                done.append((int(rest[0]), rest[1], int(rest[2]), int(rest[3])))
    assert set(kinds) <= {"tlo_embed.errors.BusyError", "tlo_embed.errors.ConcurrencyError"}, kinds

    with tlo_embed.open(path) as db:
        db.subscribe("hammer").process(lambda turn, e: turn.sql(
            "INSERT INTO hammer_seen (seq, idx, stream, version) VALUES (?, ?, ?, ?)",
            (e.seq, e.index, e.stream, e.version)), limit=1 << 20)
        everything = list(db.read_all())
        at = {(e.stream, e.version): e for e in everything}
        for seq, stream, version, count in done:
            for v in range(version - count + 1, version + 1):
                assert at[(stream, v)].seq == seq, (seq, stream, version, count)
        for stream in ("hot-a", "hot-b", "counter", "held"):
            assert_contiguous(db, stream)
        # The projection saw every event exactly once (its primary key refuses a repeat).
        with db.turn() as t:
            seen = t.sql("SELECT seq, idx FROM hammer_seen ORDER BY seq, idx")
        assert seen == [(e.seq, e.index) for e in everything]
        assert db.state(COUNTER, "counter") == db.stream_version("counter")
        report = db.check(handlers=[COUNTER])
        assert report.ok, report.problems
