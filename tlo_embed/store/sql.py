"""The read boundary: typed row helpers, and the one translation of apsw errors.

apsw types every value as int | float | str | bytes | None; the schema (STRICT tables)
already guarantees each column's type, so readers take rows as `Any` instead of re-checking.
Every apsw error raised by a query here becomes the `TloError` a caller can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import apsw

from tlo_embed.errors import (
    BusyError,
    DamagedFileError,
    ReadOnlyError,
    StoreError,
    TloError,
    caused_by,
)

#: Bind through these where a query's plan could depend on the value. SQLite 3.54 (as built
#: into apsw here) re-prepares a statement on every execution when a bare `?` is compared for
#: equality with a column in a query with ORDER BY/min() (or is its LIMIT/OFFSET, or a GLOB
#: pattern), because its planner looks at those values; a CAST hides the value from the
#: planner, so the prepared statement is reused. Same values, same plan, same rows.
TEXT_PARAM: Final = "CAST(? AS TEXT)"
INT_PARAM: Final = "CAST(? AS INTEGER)"


def rows(conn: apsw.Connection, sql: str, bindings: Sequence[Any] = ()) -> list[Any]:
    """All rows of a query."""
    try:
        result: list[Any] = conn.execute(sql, tuple(bindings)).fetchall()
    except apsw.Error as e:
        raise caused_by(translate(e, conn.filename), e)
    return result


def value(conn: apsw.Connection, sql: str, bindings: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None when there is no row."""
    try:
        found: list[Any] = conn.execute(sql, tuple(bindings)).fetchall()
    except apsw.Error as e:
        raise caused_by(translate(e, conn.filename), e)
    return found[0][0] if found else None


def translate(exc: BaseException, path: str, waited: float = 0.0) -> BaseException:
    """Map an apsw exception to the TloError a caller can act on (others pass through)."""
    if isinstance(exc, TloError) or not isinstance(exc, apsw.Error):
        return exc
    if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
        msg = (
            f"{path} is locked by another writer; gave up after {waited:.1f}s "
            "(raise busy_timeout, or find the process holding a long write)"
        )
        return BusyError(msg, path=path, waited=waited)
    if isinstance(exc, (apsw.CorruptError, apsw.NotADBError)):
        return DamagedFileError(f"{path} is damaged ({exc}); restore it from a copy", path=path)
    if isinstance(exc, (apsw.ReadOnlyError, apsw.PermissionsError, apsw.CantOpenError)):
        return ReadOnlyError(f"cannot write {path}: {exc}", path=path)
    if isinstance(exc, apsw.FullError):
        return StoreError(f"cannot write {path}: the disk is full", path=path)
    if isinstance(exc, apsw.IOError):
        return StoreError(f"I/O error on {path}: {exc}", path=path)
    return exc

