"""tlo_embed/handlers/runtime.py: execute (process + append + fold), state, snapshots, retries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

import tlo_embed
from tlo_embed import Event, RecordedEvent
from tlo_embed.codec.cbor import dumps


class Counter:
    """Adds numbers: command n > 0 appends Added(n); 0 appends nothing; n < 0 is refused."""

    name = "counter"
    version = 1
    snapshot_every = 3

    def initial(self) -> int:
        return 0

    def fold(self, state: int, event: RecordedEvent) -> int:
        return state + int(event.data["n"])

    def process(self, state: int, command: int) -> Event | list[Event] | None:
        if command < 0:
            raise ValueError(f"cannot add {command}")
        if command == 0:
            return None
        return Event("Added", {"n": command})


class CounterNoSnapshots(Counter):
    """The same fold, never snapshotted."""

    name = "counter-plain"
    snapshot_every = 0


class CounterV2(Counter):
    """The counter with a new fold version: its v1 snapshots must be ignored."""

    version = 2


class Batcher(Counter):
    """Command n appends n events of Added(1)."""

    name = "batcher"

    def process(self, state: int, command: int) -> list[Event]:
        return [Event("Added", {"n": 1}) for _ in range(command)]


@pytest.fixture
def raw(db: tlo_embed.Database, db_path: Path) -> Iterator[apsw.Connection]:
    """A raw connection to the test's file."""
    conn = apsw.Connection(str(db_path))
    yield conn
    conn.close()


def _snapshot_rows(raw: apsw.Connection) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in raw.execute(
        "SELECT handler, stream, version, seq FROM snapshots ORDER BY handler, stream, version"
    )]


def _count(raw: apsw.Connection, table: str) -> int:
    value: Any = raw.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return int(value)


# -- execute -----------------------------------------------------------------------------------


def test_execute_appends_and_returns_what_happened(db: tlo_embed.Database) -> None:
    """execute runs process, appends its events, returns Executed(seq, version, events, state)."""
    first = db.execute(Counter, "c-1", 5)
    assert (first.seq, first.version, first.state, first.attempts) == (1, 1, 5, 1)
    assert [(e.type, e.data, e.stream, e.version) for e in first.events] == [
        ("Added", {"n": 5}, "c-1", 1)
    ]
    second = db.execute(Counter, "c-1", 7)
    assert (second.seq, second.version, second.state) == (2, 2, 12)
    assert [e.data for e in db.read("c-1")] == [{"n": 5}, {"n": 7}]


def test_process_may_return_a_list_of_events(db: tlo_embed.Database) -> None:
    """A list of events from process is appended as one turn and folded."""
    result = db.execute(Batcher, "b", 4)
    assert (result.seq, result.version, result.state) == (1, 4, 4)
    assert {e.seq for e in result.events} == {1}


def test_a_command_producing_no_events_writes_nothing(
    db: tlo_embed.Database, raw: apsw.Connection
) -> None:
    """When process returns None (or []), nothing is appended and Executed.seq is 0."""
    db.execute(Counter, "c", 2)
    result = db.execute(Counter, "c", 0)
    assert (result.seq, result.version, result.state, result.events) == (0, 1, 2, ())
    assert db.execute(Batcher, "b", 0).seq == 0
    assert _count(raw, "turns") == 1


def test_a_refused_command_writes_nothing(db: tlo_embed.Database, raw: apsw.Connection) -> None:
    """An exception from process propagates and nothing is written."""
    db.execute(Counter, "c", 1)
    with pytest.raises(ValueError, match="cannot add -3"):
        db.execute(Counter, "c", -3)
    assert (_count(raw, "turns"), _count(raw, "events")) == (1, 1)
    assert db.state(Counter, "c") == 1


def test_a_failing_fold_writes_nothing(db: tlo_embed.Database, raw: apsw.Connection) -> None:
    """If fold raises on the new events, the append is rolled back."""

    class Fragile(Counter):
        name = "fragile"

        def fold(self, state: int, event: RecordedEvent) -> int:
            if event.data["n"] == 13:
                raise RuntimeError("unlucky")
            return state + int(event.data["n"])

    db.execute(Fragile, "f", 1)
    with pytest.raises(RuntimeError, match="unlucky"):
        db.execute(Fragile, "f", 13)
    assert db.stream_version("f") == 1
    assert _count(raw, "events") == 1


def test_execute_records_correlation_and_causation(
    db: tlo_embed.Database, raw: apsw.Connection
) -> None:
    """correlation_id and causation_id given to execute land on the turn."""
    db.execute(Counter, "c", 1, correlation_id="corr", causation_id="cause")
    assert raw.execute("SELECT correlation_id, causation_id FROM turns").fetchall() == [
        ("corr", "cause")
    ]


def test_a_handler_instance_is_accepted(db: tlo_embed.Database) -> None:
    """An instance works like its class."""
    handler = Counter()
    db.execute(handler, "c", 2)
    db.execute(handler, "c", 3)
    assert db.state(handler, "c") == 5
    assert db.state(Counter, "c") == 5


def test_an_object_without_handler_methods_is_refused(db: tlo_embed.Database) -> None:
    """A handler lacking initial/fold/process raises InvalidArgumentError naming the method."""

    class NotAHandler:
        def initial(self) -> int:
            return 0

    with pytest.raises(tlo_embed.InvalidArgumentError, match="fold"):
        db.execute(NotAHandler, "x", 1)


def test_max_attempts_below_one_is_invalid(db: tlo_embed.Database) -> None:
    """max_attempts < 1 raises InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError, match="max_attempts"):
        db.execute(Counter, "c", 1, max_attempts=0)


def test_execute_retries_a_lost_race(db: tlo_embed.Database) -> None:
    """When the stream moves between load and append, execute reloads, reprocesses and succeeds."""

    class Interfering(Counter):
        name = "interfering"
        calls = 0

        def process(self, state: int, command: int) -> Event | list[Event] | None:
            type(self).calls += 1
            if type(self).calls == 1:
                db.append("c", Event("Added", {"n": 100}))
            return Event("Added", {"n": command})

    result = db.execute(Interfering, "c", 1)
    assert result.attempts == 2
    assert result.state == 101
    assert db.stream_version("c") == 2


def test_execute_gives_up_after_max_attempts(db: tlo_embed.Database) -> None:
    """A stream that moves on every attempt raises ConcurrencyError after max_attempts tries."""

    class AlwaysLoses(Counter):
        name = "loser"

        def process(self, state: int, command: int) -> Event | list[Event] | None:
            db.append("c", Event("Added", {"n": 1}))
            return Event("Added", {"n": command})

    with pytest.raises(tlo_embed.ConcurrencyError) as info:
        db.execute(AlwaysLoses, "c", 50, max_attempts=3)
    assert info.value.stream == "c"
    assert "3 times" in str(info.value)
    assert db.state(Counter, "c") == 3


def test_concurrent_execute_from_four_threads_all_succeed(db: tlo_embed.Database) -> None:
    """Four threads executing on one stream all succeed (retrying); the state counts every one."""
    per_thread = 15
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_thread):
                db.execute(Counter, "shared", 1, max_attempts=200)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert db.state(Counter, "shared") == 4 * per_thread
    assert db.state(CounterNoSnapshots, "shared") == 4 * per_thread
    assert db.stream_version("shared") == 4 * per_thread
    assert db.check(handlers=[Counter]).ok


# -- state and time travel ---------------------------------------------------------------------


def test_state_folds_the_stream(db: tlo_embed.Database) -> None:
    """state() is the fold of the stream's events from initial(); an empty stream is initial()."""
    for n in (1, 2, 3, 4):
        db.execute(Counter, "c", n)
    db.append("c", Event("Added", {"n": 10}))
    assert db.state(Counter, "c") == 20
    assert db.state(Counter, "empty") == 0


def test_state_at_seq_travels_in_time(db: tlo_embed.Database) -> None:
    """state(at_seq=k) folds only events recorded at or before turn k, even past snapshots."""
    seqs = [db.execute(Counter, "c", n).seq for n in (1, 2, 3, 4, 5, 6, 7)]
    db.append("other", Event("Noise"))
    totals = [1, 3, 6, 10, 15, 21, 28]
    for seq, total in zip(seqs, totals):
        assert db.state(Counter, "c", at_seq=seq) == total
        assert db.state(CounterNoSnapshots, "c", at_seq=seq) == total
    assert db.state(Counter, "c", at_seq=0) == 0


# -- snapshots ---------------------------------------------------------------------------------


def test_snapshots_are_written_every_snapshot_every_events(
    db: tlo_embed.Database, raw: apsw.Connection
) -> None:
    """With snapshot_every=3, snapshots land at versions 3, 6, 9 under the key name@version."""
    seqs = [db.execute(Counter, "c", 1).seq for _ in range(10)]
    assert _snapshot_rows(raw) == [
        ("counter@1", "c", 3, seqs[2]), ("counter@1", "c", 6, seqs[5]),
        ("counter@1", "c", 9, seqs[8]),
    ]


def test_old_snapshots_are_pruned(db: tlo_embed.Database, raw: apsw.Connection) -> None:
    """Only the newest three snapshots of a stream are kept."""
    for _ in range(13):
        db.execute(Counter, "c", 1)
    assert [v for _, _, v, _ in _snapshot_rows(raw)] == [6, 9, 12]


def test_a_batch_crossing_a_boundary_is_snapshotted_at_its_end(
    db: tlo_embed.Database, raw: apsw.Connection
) -> None:
    """A batch crossing a multiple of snapshot_every is snapshotted at its last version."""
    db.execute(Batcher, "b", 2)
    db.execute(Batcher, "b", 5)
    assert [(v, s) for _, _, v, s in _snapshot_rows(raw)] == [(7, 2)]
    assert db.state(Batcher, "b") == 7


def test_state_is_the_same_with_and_without_snapshots(db: tlo_embed.Database) -> None:
    """Folding from a snapshot plus the tail equals folding the whole stream."""
    for n in range(1, 12):
        db.execute(Counter, "c", n)
    assert db.state(Counter, "c") == db.state(CounterNoSnapshots, "c") == sum(range(1, 12))


def test_state_is_loaded_from_the_newest_snapshot(
    db: tlo_embed.Database, raw: apsw.Connection
) -> None:
    """state() starts from the stored snapshot (a doctored one shows through) and folds the tail."""
    for _ in range(4):
        db.execute(Counter, "c", 1)
    raw.execute("UPDATE snapshots SET state = ?, enc = 0 WHERE version = 3", (dumps(1000),))
    assert db.state(Counter, "c") == 1001
    assert db.state(CounterNoSnapshots, "c") == 4


def test_a_new_handler_version_ignores_old_snapshots(
    db: tlo_embed.Database, raw: apsw.Connection
) -> None:
    """A handler with a new version folds from the journal, not the old version's snapshots."""
    for _ in range(4):
        db.execute(Counter, "c", 1)
    raw.execute("UPDATE snapshots SET state = ?, enc = 0", (dumps(1000),))
    assert db.state(CounterV2, "c") == 4
    db.execute(CounterV2, "c", 2)
    db.execute(CounterV2, "c", 2)
    assert db.state(CounterV2, "c") == 8
    assert ("counter@2", "c", 6) in [r[:3] for r in _snapshot_rows(raw)]


def test_the_database_default_snapshot_interval_applies(db_path: Path) -> None:
    """A handler without snapshot_every uses open(snapshot_every=...)."""

    class Plain:
        def initial(self) -> int:
            return 0

        def fold(self, state: int, event: RecordedEvent) -> int:
            return state + 1

        def process(self, state: int, command: Any) -> Event:
            return Event("Tick")

    with tlo_embed.open(db_path, snapshot_every=2) as db:
        for _ in range(5):
            db.execute(Plain, "p", None)
        conn = db.journal.store.connection()
        rows = conn.execute("SELECT handler, version FROM snapshots ORDER BY version").fetchall()
        assert [tuple(r) for r in rows] == [
            (f"{Plain.__qualname__}@1", 2), (f"{Plain.__qualname__}@1", 4)
        ]
        assert db.state(Plain, "p") == 5


class Box:
    """A state value CBOR cannot encode."""

    def __init__(self, n: int) -> None:
        self.n = n


class BoxCounter:
    """A counter whose state is a Box."""

    name = "box"
    snapshot_every = 2

    def initial(self) -> Box:
        return Box(0)

    def fold(self, state: Box, event: RecordedEvent) -> Box:
        return Box(state.n + 1)

    def process(self, state: Box, command: Any) -> Event:
        return Event("Tick")


def test_a_non_cbor_state_warns_and_still_works(
    db: tlo_embed.Database, raw: apsw.Connection
) -> None:
    """An unencodable state emits SnapshotWarning once, is not snapshotted, and still folds."""
    db.execute(BoxCounter, "b", None)
    with pytest.warns(tlo_embed.SnapshotWarning, match="box"):
        result = db.execute(BoxCounter, "b", None)
    assert result.state.n == 2
    for _ in range(3):
        assert db.execute(BoxCounter, "b", None).seq > 0
    assert db.state(BoxCounter, "b").n == 5
    assert _count(raw, "snapshots") == 0


def test_snapshot_encode_and_decode_hooks_are_used(
    db: tlo_embed.Database, raw: apsw.Connection
) -> None:
    """snapshot_encode/snapshot_decode let a non-CBOR state be snapshotted and restored."""

    class HookedBoxCounter(BoxCounter):
        name = "hooked"

        def snapshot_encode(self, state: Box) -> dict[str, int]:
            return {"n": state.n}

        def snapshot_decode(self, value: dict[str, int]) -> Box:
            return Box(value["n"])

    for _ in range(5):
        db.execute(HookedBoxCounter, "b", None)
    assert _count(raw, "snapshots") == 2
    raw.execute("UPDATE snapshots SET state = ?, enc = 0 WHERE version = 4", (dumps({"n": 40}),))
    assert db.state(HookedBoxCounter, "b").n == 41


# -- check(handlers=...) -----------------------------------------------------------------------


def test_check_with_handlers_passes_on_a_clean_file(db: tlo_embed.Database) -> None:
    """check(handlers=[Counter]) re-folds every snapshot and finds nothing wrong."""
    for n in range(10):
        db.execute(Counter, "a", n + 1)
        db.execute(Counter, "b", 1)
    report = db.check(handlers=[Counter])
    assert report.ok, report.problems
    assert report.problems == ()


def test_check_reports_a_tampered_snapshot(db: tlo_embed.Database, raw: apsw.Connection) -> None:
    """check(handlers=...) reports a snapshot whose state differs from the journal's fold."""
    for _ in range(7):
        db.execute(Counter, "c", 1)
    raw.execute("UPDATE snapshots SET state = ?, enc = 0 WHERE version = 3", (dumps(999),))
    report = db.check(handlers=[Counter])
    assert not report.ok
    assert any("counter@1" in p and "c@3" in p for p in report.problems), report.problems
    assert len(report.problems) == 1
    assert db.check().ok
