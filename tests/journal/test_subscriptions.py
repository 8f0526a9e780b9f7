"""tlo_embed/journal/subscriptions.py: durable cursors, exactly-once processing, waiting."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import tlo_embed
from tlo_embed import Event, RecordedEvent, TurnContext

from .conftest import Raw


class Collector:
    """A subscription handler that records (seq, index, stream, type) of what it sees."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, str, str]] = []

    def __call__(self, turn: TurnContext, event: RecordedEvent) -> None:
        self.seen.append((event.seq, event.index, event.stream, event.type))

    @property
    def types(self) -> list[str]:
        return [t for _, _, _, t in self.seen]


class Boom(Exception):
    """Raised by handlers to refuse a batch."""


def _append_types(db: tlo_embed.Database, stream: str, *types: str) -> None:
    for t in types:
        db.append(stream, Event(t))


# -- delivery ----------------------------------------------------------------------------------


def test_process_delivers_each_event_exactly_once_across_calls(db: tlo_embed.Database) -> None:
    """Successive process() calls deliver every event once, in journal order, and then nothing."""
    sub = db.subscribe("proj")
    _append_types(db, "s", "A", "B")
    got = Collector()
    assert sub.process(got) == 2
    assert sub.process(got) == 0
    db.append("t", [Event("C"), Event("D")])
    assert sub.process(got) == 2
    assert sub.process(got) == 0
    assert got.seen == [(1, 0, "s", "A"), (2, 0, "s", "B"), (3, 0, "t", "C"), (3, 1, "t", "D")]
    assert sub.position == 3


def test_the_position_survives_reopening(db_path: Path) -> None:
    """A subscription resumed on a reopened file delivers only what came after its position."""
    with tlo_embed.open(db_path) as db:
        _append_types(db, "s", "A", "B")
        assert db.subscribe("proj").process(Collector()) == 2
        _append_types(db, "s", "C")
    with tlo_embed.open(db_path) as db:
        sub = db.subscribe("proj")
        assert sub.position == 2
        got = Collector()
        assert sub.process(got) == 1
        assert got.types == ["C"]


def test_a_raising_handler_rolls_back_its_writes_and_keeps_the_position(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """A raising handler: its SQL writes are undone, the position stays, the batch comes again."""
    with db.turn() as turn:
        turn.sql("CREATE TABLE seen (type TEXT)")
    _append_types(db, "s", "A", "B", "C")
    sub = db.subscribe("proj")

    def failing(turn: TurnContext, event: RecordedEvent) -> None:
        turn.sql("INSERT INTO seen VALUES (?)", (event.type,))
        if event.type == "B":
            raise Boom

    with pytest.raises(Boom):
        sub.process(failing)
    assert sub.position == 0
    assert raw.rows("SELECT type FROM seen") == []

    def working(turn: TurnContext, event: RecordedEvent) -> None:
        turn.sql("INSERT INTO seen VALUES (?)", (event.type,))

    assert sub.process(working) == 3
    assert raw.rows("SELECT type FROM seen ORDER BY rowid") == [("A",), ("B",), ("C",)]
    assert sub.position == 3


def test_handler_appends_commit_atomically_with_the_position(db: tlo_embed.Database) -> None:
    """Events a handler appends through its turn commit with the position move, or not at all."""
    _append_types(db, "orders", "Placed", "Placed")
    sub = db.subscribe("mirror", stream_prefix="orders")
    calls = {"n": 0}

    def mirror(turn: TurnContext, event: RecordedEvent) -> None:
        calls["n"] += 1
        turn.append("mirror", Event("Mirrored", event.seq))
        if calls["n"] == 2:
            raise Boom

    with pytest.raises(Boom):
        sub.process(mirror)
    assert db.stream_version("mirror") == 0
    assert sub.position == 0
    assert sub.process(mirror) == 2
    mirrored = list(db.read("mirror"))
    assert [e.data for e in mirrored] == [1, 2]
    assert len({e.seq for e in mirrored}) == 1
    assert sub.position == 2
    assert sub.process(mirror) == 0


# -- filters and starting points ---------------------------------------------------------------


def test_types_filter_delivers_only_matching_events(db: tlo_embed.Database) -> None:
    """types= GLOB patterns select the events delivered; the position still passes the rest."""
    _append_types(db, "s", "OrderPlaced", "Noise", "OrderShipped", "Noise")
    sub = db.subscribe("orders", types="Order*")
    got = Collector()
    assert sub.process(got) == 2
    assert got.types == ["OrderPlaced", "OrderShipped"]
    assert sub.position == 4


def test_stream_prefix_filter_delivers_only_matching_streams(db: tlo_embed.Database) -> None:
    """stream_prefix= selects streams by the start of their name."""
    db.append("order-1", Event("A"))
    db.append("customer-1", Event("B"))
    db.append("order-2", Event("C"))
    got = Collector()
    db.subscribe("orders", stream_prefix="order-").process(got)
    assert got.types == ["A", "C"]


def test_a_filter_that_matches_nothing_still_moves_the_position(db: tlo_embed.Database) -> None:
    """Turns with no matching event are passed over without calling the handler."""
    _append_types(db, "s", "Noise", "Noise")
    sub = db.subscribe("picky", types=["Wanted"])
    got = Collector()
    assert sub.process(got) == 0
    assert got.seen == []
    assert sub.position == 2


def test_from_seq_starts_a_new_subscription_there(db: tlo_embed.Database) -> None:
    """A new subscription with from_seq=k delivers turns k, k+1, ... (inclusive)."""
    _append_types(db, "s", "A", "B", "C", "D")
    got = Collector()
    db.subscribe("late", from_seq=3).process(got)
    assert got.types == ["C", "D"]


def test_from_seq_moves_an_existing_subscription(db: tlo_embed.Database) -> None:
    """Subscribing again with from_seq moves an existing subscription's position there."""
    _append_types(db, "s", "A", "B", "C")
    db.subscribe("proj").process(Collector())
    got = Collector()
    db.subscribe("proj", from_seq=2).process(got)
    assert got.types == ["B", "C"]


def test_reset_delivers_again(db: tlo_embed.Database) -> None:
    """reset() replays from the start; reset(k) replays from turn k."""
    _append_types(db, "s", "A", "B", "C")
    sub = db.subscribe("proj")
    sub.process(Collector())
    sub.reset()
    again = Collector()
    assert sub.process(again) == 3
    sub.reset(3)
    last = Collector()
    assert sub.process(last) == 1
    assert last.types == ["C"]


def test_a_reset_from_another_handle_is_honoured(db: tlo_embed.Database, db_path: Path) -> None:
    """A subscription reset through another handle is redelivered by a handle that had caught up."""
    _append_types(db, "s", "A", "B")
    worker = db.subscribe("proj")
    assert worker.process(Collector()) == 2
    with tlo_embed.open(db_path) as admin:
        admin.subscribe("proj").reset()
    assert worker.position == 0
    assert [e.type for e in worker.pending()] == ["A", "B"]
    got = Collector()
    assert worker.process(got) == 2
    assert got.types == ["A", "B"]


def test_invalid_subscription_arguments_are_refused(db: tlo_embed.Database) -> None:
    """An empty name, a negative from_seq or a negative reset raise InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.subscribe("")
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.subscribe("x", from_seq=-1)
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.subscribe("y").reset(-1)


# -- pending / ack -----------------------------------------------------------------------------


def test_pending_does_not_move_the_position_and_ack_does(db: tlo_embed.Database) -> None:
    """pending() lists events past the position without moving it; ack(seq) moves it to seq."""
    _append_types(db, "s", "A", "B", "C")
    sub = db.subscribe("manual")
    assert [e.type for e in sub.pending()] == ["A", "B", "C"]
    assert [e.type for e in sub.pending()] == ["A", "B", "C"]
    assert sub.position == 0
    sub.ack(2)
    assert sub.position == 2
    assert [e.type for e in sub.pending()] == ["C"]
    sub.ack(3)
    assert sub.pending() == []


def test_ack_never_moves_the_position_back(db: tlo_embed.Database) -> None:
    """ack of an older seq leaves the position where it is."""
    _append_types(db, "s", "A", "B", "C")
    sub = db.subscribe("manual")
    sub.ack(3)
    sub.ack(1)
    assert sub.position == 3


def test_a_turn_is_never_split_by_the_batch_limit(db: tlo_embed.Database) -> None:
    """A 5-event turn is delivered whole even with limit=2, by process and by pending."""
    db.append("s", [Event(f"E{i}") for i in range(5)])
    db.append("s", Event("After"))
    sub = db.subscribe("proj")
    assert [e.type for e in sub.pending(limit=2)] == ["E0", "E1", "E2", "E3", "E4"]
    got = Collector()
    assert sub.process(got, limit=2) == 5
    assert sub.position == 1
    assert sub.process(got, limit=2) == 1
    assert got.types == ["E0", "E1", "E2", "E3", "E4", "After"]


def test_the_batch_limit_stops_at_a_turn_boundary(db: tlo_embed.Database) -> None:
    """With turns of 3 events and limit=2, each process() call delivers exactly one turn."""
    for t in range(3):
        db.append("s", [Event(f"T{t}-{i}") for i in range(3)])
    sub = db.subscribe("proj")
    got = Collector()
    counts = [sub.process(got, limit=2) for _ in range(4)]
    assert counts == [3, 3, 3, 0]
    assert [seq for seq, _, _, _ in got.seen] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


# -- waiting and running -----------------------------------------------------------------------


def test_wait_returns_true_when_another_thread_appends(db: tlo_embed.Database) -> None:
    """wait() blocks until another thread commits a turn, then returns True."""
    sub = db.subscribe("proj")
    go = threading.Event()

    def append_later() -> None:
        go.wait(10)
        db.append("s", Event("E"))

    writer = threading.Thread(target=append_later)
    writer.start()
    try:
        go.set()
        assert sub.wait(timeout=10) is True
    finally:
        writer.join(10)
    assert sub.process(Collector()) == 1


def test_wait_returns_false_on_timeout(db: tlo_embed.Database) -> None:
    """wait(timeout) returns False when nothing is committed in time."""
    _append_types(db, "s", "A")
    sub = db.subscribe("proj")
    sub.process(Collector())
    assert sub.wait(timeout=0.05) is False


def test_wait_returns_at_once_when_events_are_pending(db: tlo_embed.Database) -> None:
    """wait() is True without blocking while unprocessed turns exist."""
    _append_types(db, "s", "A")
    assert db.subscribe("proj").wait(timeout=0) is True


def test_wait_wakes_on_a_commit_from_another_process(
    db: tlo_embed.Database, db_path: Path, tmp_path: Path
) -> None:
    """A blocked wait() returns True when a separate process appends to the file."""
    sub = db.subscribe("proj")
    code = (
        "import sys, tlo_embed\n"
        "with tlo_embed.open(sys.argv[1]) as db:\n"
        "    db.append('from-child', tlo_embed.Event('Hello', 1))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(db_path)], cwd=tmp_path, env=dict(os.environ)
    )
    try:
        assert sub.wait(timeout=10) is True
    finally:
        assert child.wait(60) == 0
    got = Collector()
    assert sub.process(got) == 1
    assert got.seen == [(1, 0, "from-child", "Hello")]


def test_run_returns_the_count_after_idle_timeout(db: tlo_embed.Database) -> None:
    """run(idle_timeout=...) processes everything pending, waits, and returns how many it saw."""
    _append_types(db, "s", *[f"E{i}" for i in range(7)])
    got = Collector()
    assert db.subscribe("proj").run(got, idle_timeout=0.2) == 7
    assert len(got.seen) == 7


def test_run_processes_events_as_they_arrive_until_stopped(db: tlo_embed.Database) -> None:
    """run(stop=...) keeps delivering new turns, including ones committed while it runs."""
    _append_types(db, "s", "First")
    stop = threading.Event()
    got: list[str] = []
    writer_done = threading.Event()

    def write_more() -> None:
        _append_types(db, "s", "Second", "Third", "Last")
        writer_done.set()

    writer = threading.Thread(target=write_more)

    def handler(turn: TurnContext, event: RecordedEvent) -> None:
        got.append(event.type)
        if event.type == "First":
            writer.start()
        if event.type == "Last":
            stop.set()

    total = db.subscribe("proj").run(handler, stop=stop, idle_timeout=30)
    writer.join(10)
    assert writer_done.is_set()
    assert got == ["First", "Second", "Third", "Last"]
    assert total == 4


# -- listing and deleting ----------------------------------------------------------------------


def test_subscriptions_are_listed_with_their_filters_and_positions(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """subscriptions() lists each subscription's name, branch, position and filters, by name."""
    _append_types(db, "s", "A", "B")
    db.subscribe("zeta", types=["A*", "B*"], stream_prefix="s").process(Collector())
    db.subscribe("alpha")
    infos = db.subscriptions()
    assert [i.name for i in infos] == ["alpha", "zeta"]
    alpha, zeta = infos
    assert (alpha.branch, alpha.position, alpha.types, alpha.stream_prefix) == (
        "main", 0, (), None
    )
    assert (zeta.position, zeta.types, zeta.stream_prefix) == (2, ("A*", "B*"), "s")
    assert zeta.updated_at_us >= zeta.created_at_us


def test_subscribing_again_updates_the_filters(db: tlo_embed.Database) -> None:
    """Re-subscribing with other filters keeps the position and stores the new filters."""
    _append_types(db, "s", "A")
    db.subscribe("proj", types="A").process(Collector())
    db.subscribe("proj", types="B")
    [info] = db.subscriptions()
    assert (info.position, info.types) == (1, ("B",))


def test_unsubscribe_deletes_the_subscription(db: tlo_embed.Database) -> None:
    """unsubscribe removes the subscription; using a stale handle raises NotFoundError."""
    sub = db.subscribe("proj")
    db.subscribe("keep")
    db.unsubscribe("proj")
    assert [i.name for i in db.subscriptions()] == ["keep"]
    with pytest.raises(tlo_embed.NotFoundError):
        _ = sub.position
    _append_types(db, "s", "A")
    with pytest.raises(tlo_embed.NotFoundError):
        sub.process(Collector())


def test_unsubscribing_an_unknown_name_raises_not_found(db: tlo_embed.Database) -> None:
    """unsubscribe of a name that does not exist raises NotFoundError."""
    with pytest.raises(tlo_embed.NotFoundError, match="nope"):
        db.unsubscribe("nope")


def test_a_resubscribed_name_starts_from_the_beginning(db: tlo_embed.Database) -> None:
    """After unsubscribe, subscribing the same name again starts a fresh cursor."""
    _append_types(db, "s", "A", "B")
    db.subscribe("proj").process(Collector())
    db.unsubscribe("proj")
    got = Collector()
    assert db.subscribe("proj").process(got) == 2


def test_handlers_receive_a_turn_context_and_recorded_events(db: tlo_embed.Database) -> None:
    """The handler gets a TurnContext on the subscription's branch and decoded events."""
    db.append("s", Event("E", {"k": [1, 2]}, metadata={"m": 1}))
    seen: list[Any] = []

    def handler(turn: TurnContext, event: RecordedEvent) -> None:
        seen.append((turn.branch, event.data, event.metadata, event.version))

    db.subscribe("proj").process(handler)
    assert seen == [("main", {"k": [1, 2]}, {"m": 1}, 1)]
