"""Opening apsw connections to a .tlo file: header inspection and per-connection settings.

Each setting is one small function so it can be read, tested and changed alone (the shape of
apsw's own `bestpractice` module). Settings are applied before any table is touched.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Final

import apsw

from tlo_embed.errors import (
    DamagedFileError,
    NotATloFileError,
    ReadOnlyError,
    StoreError,
    caused_by,
)

#: `PRAGMA application_id` of every .tlo file: the bytes "TLOE".
APPLICATION_ID: Final = 0x544C4F45

SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_HEADER_SIZE: Final = 100

#: Accepted values of `durability`, mapped to `PRAGMA synchronous` in WAL mode.
DURABILITY_LEVELS: Final[dict[str, str]] = {"normal": "NORMAL", "full": "FULL"}


class HeaderInFlux(Exception):  # noqa: N818 - internal signal, never reaches a caller
    """The header looks wrong in a way a concurrent creator of the file could explain.

    `Store` retries until its busy timeout, then raises `error`.
    """

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


class FileHeader:
    """The facts tlo_embed reads from a database file's 100-byte header without opening it."""

    def __init__(self, *, page_size: int, page_count: int, application_id: int,
                 user_version: int, file_size: int) -> None:
        self.page_size = page_size
        self.page_count = page_count
        self.application_id = application_id
        self.user_version = user_version
        self.file_size = file_size


def read_header(path: str) -> FileHeader | None:
    """Read and sanity-check the header of an existing database file.

    Returns:
        The header, or None when the file does not exist or is empty (a new file).

    Raises:
        NotATloFileError: the file is not a SQLite database.
        DamagedFileError: the header is cut short or the file is shorter than its header says.
        ReadOnlyError: the file cannot be read.
    """
    try:
        with open(path, "rb") as f:  # noqa: PTH123 - plain open keeps this mypyc-friendly
            head = f.read(_HEADER_SIZE)
            file_size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return None
    except PermissionError as e:
        msg = f"cannot read {path}: permission denied"
        raise caused_by(ReadOnlyError(msg, path=path), e)
    except IsADirectoryError as e:
        msg = f"{path} is a directory, not a .tlo file"
        raise caused_by(NotATloFileError(msg, path=path), e)
    if not head:
        return None
    if head.count(0) == len(head):
        # Zeros where the header goes: another process may be creating this file right now
        # (SQLite sizes a file before it writes page 1). The caller retries before it
        # concludes that this is not a database.
        msg = f"{path} is not a SQLite database (its header is all zero bytes)"
        raise HeaderInFlux(NotATloFileError(msg, path=path))
    if not head.startswith(SQLITE_MAGIC[: len(head)]) or (
        len(head) >= len(SQLITE_MAGIC) and not head.startswith(SQLITE_MAGIC)
    ):
        msg = f"{path} is not a SQLite database, so it cannot be a .tlo file"
        raise NotATloFileError(msg, path=path)
    if len(head) < _HEADER_SIZE:
        msg = f"{path} is damaged: its header is cut short ({len(head)} of 100 bytes)"
        raise HeaderInFlux(DamagedFileError(msg, path=path))
    page_size = int.from_bytes(head[16:18], "big")
    if page_size == 1:
        page_size = 65536
    page_count = int.from_bytes(head[28:32], "big")
    header = FileHeader(
        page_size=page_size,
        page_count=page_count,
        application_id=int.from_bytes(head[68:72], "big"),
        user_version=int.from_bytes(head[60:64], "big"),
        file_size=file_size,
    )
    # The in-header page count is valid when the change counters agree (SQLite 3.7.0+); a
    # file shorter than that many pages has lost data at its end.
    counters_agree = head[24:28] == head[92:96]
    if counters_agree and page_size > 0 and file_size < page_count * page_size:
        msg = (
            f"{path} is damaged: it is {file_size} bytes but its header says "
            f"{page_count} pages of {page_size} bytes; restore it from a copy"
        )
        raise DamagedFileError(msg, path=path)
    return header


def connect(path: str, *, create: bool, readonly: bool = False) -> apsw.Connection:
    """Open an apsw connection to `path` (no settings applied yet).

    Raises:
        ReadOnlyError: the file or its directory cannot be opened for writing.
        StoreError: any other failure to open, with SQLite's reason.
    """
    if readonly:
        flags = apsw.SQLITE_OPEN_READONLY
    else:
        flags = apsw.SQLITE_OPEN_READWRITE
        if create:
            flags |= apsw.SQLITE_OPEN_CREATE
    flags |= apsw.SQLITE_OPEN_NOMUTEX | apsw.SQLITE_OPEN_EXRESCODE
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        msg = f"cannot open {path}: the directory {directory} does not exist"
        raise StoreError(msg, path=path)
    target = path
    if readonly and not os.access(directory, os.W_OK) and not os.path.exists(path + "-shm"):
        # Read-only media: SQLite cannot create the WAL index (-shm) a WAL-mode reader
        # needs. With no -wal file there is nothing beyond the main file to read, and
        # nobody can be writing here, so the file may be opened as immutable.
        if os.path.exists(path + "-wal"):
            msg = (
                f"cannot read {path}: it has a write-ahead log but its directory is read-only, "
                "so SQLite cannot open the log's index; copy the file and its -wal elsewhere"
            )
            raise ReadOnlyError(msg, path=path)
        target = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?immutable=1"
        flags |= apsw.SQLITE_OPEN_URI
    try:
        return apsw.Connection(target, flags=flags)
    except apsw.CantOpenError as e:
        if not os.access(directory, os.W_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)
        ):
            msg = f"cannot open {path} for writing: the file or its directory is read-only"
            raise caused_by(ReadOnlyError(msg, path=path), e)
        msg = f"cannot open {path}: {e}"
        raise caused_by(StoreError(msg, path=path), e)


# -- per-connection settings, applied in this order by `configure` -----------------------------


def set_busy_timeout(conn: apsw.Connection, timeout_ms: int) -> None:
    """Wait up to `timeout_ms` for another connection's lock (https://sqlite.org/c3ref/busy_timeout.html)."""
    conn.set_busy_timeout(timeout_ms)


def set_wal(conn: apsw.Connection) -> None:
    """Use write-ahead logging: readers never block the writer (https://sqlite.org/wal.html).

    The mode is persistent in the file; setting it again is a no-op.
    """
    conn.execute("PRAGMA journal_mode = WAL").fetchall()


def set_synchronous(conn: apsw.Connection, durability: str) -> None:
    """Map `durability` to `PRAGMA synchronous` (https://sqlite.org/pragma.html#pragma_synchronous)."""
    conn.execute(f"PRAGMA synchronous = {DURABILITY_LEVELS[durability]}")


def set_no_double_quoted_strings(conn: apsw.Connection) -> None:
    """Reject "double quoted" string literals, which SQLite otherwise guesses at."""
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)


def set_foreign_keys(conn: apsw.Connection) -> None:
    """Enforce REFERENCES clauses (off by default in SQLite)."""
    conn.execute("PRAGMA foreign_keys = ON")


def set_caches(conn: apsw.Connection) -> None:
    """A larger page cache and memory-mapped reads: cheap for an embedded engine's one file."""
    conn.execute("PRAGMA cache_size = -16384")  # KiB: 16 MiB per connection
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA mmap_size = 268435456")


def configure(conn: apsw.Connection, *, durability: str, busy_timeout_ms: int) -> None:
    """Apply every per-connection setting except WAL (which `Store` sets once, after checks)."""
    set_busy_timeout(conn, busy_timeout_ms)
    set_no_double_quoted_strings(conn)
    set_synchronous(conn, durability)
    set_foreign_keys(conn)
    set_caches(conn)


def describe_open_error(path: str, exc: apsw.Error) -> StoreError:
    """Turn an apsw error raised while opening or inspecting a file into a typed StoreError."""
    if isinstance(exc, apsw.NotADBError):
        return NotATloFileError(f"{path} is not a SQLite database, so it cannot be a .tlo file",
                                path=path)
    if isinstance(exc, apsw.CorruptError):
        return DamagedFileError(f"{path} is damaged ({exc}); restore it from a copy", path=path)
    if isinstance(exc, (apsw.ReadOnlyError, apsw.CantOpenError, apsw.PermissionsError)):
        return ReadOnlyError(f"cannot write {path}: {exc}", path=path)
    return StoreError(f"cannot open {path}: {exc}", path=path)
