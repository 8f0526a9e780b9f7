"""Injected time and identifiers: the engine never reads the wall clock or randomness directly.

`Clock` supplies the turn's recorded time; `new_event_id` makes time-ordered UUIDs (version 7,
RFC 9562), which keep the event-id index append-mostly. Tests pass a `FixedClock` instead of
patching anything.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Final, Protocol, final


class Clock(Protocol):
    """A source of time for turns."""

    def now_us(self) -> int:
        """Microseconds since the Unix epoch, UTC."""
        ...


@final
class SystemClock:
    """The machine's wall clock."""

    def now_us(self) -> int:
        """Microseconds since the Unix epoch, UTC."""
        return time.time_ns() // 1000


@final
class FixedClock:
    """A clock for tests: returns `now`, advanced by `step` microseconds after each reading."""

    def __init__(self, now_us: int = 1_700_000_000_000_000, step_us: int = 0) -> None:
        self.now = now_us
        self.step = step_us

    def now_us(self) -> int:
        """The fixed time (then advance by `step`)."""
        value = self.now
        self.now = value + self.step
        return value


#: Event ids whose random bytes are fetched from the OS at once: one getrandom call per 409
#: ids instead of one per id (about 0.5 us each).
_IDS_PER_FETCH: Final = 409
#: Bytes 6-15 of a UUIDv7: 4 random bits under the version (7), 8 random bits, the variant
#: (0b10) over 6 random bits, 56 random bits: 74 random bits in all.
_TAIL_BYTES: Final = 10
_POOL_BYTES: Final = _IDS_PER_FETCH * _TAIL_BYTES
_TAIL_KEEP: Final = bytes.fromhex("0fff3fffffffffffffff")
_TAIL_SET: Final = bytes.fromhex("70008000000000000000")
#: The masks for a whole buffer of tails, applied with two big-int operations per fetch.
_POOL_KEEP: Final = int.from_bytes(_TAIL_KEEP * _IDS_PER_FETCH, "big")
_POOL_SET: Final = int.from_bytes(_TAIL_SET * _IDS_PER_FETCH, "big")
_MS_MASK: Final = 0xFFFF_FFFF_FFFF


@final
class _TailPool:
    """UUIDv7 tails (version, variant and 74 bits of `os.urandom`), each handed out once.

    A lock makes each take atomic across threads. A forked child must not hand out tails its
    parent (or a sibling forked from the same parent) also holds, so `forget` runs in every
    child (registered with `os.register_at_fork`) and drops the buffer; it also replaces the
    lock, which another parent thread may have held at the fork and nobody would release.
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.offset = 0
        self.lock = threading.Lock()

    def take(self) -> bytes:
        """The next unused 10-byte tail."""
        lock = self.lock
        lock.acquire()
        try:
            offset = self.offset
            buffer = self.buffer
            if offset >= len(buffer):
                raw = int.from_bytes(os.urandom(_POOL_BYTES), "big")
                buffer = self.buffer = ((raw & _POOL_KEEP) | _POOL_SET).to_bytes(_POOL_BYTES, "big")
                offset = 0
            end = offset + _TAIL_BYTES
            self.offset = end
        finally:
            lock.release()
        return buffer[offset:end]

    def forget(self) -> None:
        """Drop the buffered tails (and the lock): called in a child after fork."""
        self.buffer = b""
        self.offset = 0
        self.lock = threading.Lock()


_TAILS: Final = _TailPool()
# Registered at import on purpose: without it a forked child would reuse its parent's tails.
os.register_at_fork(after_in_child=_TAILS.forget)


def new_event_id(now_us: int) -> bytes:
    """A 16-byte UUIDv7: 48-bit millisecond timestamp, version and variant bits, 74 random bits.

    The random bits come from the OS CSPRNG (`os.urandom`), fetched for many ids at once into
    a per-process buffer; no two calls, threads, or processes forked from this one get the same
    bytes.
    """
    return ((now_us // 1000) & _MS_MASK).to_bytes(6, "big") + _TAILS.take()
