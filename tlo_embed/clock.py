"""Injected time and identifiers: the engine never reads the wall clock or randomness directly.

`Clock` supplies the turn's recorded time; `new_event_id` makes time-ordered UUIDs (version 7,
RFC 9562), which keep the event-id index append-mostly. Tests pass a `FixedClock` instead of
patching anything.
"""

from __future__ import annotations

import os
import time
from typing import Protocol, final


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


def new_event_id(now_us: int) -> bytes:
    """A 16-byte UUIDv7: 48-bit millisecond timestamp, version and variant bits, 74 random bits."""
    rand = os.urandom(10)
    head = ((now_us // 1000) & 0xFFFF_FFFF_FFFF).to_bytes(6, "big")
    return head + bytes((0x70 | (rand[0] & 0x0F), rand[1], 0x80 | (rand[2] & 0x3F))) + rand[3:]
