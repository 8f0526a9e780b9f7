"""Fixtures for journal tests: a raw apsw connection to look at (or tamper with) the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

import tlo_embed


class Raw:
    """A second apsw connection to the test's file, as another tool would open it."""

    def __init__(self, path: Path) -> None:
        self.conn = apsw.Connection(str(path))

    def rows(self, sql: str, bindings: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """All rows of a query (committed data only)."""
        return [tuple(r) for r in self.conn.execute(sql, bindings)]

    def value(self, sql: str, bindings: tuple[object, ...] = ()) -> object:
        """The first column of the first row."""
        return self.rows(sql, bindings)[0][0]

    def execute(self, sql: str, bindings: tuple[object, ...] = ()) -> None:
        """Run a statement in its own transaction (for tampering)."""
        self.conn.execute(sql, bindings)

    def count(self, table: str) -> int:
        """Rows in `table`."""
        return int(str(self.value(f"SELECT count(*) FROM {table}")))


@pytest.fixture
def raw(db: tlo_embed.Database, db_path: Path) -> Iterator[Raw]:
    """A raw connection to the `db` fixture's file."""
    r = Raw(db_path)
    yield r
    r.conn.close()
