"""Retry backoff: exponential, with a jitter derived from the job id and attempt.

The jitter spreads retries of jobs that failed together, yet is a pure function of
(job id, attempt), so replaying the journal or re-running a turn gives the same times.
"""

from __future__ import annotations

import hashlib
from typing import Final

_JITTER: Final = 0.25
_US: Final = 1_000_000


def jitter_fraction(job_id: str, attempt: int) -> float:
    """A number in [0, 1) fixed by (job id, attempt)."""
    digest = hashlib.sha256(f"{job_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / float(1 << 64)


def backoff_us(job_id: str, attempt: int, base: float, cap: float) -> int:
    """Microseconds to wait after failed attempt `attempt` (1, 2, ...).

    `base * 2 ** (attempt - 1)`, at most `cap`, then up to 25% more by the jitter.
    """
    delay = min(cap, base * (2.0 ** max(0, attempt - 1)))
    return int(delay * (1.0 + _JITTER * jitter_fraction(job_id, attempt)) * _US)
