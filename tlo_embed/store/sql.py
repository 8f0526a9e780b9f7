"""Typed helpers for reading rows: SQLite values come back as `Any`, checked where used.

apsw types every value as int | float | str | bytes | None; the schema (STRICT tables)
already guarantees each column's type, so readers take rows as `Any` instead of re-checking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw


def rows(conn: apsw.Connection, sql: str, bindings: Sequence[Any] = ()) -> list[Any]:
    """All rows of a query."""
    result: list[Any] = conn.execute(sql, tuple(bindings)).fetchall()
    return result


def value(conn: apsw.Connection, sql: str, bindings: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None when there is no row."""
    found: list[Any] = conn.execute(sql, tuple(bindings)).fetchall()
    return found[0][0] if found else None
