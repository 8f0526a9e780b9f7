"""tlo_embed/tasks/retry.py: exponential backoff with a jitter fixed by (job id, attempt)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tlo_embed.tasks.retry import backoff_us, jitter_fraction

US = 1_000_000
job_ids = st.text(min_size=1, max_size=40)
attempts = st.integers(min_value=1, max_value=40)
bases = st.floats(min_value=0.001, max_value=100.0)
caps = st.floats(min_value=0.0, max_value=10_000.0)


@given(job_ids, attempts)
@settings(max_examples=50, deadline=None)
def test_jitter_is_a_fraction_fixed_by_job_and_attempt(job_id: str, attempt: int) -> None:
    """jitter_fraction is in [0, 1) and the same for the same (job id, attempt)."""
    value = jitter_fraction(job_id, attempt)
    assert 0.0 <= value < 1.0
    assert jitter_fraction(job_id, attempt) == value


def test_jitter_differs_between_jobs_and_attempts() -> None:
    """Jobs that failed together do not all get the same jitter."""
    values = {jitter_fraction(f"job-{i}", 1) for i in range(50)}
    values |= {jitter_fraction("job-0", a) for a in range(1, 50)}
    assert len(values) > 90


@given(job_ids, attempts, bases, caps)
@settings(max_examples=50, deadline=None)
def test_backoff_is_deterministic(job_id: str, attempt: int, base: float, cap: float) -> None:
    """The same job id and attempt give the same delay (replay reproduces retry times)."""
    assert backoff_us(job_id, attempt, base, cap) == backoff_us(job_id, attempt, base, cap)


@given(job_ids, attempts, bases, caps)
@settings(max_examples=50, deadline=None)
def test_backoff_is_exponential_plus_at_most_a_quarter(
    job_id: str, attempt: int, base: float, cap: float
) -> None:
    """delay = min(cap, base * 2**(attempt-1)) plus a jitter of at most 25%."""
    nominal = min(cap, base * 2.0 ** (attempt - 1)) * US
    delay = backoff_us(job_id, attempt, base, cap)
    assert int(nominal) - 1 <= delay <= nominal * 1.25 + 1


@given(job_ids, bases, caps)
@settings(max_examples=50, deadline=None)
def test_backoff_grows_until_the_cap_and_stays_under_it(
    job_id: str, base: float, cap: float
) -> None:
    """Uncapped delays strictly grow with the attempt; capped ones stay in [cap, 1.25 cap]."""
    delays = [backoff_us(job_id, a, base, cap) for a in range(1, 30)]
    for attempt, (before, after) in enumerate(itertools.pairwise(delays), start=1):
        if base * 2.0 ** attempt <= cap:  # the later attempt is not capped yet
            assert after > before or before == after == 0
        else:
            assert int(cap * US) - 1 <= after <= cap * US * 1.25 + 1
    assert max(delays) <= cap * US * 1.25 + 1


def test_backoff_examples() -> None:
    """A 2 s base waits 2-2.5 s, then 4-5 s, then 8-10 s; a zero base retries at once."""
    bounds = [(2, 2.5), (4, 5), (8, 10)]
    for attempt, (low, high) in enumerate(bounds, start=1):
        assert low * US <= backoff_us("job", attempt, 2.0, 3600.0) <= high * US
    assert backoff_us("job", 5, 0.0, 3600.0) == 0
    assert backoff_us("job", 50, 1.0, 60.0) <= 75 * US


def test_attempt_zero_waits_like_the_first() -> None:
    """An attempt number below 1 is treated as the first attempt (no shorter wait)."""
    nominal = 3 * US
    assert nominal <= backoff_us("job", 0, 3.0, 100.0) <= nominal * 1.25
