"""tlo_embed/journal/turns.py: one write transaction = one turn, shared by nested scopes."""

from __future__ import annotations

import pytest

import tlo_embed
from tlo_embed import Event

from .conftest import Raw


class Boom(Exception):
    """Raised by tests to abort a turn."""


def test_a_turn_spanning_two_streams_has_one_seq(db: tlo_embed.Database, raw: Raw) -> None:
    """Appends to two streams inside db.turn() share one seq and one turns row."""
    with db.turn() as turn:
        a = turn.append("order-1", Event("OrderPlaced"), expected_version=0)
        b = turn.append("customer-7", [Event("OrderLinked"), Event("Noted")])
    assert a.seq == b.seq == 1
    assert raw.count("turns") == 1
    assert [(e.stream, e.index) for e in db.read_all()] == [
        ("order-1", 0), ("customer-7", 1), ("customer-7", 2),
    ]


def test_an_exception_inside_a_turn_writes_nothing(db: tlo_embed.Database, raw: Raw) -> None:
    """An exception raised inside db.turn() rolls back every append and SQL write in it."""
    db.append("s", Event("E"))
    with pytest.raises(Boom):
        with db.turn() as turn:
            turn.append("s", Event("E"))
            turn.append("t", Event("E"))
            turn.sql("CREATE TABLE mine (x)")
            raise Boom
    assert (raw.count("turns"), raw.count("events")) == (1, 1)
    assert raw.rows("SELECT name FROM sqlite_schema WHERE name = 'mine'") == []
    assert db.stream_version("s") == 1 and db.stream_version("t") == 0
    assert db.append("t", Event("E")).seq == 2


def test_a_turn_that_appends_nothing_records_no_turn(db: tlo_embed.Database, raw: Raw) -> None:
    """A turn with no appends leaves no turns row and does not move the head."""
    with db.turn() as turn:
        assert turn.seq == 0
    assert raw.count("turns") == 0
    assert db.last_seq == 0


def test_the_turn_is_allocated_by_its_first_append(db: tlo_embed.Database) -> None:
    """TurnContext.seq is 0 until the first append, then the turn's seq."""
    db.append("s", Event("E"))
    with db.turn() as turn:
        assert turn.seq == 0
        turn.append("s", Event("E"))
        assert turn.seq == 2
        turn.append("s", Event("E"))
        assert turn.seq == 2


def test_appending_to_a_stream_twice_in_a_turn_continues_its_versions(
    db: tlo_embed.Database,
) -> None:
    """Two appends to one stream in one turn get versions 1 then 2, indexes 0 then 1."""
    with db.turn() as turn:
        turn.append("s", Event("A"), expected_version=0)
        turn.append("s", Event("B"), expected_version=1)
    assert [(e.version, e.index, e.seq) for e in db.read("s")] == [(1, 0, 1), (2, 1, 1)]


def test_db_append_inside_a_turn_joins_it(db: tlo_embed.Database, raw: Raw) -> None:
    """db.append on the thread that holds an open turn writes into that turn."""
    with db.turn() as turn:
        turn.append("a", Event("E"))
        result = db.append("b", Event("E"))
        assert result.seq == turn.seq
    assert raw.count("turns") == 1


def test_a_failed_nested_turn_keeps_the_outer_turns_events(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """A failing nested turn rolls back its appends only; the outer turn's indexes stay dense."""
    with db.turn() as outer:
        outer.append("a", Event("A"))
        with pytest.raises(Boom):
            with db.turn() as inner:
                inner.append("b", Event("B"))
                raise Boom
        outer.append("c", Event("C"))
    assert [(e.seq, e.index, e.stream) for e in db.read_all()] == [(1, 0, "a"), (1, 1, "c")]
    assert db.stream_version("b") == 0
    assert raw.count("turns") == 1


def test_a_nested_failure_before_the_outer_appends_leaves_a_clean_turn(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """If a turn's first append was in a nested scope that failed, the turn starts afresh."""
    with db.turn() as outer:
        with pytest.raises(Boom):
            with db.turn() as inner:
                inner.append("b", Event("B"))
                raise Boom
        assert outer.seq == 0
        outer.append("c", Event("C"))
    assert [(e.seq, e.index, e.stream) for e in db.read_all()] == [(1, 0, "c")]
    assert raw.rows("SELECT seq, parent_seq FROM turns") == [(1, 0)]
    assert raw.rows("SELECT name, head_seq FROM branches") == [("main", 1)]


def test_a_nested_turn_cannot_give_an_idempotency_key(db: tlo_embed.Database) -> None:
    """Only the call that opens a turn may give an idempotency key."""
    with db.turn() as turn:
        turn.append("a", Event("E"))
        with pytest.raises(tlo_embed.InvalidArgumentError, match="idempotency_key"):
            db.append("b", Event("E"), idempotency_key="k")
        turn.append("c", Event("E"))
    assert db.stream_version("b") == 0 and db.stream_version("c") == 1


def test_a_nested_turn_cannot_change_the_correlation_id(db: tlo_embed.Database) -> None:
    """A nested append with another correlation or causation id is refused; the same is fine."""
    with db.turn(correlation_id="c1") as turn:
        turn.append("a", Event("E"))
        db.append("a", Event("E"), correlation_id="c1")
        with pytest.raises(tlo_embed.InvalidArgumentError, match="correlation_id"):
            db.append("a", Event("E"), correlation_id="c2")
        with pytest.raises(tlo_embed.InvalidArgumentError, match="causation_id"):
            db.append("a", Event("E"), causation_id="x")
    assert db.stream_version("a") == 2


def test_repeating_a_multi_stream_turn_with_its_key_writes_nothing(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """Re-running a keyed turn over two streams returns duplicates and writes nothing."""
    results = []
    for _ in range(2):
        with db.turn(idempotency_key="transfer-9") as turn:
            results.append((
                turn.append("acct-a", Event("Debited", 5)),
                turn.append("acct-b", Event("Credited", 5)),
            ))
    (a1, b1), (a2, b2) = results
    assert not a1.duplicate and not b1.duplicate
    assert a2.duplicate and b2.duplicate
    assert (a2.seq, a2.version, b2.seq, b2.version) == (a1.seq, 1, b1.seq, 1)
    assert (raw.count("turns"), raw.count("events")) == (1, 2)


def test_turns_notify_waiters_only_when_they_recorded_events(db: tlo_embed.Database) -> None:
    """db.wait(after_seq) sees a committed turn; an empty turn does not count."""
    with db.turn():
        pass
    assert db.wait(0, timeout=0) is False
    db.append("s", Event("E"))
    assert db.wait(0, timeout=0) is True
    assert db.wait(1, timeout=0) is False
