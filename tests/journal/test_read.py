"""tlo_embed/journal/read.py: stream reads, whole-journal reads, reads by id, paging."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tlo_embed
from tlo_embed import Event
from tlo_embed.journal.read import PAGE_SIZE


def _fill(db: tlo_embed.Database, stream: str, count: int, per_turn: int) -> None:
    done = 0
    while done < count:
        n = min(per_turn, count - done)
        db.append(stream, [Event("E", done + i + 1) for i in range(n)])
        done += n


# -- one stream --------------------------------------------------------------------------------


@pytest.fixture
def five(db: tlo_embed.Database) -> tlo_embed.Database:
    """A database whose stream 's' holds versions 1..5 (data = version), with noise in 'other'."""
    for v in range(1, 6):
        db.append("s", Event("E", v))
        db.append("other", Event("Noise", v))
    return db


def test_read_returns_a_stream_in_version_order(five: tlo_embed.Database) -> None:
    """read(stream) yields that stream's events only, versions 1..n."""
    events = list(five.read("s"))
    assert [e.version for e in events] == [1, 2, 3, 4, 5]
    assert [e.data for e in events] == [1, 2, 3, 4, 5]
    assert {e.stream for e in events} == {"s"}


def test_read_from_version_is_inclusive(five: tlo_embed.Database) -> None:
    """from_version=3 starts at version 3."""
    assert [e.version for e in five.read("s", from_version=3)] == [3, 4, 5]
    assert list(five.read("s", from_version=6)) == []


def test_read_backward_starts_at_the_newest(five: tlo_embed.Database) -> None:
    """backward=True yields newest first; from_version bounds it from above, inclusively."""
    assert [e.version for e in five.read("s", backward=True)] == [5, 4, 3, 2, 1]
    assert [e.version for e in five.read("s", backward=True, from_version=3)] == [3, 2, 1]
    assert [e.version for e in five.read("s", backward=True, from_version=99)] == [5, 4, 3, 2, 1]


def test_read_limit_caps_the_count(five: tlo_embed.Database) -> None:
    """limit=n yields at most n events, from wherever the read starts."""
    assert [e.version for e in five.read("s", limit=2)] == [1, 2]
    assert [e.version for e in five.read("s", backward=True, limit=2)] == [5, 4]
    assert [e.version for e in five.read("s", from_version=4, limit=10)] == [4, 5]
    assert list(five.read("s", limit=0)) == []


def test_a_negative_limit_is_invalid(five: tlo_embed.Database) -> None:
    """limit < 0 raises InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        list(five.read("s", limit=-1))
    with pytest.raises(tlo_embed.InvalidArgumentError):
        list(five.read_all(limit=-1))


def test_reading_a_missing_stream_yields_nothing(db: tlo_embed.Database) -> None:
    """A stream that was never written reads as empty."""
    assert list(db.read("nobody")) == []
    assert list(db.read("nobody", backward=True)) == []


def test_reading_an_empty_stream_name_is_invalid(db: tlo_embed.Database) -> None:
    """read("") raises InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.read("")


@pytest.mark.parametrize("per_turn", [1300, 100])
def test_stream_reads_page_through_more_than_a_page(db: tlo_embed.Database, per_turn: int) -> None:
    """Reads longer than PAGE_SIZE yield every event exactly once, in order, both directions."""
    total = 2 * PAGE_SIZE + 276
    _fill(db, "s", total, per_turn)
    assert [e.version for e in db.read("s")] == list(range(1, total + 1))
    assert [e.version for e in db.read("s", backward=True)] == list(range(total, 0, -1))
    assert [e.version for e in db.read("s", from_version=PAGE_SIZE - 3, limit=PAGE_SIZE + 10)] == (
        list(range(PAGE_SIZE - 3, 2 * PAGE_SIZE + 7))
    )
    assert [e.version for e in db.read("s", backward=True, limit=PAGE_SIZE + 1)] == (
        list(range(total, total - PAGE_SIZE - 1, -1))
    )
    assert len(list(db.read("s", limit=PAGE_SIZE))) == PAGE_SIZE


# -- the whole journal -------------------------------------------------------------------------


@pytest.fixture
def journal(db: tlo_embed.Database) -> tlo_embed.Database:
    """Turns 1..6 over streams order-1, order-2, customer-1 with assorted types."""
    db.append("order-1", [Event("OrderPlaced", 1), Event("OrderPaid", 2)])   # seq 1
    db.append("customer-1", Event("CustomerJoined", 3))                      # seq 2
    db.append("order-2", Event("OrderPlaced", 4))                            # seq 3
    db.append("order-1", Event("OrderShipped", 5))                           # seq 4
    db.append("customer-1", Event("customerRenamed", 6))                     # seq 5
    db.append("ord_x", Event("OrderPlaced", 7))                              # seq 6
    return db


def test_read_all_is_in_journal_order(journal: tlo_embed.Database) -> None:
    """read_all yields every event by (seq, idx)."""
    events = list(journal.read_all())
    assert [e.data for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert [(e.seq, e.index) for e in events][:3] == [(1, 0), (1, 1), (2, 0)]


def test_read_all_from_and_to_seq_are_inclusive(journal: tlo_embed.Database) -> None:
    """from_seq and to_seq bound the turns read, both inclusive."""
    assert [e.data for e in journal.read_all(3)] == [4, 5, 6, 7]
    assert [e.data for e in journal.read_all(2, to_seq=4)] == [3, 4, 5]
    assert [e.data for e in journal.read_all(to_seq=1)] == [1, 2]
    assert list(journal.read_all(7)) == []


def test_read_all_filters_types_by_glob(journal: tlo_embed.Database) -> None:
    """types takes one or more case-sensitive GLOB patterns on the event type."""
    assert [e.data for e in journal.read_all(types="Order*")] == [1, 2, 4, 5, 7]
    assert [e.data for e in journal.read_all(types=["OrderPlaced", "Customer*"])] == [1, 3, 4, 7]
    assert [e.data for e in journal.read_all(types="customer*")] == [6]
    assert [e.data for e in journal.read_all(types="Order?aid")] == [2]


def test_read_all_filters_by_literal_stream_prefix(journal: tlo_embed.Database) -> None:
    """stream_prefix matches the start of the stream name literally (no LIKE/GLOB wildcards)."""
    assert [e.data for e in journal.read_all(stream_prefix="order-")] == [1, 2, 4, 5]
    assert [e.data for e in journal.read_all(stream_prefix="ord_")] == [7]
    assert [e.data for e in journal.read_all(stream_prefix="order-1")] == [1, 2, 5]
    assert list(journal.read_all(stream_prefix="%")) == []


def test_read_all_combines_filters_and_limit(journal: tlo_embed.Database) -> None:
    """Filters, seq bounds and limit apply together."""
    assert [e.data for e in journal.read_all(2, types="Order*", stream_prefix="order-",
                                             limit=1)] == [4]
    assert [e.data for e in journal.read_all(limit=3)] == [1, 2, 3]
    assert list(journal.read_all(limit=0)) == []


def test_read_all_pages_through_turns_larger_than_a_page(db: tlo_embed.Database) -> None:
    """Pages that end inside a turn resume at the next index: every event once, in order."""
    for turn in range(3):
        db.append(f"s-{turn}", [Event("E", turn * 1000 + i) for i in range(400)])
    events = list(db.read_all())
    assert [(e.seq, e.index) for e in events] == [
        (seq, idx) for seq in (1, 2, 3) for idx in range(400)
    ]
    filtered = list(db.read_all(stream_prefix="s-1", limit=PAGE_SIZE + 1))
    assert [e.data for e in filtered] == [1000 + i for i in range(400)]


def test_read_all_is_lazy(db: tlo_embed.Database) -> None:
    """read_all returns an iterator that fetches page by page: turns appended mid-way are seen."""
    _fill(db, "s", 3 * PAGE_SIZE, PAGE_SIZE)
    events = db.read_all()
    assert isinstance(events, Iterator)
    first = next(events)
    assert first.seq == 1
    db.append("late", Event("Late"))
    rest = list(events)
    assert len(rest) == 3 * PAGE_SIZE
    assert rest[-1].stream == "late"


def test_stream_reads_are_lazy(db: tlo_embed.Database) -> None:
    """read returns an iterator; events appended after the first page are seen by later pages."""
    _fill(db, "s", 2 * PAGE_SIZE, PAGE_SIZE)
    events = db.read("s")
    assert isinstance(events, Iterator)
    assert next(events).version == 1
    db.append("s", Event("E"))
    assert sum(1 for _ in events) == 2 * PAGE_SIZE


# -- by id -------------------------------------------------------------------------------------


def test_get_event_finds_an_event_by_id(journal: tlo_embed.Database) -> None:
    """get_event returns the event with that id, given as UUID or string."""
    wanted = list(journal.read_all())[3]
    assert journal.get_event(wanted.id) == wanted
    assert journal.get_event(str(wanted.id)) == wanted


def test_get_event_of_an_unknown_id_raises_not_found(journal: tlo_embed.Database) -> None:
    """An id that was never recorded raises NotFoundError (a LookupError)."""
    with pytest.raises(tlo_embed.NotFoundError) as info:
        journal.get_event(uuid.uuid4())
    assert isinstance(info.value, LookupError)


def test_get_event_of_a_malformed_id_is_invalid(journal: tlo_embed.Database) -> None:
    """A string that is not a UUID raises InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        journal.get_event("nope")


# -- damaged files -----------------------------------------------------------------------------


def test_reading_a_damaged_file_raises_damaged_file_error(db_path: Path) -> None:
    """Reading pages overwritten with garbage raises DamagedFileError, not an apsw error."""
    with tlo_embed.open(db_path) as db:
        for i in range(50):
            db.append("s", Event("E", {"i": i, "pad": "x" * 500}))
    data = bytearray(db_path.read_bytes())
    page = 4096
    data[3 * page: 12 * page] = b"\x5a" * (9 * page)
    db_path.write_bytes(bytes(data))
    # Refusing the file at open would be as good as refusing the read.
    with pytest.raises(tlo_embed.DamagedFileError):
        with tlo_embed.open(db_path) as db:
            list(db.read("s"))
    with pytest.raises(tlo_embed.DamagedFileError):
        with tlo_embed.open(db_path) as db:
            list(db.read_all())
