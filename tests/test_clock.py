"""tlo_embed/clock.py: injected clocks and UUIDv7 event ids."""

from __future__ import annotations

import uuid
from pathlib import Path

import tlo_embed
from tlo_embed.clock import new_event_id


def test_fixed_clock_returns_now_then_advances_by_step() -> None:
    """FixedClock returns its time and advances by step_us after each reading."""
    clock = tlo_embed.FixedClock(now_us=1_000, step_us=10)
    assert [clock.now_us() for _ in range(3)] == [1_000, 1_010, 1_020]
    still = tlo_embed.FixedClock(now_us=5)
    assert [still.now_us(), still.now_us()] == [5, 5]


def test_system_clock_reads_microseconds_since_the_epoch() -> None:
    """SystemClock gives a present time in microseconds (after 2020) that does not go back."""
    clock = tlo_embed.SystemClock()
    first = clock.now_us()
    assert first > 1_577_836_800_000_000
    assert clock.now_us() >= first


def test_new_event_id_is_a_uuid7_carrying_the_millisecond() -> None:
    """new_event_id gives 16 bytes: version 7, RFC 9562 variant, 48-bit millisecond timestamp."""
    now_us = 1_700_000_123_456_789
    value = uuid.UUID(bytes=new_event_id(now_us))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == now_us // 1000


def test_new_event_ids_are_unique_and_ordered_by_time() -> None:
    """Ids from one millisecond differ; an id from a later millisecond sorts after them."""
    same = {new_event_id(1_000_000) for _ in range(1000)}
    assert len(same) == 1000
    later = new_event_id(1_001_000)
    assert all(later > earlier for earlier in same)


def test_the_database_uses_the_injected_clock(db_path: Path) -> None:
    """Turn times come from the clock passed to open()."""
    clock = tlo_embed.FixedClock(now_us=1_234_000_000, step_us=0)
    with tlo_embed.open(db_path, clock=clock) as db:
        db.append("s", tlo_embed.Event("E"))
        assert next(db.read("s")).recorded_at_us == 1_234_000_000
