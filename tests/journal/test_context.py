"""tlo_embed/journal/context.py: TurnContext, what user code holds while a turn is open."""

from __future__ import annotations

import threading

import pytest

import tlo_embed
from tlo_embed import Event

from .conftest import Raw


def test_turn_context_reports_branch_and_time(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock
) -> None:
    """A TurnContext names its branch and the clock time read when the turn opened."""
    expected = clock.now
    with db.turn() as turn:
        assert turn.branch == "main"
        assert turn.recorded_at_us == expected
        turn.append("s", Event("E"))
    assert next(db.read("s")).recorded_at_us == expected


def test_sql_writes_commit_with_the_turns_events(db: tlo_embed.Database, raw: Raw) -> None:
    """Rows written through turn.sql commit together with the turn's appends."""
    with db.turn() as turn:
        turn.sql("CREATE TABLE totals (stream TEXT PRIMARY KEY, n INTEGER)")
    with db.turn() as turn:
        turn.append("s", Event("E"))
        turn.sql("INSERT INTO totals VALUES (?, ?)", ("s", 1))
        assert raw.rows("SELECT * FROM totals") == []
    assert raw.rows("SELECT * FROM totals") == [("s", 1)]
    assert raw.count("events") == 1


def test_sql_returns_rows_and_sees_the_turns_own_writes(db: tlo_embed.Database) -> None:
    """turn.sql returns a query's rows as tuples, including rows written earlier in the turn."""
    with db.turn() as turn:
        turn.sql("CREATE TABLE kv (k TEXT, v INTEGER)")
        turn.sql("INSERT INTO kv VALUES ('a', 1), ('b', 2)")
        assert turn.sql("SELECT k, v FROM kv ORDER BY k") == [("a", 1), ("b", 2)]
        assert turn.sql("SELECT v FROM kv WHERE k = ?", ["b"]) == [(2,)]


def test_sql_writes_are_rolled_back_with_the_turn(db: tlo_embed.Database, raw: Raw) -> None:
    """If the turn fails, its turn.sql writes are undone with its appends."""
    with db.turn() as turn:
        turn.sql("CREATE TABLE kv (k TEXT)")
    with pytest.raises(RuntimeError):
        with db.turn() as turn:
            turn.sql("INSERT INTO kv VALUES ('x')")
            turn.append("s", Event("E"))
            raise RuntimeError("abort")
    assert raw.rows("SELECT * FROM kv") == []
    assert raw.count("events") == 0


def test_reads_inside_a_turn_see_its_uncommitted_events(db: tlo_embed.Database) -> None:
    """The thread holding a turn reads its own appends; another thread does not until commit."""
    other: list[int] = []
    with db.turn() as turn:
        turn.append("s", [Event("A"), Event("B")])
        assert [e.type for e in db.read("s")] == ["A", "B"]
        assert db.stream_version("s") == 2
        reader = threading.Thread(target=lambda: other.append(db.stream_version("s")))
        reader.start()
        reader.join(10)
    assert other == [0]
    assert db.stream_version("s") == 2
