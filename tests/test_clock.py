"""tlo_embed/clock.py: injected clocks and UUIDv7 event ids."""

from __future__ import annotations

import os
import sys
import threading
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


def tail(event_id: bytes) -> bytes:
    """The 10 bytes after an id's timestamp (version, variant and the 74 random bits)."""
    return event_id[6:]


def test_new_event_ids_keep_the_version_variant_and_timestamp_fields() -> None:
    """Every id, across several refills of the random buffer, has version 7, the RFC 9562
    variant, and the 48-bit millisecond timestamp (wrapped like the original layout)."""
    times = [0, 999, 1_000, 1_700_000_123_456_789, (2**48 - 1) * 1000, 2**48 * 1000 + 5_000]
    for now_us in times:
        for _ in range(1000):
            value = uuid.UUID(bytes=new_event_id(now_us))
            assert value.version == 7
            assert value.variant == uuid.RFC_4122
            assert value.int >> 80 == (now_us // 1000) & (2**48 - 1)


def test_new_event_ids_have_74_random_bits() -> None:
    """Each of the 74 bits outside the timestamp, version and variant takes both values over a
    few thousand ids (so none is fixed by a wrong mask), and the fixed bits never change."""
    ones = 0
    zeros = 0
    for _ in range(3000):
        bits = int.from_bytes(tail(new_event_id(1_000_000)), "big")
        ones |= bits
        zeros |= ~bits & (2**80 - 1)
    random_bits = 0x0FFF_3FFF_FFFF_FFFF_FFFF
    assert ones == random_bits | 0x7000_8000_0000_0000_0000
    assert zeros == random_bits | 0x8000_4000_0000_0000_0000
    assert random_bits.bit_count() == 74


def test_new_event_ids_are_unique_across_threads() -> None:
    """4 threads taking 25,000 ids each from the shared buffer, in the same millisecond,
    never get the same random bytes. Threads switch as often as the interpreter allows; even
    so, on CPython 3.11 with the GIL this did not catch the take's lock being removed (the race
    window holds no switch point), so it guards against gross breakage, not that lock."""
    start = threading.Barrier(4)
    results: list[list[bytes]] = [[] for _ in range(4)]

    def work(out: list[bytes]) -> None:
        start.wait()
        out.extend(new_event_id(1_000_000) for _ in range(25_000))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    every = [event_id for out in results for event_id in out]
    assert len(every) == 100_000
    assert len(set(every)) == 100_000


def _ids_in_child(count: int) -> tuple[int, int]:
    """Fork; the child writes `count` ids to a pipe and exits. Returns (pid, read end)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            os.close(read)
            with os.fdopen(write, "wb") as pipe:
                pipe.write(b"".join(new_event_id(1_000_000) for _ in range(count)))
        finally:
            os._exit(0)
    os.close(write)
    return pid, read


def test_forked_children_never_reuse_the_parents_random_bytes() -> None:
    """After a fork, with the parent's buffer holding unused bytes, the parent and two forked
    children each make ids in the same millisecond and no two of them are equal."""
    from tlo_embed import clock

    clock._TAILS.forget()
    new_event_id(1_000_000)  # the parent's buffer now holds hundreds of unused tails
    assert len(clock._TAILS.buffer) - clock._TAILS.offset >= 200
    count = 100
    forks = [_ids_in_child(count), _ids_in_child(count)]
    parent = [new_event_id(1_000_000) for _ in range(count)]
    children: list[list[bytes]] = []
    for pid, fd in forks:
        with os.fdopen(fd, "rb") as pipe:
            data = pipe.read()
        assert os.waitpid(pid, 0)[1] == 0
        children.append([data[i : i + 16] for i in range(0, len(data), 16)])
    assert [len(ids) for ids in children] == [count, count]
    every = parent + children[0] + children[1]
    assert len(set(every)) == 3 * count
