"""tlo_embed/store/connection.py: recognising a file by its header; per-connection settings."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import apsw
import pytest

import tlo_embed
from tlo_embed.store import connection as conn_setup
from tlo_embed.store.migrate import SCHEMA_VERSION

from .conftest import Unprivileged


def _write_events(path: Path, count: int = 50) -> None:
    with tlo_embed.open(path) as db:
        for i in range(count):
            db.append("s", tlo_embed.Event("E", {"i": i, "pad": "x" * 500}))


def _listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def _pragma(conn: apsw.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchall()[0][0]


# -- the header --------------------------------------------------------------------------------


def test_read_header_returns_none_for_a_missing_file(tmp_path: Path) -> None:
    """A path that does not exist reads as "no header" (a new file)."""
    assert conn_setup.read_header(str(tmp_path / "missing.tlo")) is None


def test_read_header_returns_none_for_an_empty_file(tmp_path: Path) -> None:
    """A zero-byte file reads as "no header" (a new file)."""
    path = tmp_path / "empty.tlo"
    path.write_bytes(b"")
    assert conn_setup.read_header(str(path)) is None


def test_read_header_reports_the_identity_of_a_tlo_file(db_path: Path) -> None:
    """A created file's header carries the tlo application id, schema version and its size."""
    tlo_embed.open(db_path).close()
    header = conn_setup.read_header(str(db_path))
    assert header is not None
    assert header.application_id == conn_setup.APPLICATION_ID
    assert header.user_version == SCHEMA_VERSION
    assert header.page_size > 0
    assert header.file_size == db_path.stat().st_size == header.page_count * header.page_size


@pytest.mark.parametrize(
    "content",
    [b"hello, this is a text file and not a database\n" * 20, b"hi", bytes(range(256)) * 16],
    ids=["text", "two-bytes", "binary"],
)
def test_a_file_that_is_not_sqlite_is_refused_unchanged(tmp_path: Path, content: bytes) -> None:
    """A file that is not a SQLite database raises NotATloFileError and is left byte for byte."""
    path = tmp_path / "notes.tlo"
    path.write_bytes(content)
    with pytest.raises(tlo_embed.NotATloFileError) as info:
        tlo_embed.open(path)
    assert info.value.path == str(path)
    assert path.read_bytes() == content
    assert _listing(tmp_path) == ["notes.tlo"]


def test_read_header_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    """read_header itself raises NotATloFileError for foreign bytes."""
    path = tmp_path / "x.tlo"
    path.write_bytes(b"PK\x03\x04 a zip file, perhaps" * 10)
    with pytest.raises(tlo_embed.NotATloFileError):
        conn_setup.read_header(str(path))


def test_a_sqlite_file_without_the_tlo_application_id_is_refused_unchanged(tmp_path: Path) -> None:
    """A sqlite3-made file with a table but no application id: NotATloFileError, unchanged."""
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.execute("INSERT INTO people VALUES ('ada')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(tlo_embed.NotATloFileError, match="not a .tlo file"):
        tlo_embed.open(path)
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["other.db"]


def test_a_wal_mode_sqlite_file_of_another_application_is_refused_unchanged(tmp_path: Path) -> None:
    """A WAL-mode apsw file with another application id raises NotATloFileError; its bytes stay."""
    path = tmp_path / "other.db"
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(tlo_embed.NotATloFileError):
        tlo_embed.open(path)
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["other.db"]


def test_a_directory_is_refused_as_not_a_tlo_file(tmp_path: Path) -> None:
    """Opening a directory raises NotATloFileError naming it."""
    with pytest.raises(tlo_embed.NotATloFileError) as info:
        tlo_embed.open(tmp_path)
    assert info.value.path == str(tmp_path)


def test_a_truncated_tlo_file_is_refused_as_damaged_unchanged(db_path: Path) -> None:
    """A .tlo file cut to half its length raises DamagedFileError and is not written."""
    _write_events(db_path)
    data = db_path.read_bytes()
    half = data[: len(data) // 2]
    db_path.write_bytes(half)
    with pytest.raises(tlo_embed.DamagedFileError, match="damaged"):
        tlo_embed.open(db_path)
    assert db_path.read_bytes() == half
    assert _listing(db_path.parent) == [db_path.name]


def test_a_file_cut_inside_its_header_is_refused_as_damaged(db_path: Path) -> None:
    """A .tlo file shorter than the 100-byte header raises DamagedFileError."""
    _write_events(db_path, 1)
    db_path.write_bytes(db_path.read_bytes()[:50])
    with pytest.raises(tlo_embed.DamagedFileError):
        tlo_embed.open(db_path)
    assert len(db_path.read_bytes()) == 50


def test_a_zero_byte_file_is_treated_as_new(db_path: Path) -> None:
    """An existing empty file is initialised as a new .tlo file."""
    db_path.write_bytes(b"")
    with tlo_embed.open(db_path) as db:
        db.append("s", tlo_embed.Event("E"))
        assert db.stream_version("s") == 1
    header = conn_setup.read_header(str(db_path))
    assert header is not None and header.application_id == conn_setup.APPLICATION_ID


def test_an_empty_sqlite_database_is_claimed_as_new(tmp_path: Path) -> None:
    """A SQLite file with no tables and no identity is initialised as a .tlo file."""
    path = tmp_path / "blank.tlo"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE t (x); DROP TABLE t")
    conn.close()
    assert path.stat().st_size > 0
    with tlo_embed.open(path) as db:
        assert db.status().schema_version == SCHEMA_VERSION


def test_open_without_create_refuses_a_missing_file_and_creates_nothing(tmp_path: Path) -> None:
    """open(create=False) on a missing file raises StoreError and leaves the directory empty."""
    path = tmp_path / "missing.tlo"
    with pytest.raises(tlo_embed.StoreError) as info:
        tlo_embed.open(path, create=False)
    assert info.value.path == str(path)
    assert _listing(tmp_path) == []


def test_open_without_create_opens_an_existing_file(db_path: Path) -> None:
    """open(create=False) opens a file that exists."""
    _write_events(db_path, 2)
    with tlo_embed.open(db_path, create=False) as db:
        assert db.stream_version("s") == 2


def test_a_path_in_a_missing_directory_is_a_store_error_not_read_only(tmp_path: Path) -> None:
    """A path under a directory that does not exist raises StoreError, not ReadOnlyError."""
    path = tmp_path / "no-such-dir" / "app.tlo"
    with pytest.raises(tlo_embed.StoreError) as info:
        tlo_embed.open(path)
    assert not isinstance(info.value, tlo_embed.ReadOnlyError), info.value
    assert not (tmp_path / "no-such-dir").exists()


# -- read-only files and directories (see conftest.Unprivileged for how root is handled) -------


def test_a_new_file_in_a_read_only_directory_raises_read_only_error(
    unprivileged: Unprivileged,
) -> None:
    """Creating a file in a directory the user cannot write: ReadOnlyError, nothing created."""
    directory = unprivileged.root / "ro"
    directory.mkdir()
    unprivileged.own(directory)
    directory.chmod(0o555)
    try:
        name, message = unprivileged.open(directory / "app.tlo")
        assert name == "ReadOnlyError", message
        assert _listing(directory) == []
    finally:
        directory.chmod(0o755)


def _read_only_file(unprivileged: Unprivileged) -> Path:
    directory = unprivileged.root / "rw"
    directory.mkdir()
    path = directory / "app.tlo"
    _write_events(path, 3)
    unprivileged.own(directory)
    unprivileged.own(path)
    path.chmod(0o444)
    return path


def test_a_read_only_file_raises_read_only_error_and_keeps_its_bytes(
    unprivileged: Unprivileged,
) -> None:
    """Opening a file the user cannot write raises ReadOnlyError; the file's bytes are unchanged."""
    path = _read_only_file(unprivileged)
    before = path.read_bytes()
    name, message = unprivileged.open(path)
    assert name == "ReadOnlyError", message
    assert path.read_bytes() == before


def test_a_refused_read_only_file_leaves_no_wal_or_shm_files(unprivileged: Unprivileged) -> None:
    """Refusing a read-only file leaves its directory as it was (no -wal/-shm files made)."""
    path = _read_only_file(unprivileged)
    name, message = unprivileged.open(path)
    assert name == "ReadOnlyError", message
    assert _listing(path.parent) == ["app.tlo"]


def test_a_writable_file_in_a_read_only_directory_raises_read_only_error(
    unprivileged: Unprivileged,
) -> None:
    """A .tlo file whose directory is unwritable (no room for -wal/-shm) raises ReadOnlyError."""
    directory = unprivileged.root / "ro"
    directory.mkdir()
    path = directory / "app.tlo"
    _write_events(path, 3)
    before = path.read_bytes()
    unprivileged.own(directory)
    unprivileged.own(path)
    directory.chmod(0o555)
    try:
        name, message = unprivileged.open(path)
        assert name == "ReadOnlyError", message
        assert path.read_bytes() == before
        assert _listing(directory) == ["app.tlo"]
    finally:
        directory.chmod(0o755)


# -- per-connection settings -------------------------------------------------------------------


@pytest.mark.parametrize(("durability", "synchronous"), [("normal", 1), ("full", 2)])
def test_durability_maps_to_synchronous_on_every_connection(
    db_path: Path, durability: str, synchronous: int
) -> None:
    """durability "normal"/"full" sets PRAGMA synchronous 1/2 on each thread's connection."""
    with tlo_embed.open(db_path, durability=durability) as db:
        store = db.journal.store
        seen: list[object] = [_pragma(store.connection(), "synchronous")]
        worker = threading.Thread(
            target=lambda: seen.append(_pragma(store.connection(), "synchronous"))
        )
        worker.start()
        worker.join()
        assert seen == [synchronous, synchronous]
        assert db.status().durability == durability


def test_unknown_durability_is_an_invalid_argument(db_path: Path) -> None:
    """An unknown durability level raises InvalidArgumentError and creates no file."""
    with pytest.raises(tlo_embed.InvalidArgumentError, match="durability"):
        tlo_embed.open(db_path, durability="paranoid")
    assert not db_path.exists()


def test_the_file_is_in_wal_mode(db_path: Path) -> None:
    """Connections report journal_mode wal, and the mode is recorded in the file header."""
    with tlo_embed.open(db_path) as db:
        db.append("s", tlo_embed.Event("E"))
        assert _pragma(db.journal.store.connection(), "journal_mode") == "wal"
    head = db_path.read_bytes()[:100]
    assert (head[18], head[19]) == (2, 2)


def test_the_application_id_is_tloe(db_path: Path) -> None:
    """The file's application_id is 0x544C4F45, the bytes "TLOE" at header offset 68."""
    tlo_embed.open(db_path).close()
    assert conn_setup.APPLICATION_ID == 0x544C4F45
    assert db_path.read_bytes()[68:72] == b"TLOE"
    conn = apsw.Connection(str(db_path))
    try:
        assert _pragma(conn, "application_id") == conn_setup.APPLICATION_ID
    finally:
        conn.close()


def test_connections_get_the_busy_timeout_and_foreign_keys(db_path: Path) -> None:
    """Each connection waits busy_timeout for locks and enforces foreign keys."""
    with tlo_embed.open(db_path, busy_timeout=1.5) as db:
        conn = db.journal.store.connection()
        assert _pragma(conn, "busy_timeout") == 1500
        assert _pragma(conn, "foreign_keys") == 1


def test_double_quoted_strings_are_not_taken_as_literals(db: tlo_embed.Database) -> None:
    """A "double quoted" word is an identifier, never silently a string."""
    with pytest.raises(apsw.SQLError, match="no such column"):
        db.journal.store.connection().execute('SELECT "abc"').fetchall()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (apsw.NotADBError("file is not a database"), tlo_embed.NotATloFileError),
        (apsw.CorruptError("malformed"), tlo_embed.DamagedFileError),
        (apsw.ReadOnlyError("readonly"), tlo_embed.ReadOnlyError),
        (apsw.CantOpenError("cannot open"), tlo_embed.ReadOnlyError),
        (apsw.IOError("disk I/O error"), tlo_embed.StoreError),
    ],
    ids=["not-a-db", "corrupt", "read-only", "cant-open", "io"],
)
def test_describe_open_error_maps_apsw_errors(
    error: apsw.Error, expected: type[tlo_embed.StoreError]
) -> None:
    """Each apsw failure while opening becomes the StoreError subclass a caller can act on."""
    described = conn_setup.describe_open_error("/x/app.tlo", error)
    assert type(described) is expected
    assert described.path == "/x/app.tlo"
    assert "/x/app.tlo" in str(described)
