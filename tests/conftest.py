"""Shared fixtures: real .tlo files in a temporary directory, an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tlo_embed


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a new .tlo file (not created yet)."""
    return tmp_path / "app.tlo"


@pytest.fixture
def clock() -> tlo_embed.FixedClock:
    """A clock that starts at a fixed instant and advances 1 ms per reading."""
    return tlo_embed.FixedClock(now_us=1_700_000_000_000_000, step_us=1000)


@pytest.fixture
def db(db_path: Path, clock: tlo_embed.FixedClock) -> Iterator[tlo_embed.Database]:
    """An open Database on a fresh file, closed after the test."""
    database = tlo_embed.open(db_path, clock=clock)
    try:
        yield database
    finally:
        database.close()
