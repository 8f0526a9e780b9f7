"""tlo_embed/journal/append.py: optimistic concurrency, idempotency, validation, payload storage."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

import tlo_embed
from tlo_embed import ANY, NO_STREAM, STREAM_EXISTS, Event

from .conftest import Raw


def _state(raw: Raw) -> tuple[int, int, int]:
    """(turns, events, streams) rows: a fingerprint of everything an append writes."""
    return raw.count("turns"), raw.count("events"), raw.count("streams")


# -- expected_version --------------------------------------------------------------------------


def test_expected_version_must_match_exactly(db: tlo_embed.Database) -> None:
    """An int expected_version succeeds only when it equals the stream's version."""
    assert db.append("s", Event("E"), expected_version=0).version == 1
    assert db.append("s", Event("E"), expected_version=1).version == 2
    with pytest.raises(tlo_embed.ConcurrencyError):
        db.append("s", Event("E"), expected_version=1)
    with pytest.raises(tlo_embed.ConcurrencyError):
        db.append("s", Event("E"), expected_version=3)
    assert db.stream_version("s") == 2


def test_no_stream_requires_a_new_stream(db: tlo_embed.Database) -> None:
    """NO_STREAM (0) succeeds on a new stream and fails once it exists."""
    assert NO_STREAM == 0
    db.append("s", Event("E"), expected_version=NO_STREAM)
    with pytest.raises(tlo_embed.ConcurrencyError) as info:
        db.append("s", Event("E"), expected_version=NO_STREAM)
    assert (info.value.expected, info.value.actual) == (NO_STREAM, 1)


def test_stream_exists_requires_an_existing_stream(db: tlo_embed.Database) -> None:
    """STREAM_EXISTS fails on a new stream and succeeds at any version of an existing one."""
    with pytest.raises(tlo_embed.ConcurrencyError) as info:
        db.append("s", Event("E"), expected_version=STREAM_EXISTS)
    assert (info.value.expected, info.value.actual) == (STREAM_EXISTS, 0)
    db.append("s", Event("E"))
    db.append("s", Event("E"), expected_version=STREAM_EXISTS)
    db.append("s", Event("E"), expected_version=STREAM_EXISTS)
    assert db.stream_version("s") == 3


def test_any_appends_whatever_the_version(db: tlo_embed.Database) -> None:
    """ANY (the default) never conflicts."""
    assert ANY == -1
    for expected in (1, 2, 3):
        assert db.append("s", Event("E"), expected_version=ANY).version == expected
    assert db.append("s", Event("E")).version == 4


def test_concurrency_error_carries_stream_expected_and_actual(db: tlo_embed.Database) -> None:
    """ConcurrencyError names the stream, the expectation and the actual version."""
    db.append("order-1", [Event("E"), Event("E")])
    with pytest.raises(tlo_embed.ConcurrencyError) as info:
        db.append("order-1", Event("E"), expected_version=5)
    error = info.value
    assert (error.stream, error.expected, error.actual) == ("order-1", 5, 2)
    assert isinstance(error, tlo_embed.TloError)
    assert "order-1" in str(error) and "version 2" in str(error) and "version 5" in str(error)


def test_a_failed_expectation_writes_nothing(db: tlo_embed.Database, raw: Raw) -> None:
    """A ConcurrencyError leaves no turn, event or stream change behind."""
    db.append("s", Event("E"))
    before = _state(raw)
    with pytest.raises(tlo_embed.ConcurrencyError):
        db.append("s", [Event("E"), Event("E")], expected_version=0)
    assert _state(raw) == before
    assert db.last_seq == 1


@pytest.mark.parametrize("expected", [-3, -100])
def test_an_expected_version_below_stream_exists_is_invalid(
    db: tlo_embed.Database, raw: Raw, expected: int
) -> None:
    """A negative expected_version other than ANY/STREAM_EXISTS raises InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError, match="expected_version"):
        db.append("s", Event("E"), expected_version=expected)
    assert _state(raw) == (0, 0, 0)


# -- batches -----------------------------------------------------------------------------------


def test_a_batch_is_one_turn_with_consecutive_versions_and_indexes(db: tlo_embed.Database) -> None:
    """All events of one append share one seq, with versions v+1.. and idx 0.. in order."""
    db.append("s", Event("First"))
    result = db.append("s", [Event("A", 1), Event("B", 2), Event("C", 3)])
    assert (result.seq, result.version, result.stream, result.count) == (2, 4, "s", 3)
    assert result.duplicate is False
    events = list(db.read("s", from_version=2))
    assert [e.seq for e in events] == [2, 2, 2]
    assert [e.version for e in events] == [2, 3, 4]
    assert [e.index for e in events] == [0, 1, 2]
    assert [(e.type, e.data) for e in events] == [("A", 1), ("B", 2), ("C", 3)]


def test_a_single_event_may_be_passed_without_a_list(db: tlo_embed.Database) -> None:
    """append accepts one Event as well as a sequence of them."""
    assert db.append("s", Event("E")).count == 1
    assert db.append("s", (Event("E"), Event("E"))).count == 2


def test_each_append_is_the_next_seq(db: tlo_embed.Database) -> None:
    """Seqs are allocated 1, 2, 3, ... across streams."""
    seqs = [db.append(f"s-{i % 3}", Event("E")).seq for i in range(6)]
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert db.last_seq == 6


# -- idempotency -------------------------------------------------------------------------------


def test_repeating_an_idempotency_key_returns_the_original_and_writes_nothing(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """A repeated idempotency key returns duplicate=True with the original seq and version."""
    first = db.append("s", [Event("A"), Event("B")], idempotency_key="k1")
    db.append("other", Event("X"))
    before = _state(raw)
    again = db.append("s", [Event("A"), Event("B")], idempotency_key="k1")
    assert again.duplicate is True
    assert (again.seq, again.version, again.stream, again.count) == (first.seq, 2, "s", 2)
    assert _state(raw) == before


def test_a_repeated_key_wins_over_a_stale_expected_version(db: tlo_embed.Database) -> None:
    """A retry with its key and its original expected_version is a duplicate, not a conflict."""
    db.append("s", Event("A"), expected_version=0, idempotency_key="k")
    db.append("s", Event("B"))
    again = db.append("s", Event("A"), expected_version=0, idempotency_key="k")
    assert again.duplicate and again.version == 1


def test_reusing_a_key_for_another_stream_is_a_conflict(db: tlo_embed.Database, raw: Raw) -> None:
    """A key used for stream a, then given for stream b, raises IdempotencyConflictError."""
    first = db.append("a", Event("E"), idempotency_key="k1")
    before = _state(raw)
    with pytest.raises(tlo_embed.IdempotencyConflictError) as info:
        db.append("b", Event("E"), idempotency_key="k1")
    assert info.value.seq == first.seq
    assert "k1" in info.value.key
    assert isinstance(info.value, ValueError)
    assert _state(raw) == before


def test_reusing_a_key_for_different_events_is_a_conflict(db: tlo_embed.Database, raw: Raw) -> None:
    """A key reused on the same stream for different events raises IdempotencyConflictError."""
    db.append("s", Event("Deposited", {"amount": 10}), idempotency_key="k1")
    before = _state(raw)
    with pytest.raises(tlo_embed.IdempotencyConflictError):
        db.append("s", Event("Withdrawn", {"amount": 99}), idempotency_key="k1")
    assert _state(raw) == before


def test_repeated_event_ids_are_a_duplicate(db: tlo_embed.Database, raw: Raw) -> None:
    """An append whose explicit event ids were all recorded by one earlier append is a duplicate."""
    ids = [uuid.uuid4(), uuid.uuid4()]
    first = db.append("s", [Event("A", id=ids[0]), Event("B", id=ids[1])])
    before = _state(raw)
    again = db.append("s", [Event("A", id=ids[0]), Event("B", id=ids[1])])
    assert again.duplicate
    assert (again.seq, again.version, again.count) == (first.seq, first.version, 2)
    assert _state(raw) == before


def test_partially_repeated_event_ids_are_a_conflict(db: tlo_embed.Database, raw: Raw) -> None:
    """An append mixing a recorded event id with new events raises IdempotencyConflictError."""
    known = uuid.uuid4()
    first = db.append("s", Event("A", id=known))
    before = _state(raw)
    with pytest.raises(tlo_embed.IdempotencyConflictError) as info:
        db.append("s", [Event("A", id=known), Event("B", id=uuid.uuid4())])
    assert info.value.seq == first.seq
    assert info.value.key == str(known)
    with pytest.raises(tlo_embed.IdempotencyConflictError):
        db.append("s", [Event("A", id=known), Event("B")])
    assert _state(raw) == before


def test_a_recorded_event_id_on_another_stream_is_a_conflict(db: tlo_embed.Database) -> None:
    """Re-using an event id for a different stream raises IdempotencyConflictError."""
    known = uuid.uuid4()
    db.append("a", Event("A", id=known))
    with pytest.raises(tlo_embed.IdempotencyConflictError):
        db.append("b", Event("A", id=known))
    assert db.stream_version("b") == 0


def test_an_event_id_given_twice_in_one_batch_is_refused(db: tlo_embed.Database, raw: Raw) -> None:
    """Two events with the same explicit id in one append are refused; nothing is written."""
    same = uuid.uuid4()
    with pytest.raises((tlo_embed.InvalidArgumentError, tlo_embed.IdempotencyConflictError)):
        db.append("s", [Event("A", id=same), Event("B", id=same)])
    assert _state(raw) == (0, 0, 0)


@pytest.mark.parametrize(
    "given",
    [
        lambda u: u,
        lambda u: str(u),
        lambda u: str(u).upper(),
        lambda u: "{" + str(u) + "}",
    ],
    ids=["uuid", "str", "upper", "braces"],
)
def test_event_ids_may_be_given_as_uuid_or_string(db: tlo_embed.Database, given: Any) -> None:
    """An explicit id given as a UUID or a UUID string is stored as that UUID."""
    wanted = uuid.uuid4()
    db.append("s", Event("E", id=given(wanted)))
    [event] = list(db.read("s"))
    assert event.id == wanted
    assert db.get_event(wanted).version == 1


def test_an_invalid_event_id_is_refused(db: tlo_embed.Database, raw: Raw) -> None:
    """An id that is not a UUID raises InvalidArgumentError and writes nothing."""
    with pytest.raises(tlo_embed.InvalidArgumentError, match="not a UUID"):
        db.append("s", [Event("A"), Event("B", id="not-a-uuid")])
    assert _state(raw) == (0, 0, 0)


def test_generated_event_ids_are_uuid7_with_the_turn_time(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """Generated ids are distinct UUIDv7 (RFC 9562 variant) stamped with the turn's millisecond."""
    db.append("s", [Event("E") for _ in range(20)])
    events = list(db.read("s"))
    recorded_at = int(str(raw.value("SELECT recorded_at FROM turns")))
    assert len({e.id for e in events}) == 20
    for event in events:
        assert event.id.version == 7
        assert event.id.variant == uuid.RFC_4122
        assert event.id.int >> 80 == recorded_at // 1000


# -- validation and atomicity ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "events"),
    [
        ("s", []),
        ("", [Event("E")]),
        ("s", [Event("E"), "not an event"]),
        ("s", [Event("E"), {"type": "E"}]),
        ("s", {"type": "E"}),
        ("s", "E"),
        ("s", [Event("")]),
    ],
    ids=["empty-batch", "empty-stream", "str-item", "dict-item", "dict", "str", "empty-type"],
)
def test_invalid_appends_are_refused_and_write_nothing(
    db: tlo_embed.Database, raw: Raw, stream: str, events: Any
) -> None:
    """Empty batches/stream names/types and non-Event items raise InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.append(stream, events)
    assert _state(raw) == (0, 0, 0)


def test_a_bad_payload_in_the_middle_of_a_batch_writes_nothing(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """An unencodable payload in event 2 of 3 raises CodecError; no partial turn is left."""
    db.append("s", Event("E"))
    before = _state(raw)
    with pytest.raises(tlo_embed.CodecError, match="event 1"):
        db.append("s", [Event("A", 1), Event("B", object()), Event("C", 3)])
    assert _state(raw) == before
    assert db.stream_version("s") == 1
    assert db.last_seq == 1
    assert db.append("s", Event("D")).seq == 2


def test_bad_metadata_writes_nothing(db: tlo_embed.Database, raw: Raw) -> None:
    """Unencodable metadata raises CodecError naming it; nothing is written."""
    with pytest.raises(tlo_embed.CodecError, match="metadata"):
        db.append("s", Event("E", metadata={"who": object()}))
    assert _state(raw) == (0, 0, 0)


# -- what is stored ----------------------------------------------------------------------------


def test_large_payloads_are_compressed_and_read_back_equal(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """A payload over the threshold is stored with enc 1, smaller, and reads back equal."""
    data = {"body": "lorem ipsum " * 2000, "n": list(range(100))}
    small = {"n": 1}
    db.append("s", [Event("Big", data), Event("Small", small)])
    rows = raw.rows("SELECT type, enc, length(data) FROM events ORDER BY idx")
    assert rows[0][0:2] == ("Big", 1) and int(str(rows[0][2])) < 24_000 // 2
    assert rows[1][0:2] == ("Small", 0)
    assert [e.data for e in db.read("s")] == [data, small]


def test_compress_threshold_zero_stores_plain_payloads(db_path: Path, raw: Raw) -> None:
    """open(compress_threshold=0) stores even large payloads uncompressed."""
    with tlo_embed.open(db_path, compress_threshold=0) as db:
        db.append("s", Event("Big", "x" * 10_000))
    assert raw.rows("SELECT enc FROM events") == [(0,)]


def test_metadata_round_trips(db: tlo_embed.Database) -> None:
    """Metadata maps read back equal; events without metadata read back None."""
    meta = {"user": "ada", "ip": "10.0.0.1", "tags": ["a", "b"], "n": 1.5}
    db.append("s", [Event("E", 1, metadata=meta), Event("F", 2)])
    events = list(db.read("s"))
    assert events[0].metadata == meta
    assert events[1].metadata is None


def test_correlation_and_causation_ids_are_stored_on_the_turn(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """correlation_id, causation_id and idempotency_key are recorded on the turn's row."""
    db.append("s", Event("E"), correlation_id="corr-1", causation_id="cause-1",
              idempotency_key="key-1")
    db.append("s", Event("E"))
    assert raw.rows(
        "SELECT seq, correlation_id, causation_id, idempotency_key FROM turns ORDER BY seq"
    ) == [(1, "corr-1", "cause-1", "key-1"), (2, None, None, None)]


def test_a_turn_records_its_branch_parent_and_clock_time(
    db: tlo_embed.Database, raw: Raw, clock: tlo_embed.FixedClock
) -> None:
    """Each turn row holds its branch, the previous head as parent_seq and the clock's time."""
    t1 = clock.now
    db.append("s", Event("E"))
    t2 = clock.now
    db.append("s", Event("E"))
    assert raw.rows("SELECT seq, branch, parent_seq, recorded_at FROM turns ORDER BY seq") == [
        (1, "main", 0, t1), (2, "main", 1, t2),
    ]
    events = list(db.read("s"))
    assert [e.recorded_at_us for e in events] == [t1, t2]
    assert events[0].recorded_at.timestamp() == t1 / 1_000_000
    assert events[0].recorded_at.utcoffset() is not None


def test_the_streams_projection_tracks_version_and_last_seq(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """After appends, the streams table holds each stream's version and last seq."""
    db.append("a", [Event("E"), Event("E")])
    db.append("b", Event("E"))
    db.append("a", Event("E"))
    assert raw.rows("SELECT branch, stream, version, last_seq FROM streams ORDER BY stream") == [
        ("main", "a", 3, 3), ("main", "b", 1, 2),
    ]
    assert db.stream_version("a") == 3
    assert db.stream_version("missing") == 0
