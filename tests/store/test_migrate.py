"""tlo_embed/store/migrate.py: claiming new files, refusing newer ones, running migration steps."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import apsw
import pytest

import tlo_embed
from tlo_embed.store import migrate
from tlo_embed.store.connection import APPLICATION_ID

#: An injected step from version 1 to 2 (the real MIGRATIONS is empty until version 2 exists).
STEP_1_TO_2 = "CREATE TABLE added_in_v2 (x INTEGER) STRICT"


def _raw(path: Path) -> apsw.Connection:
    return apsw.Connection(str(path))


def _pragma(conn: apsw.Connection, name: str) -> int:
    value: Any = conn.execute(f"PRAGMA {name}").fetchall()[0][0]
    return int(value)


def _tables(conn: apsw.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}


def _make_v1(path: Path) -> None:
    with tlo_embed.open(path) as db:
        db.append("s", tlo_embed.Event("E", {"n": 1}))


def _migrate(path: Path, *, target: int, migrations: dict[int, str]) -> int:
    conn = _raw(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = migrate.install_or_migrate(
                conn, str(path), now_us=1, library_version="test", target=target,
                migrations=migrations,
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return found
    finally:
        conn.close()


def test_schema_version_is_one() -> None:
    """This build writes schema version 1 and has no migrations yet."""
    assert migrate.SCHEMA_VERSION == 1
    assert migrate.MIGRATIONS == {}


def test_a_newer_schema_version_is_refused_unchanged(db_path: Path) -> None:
    """A newer-schema .tlo file raises SchemaVersionError(found, supported); bytes unchanged."""
    _make_v1(db_path)
    conn = _raw(db_path)
    conn.execute(f"PRAGMA user_version = {migrate.SCHEMA_VERSION + 1}")
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(tlo_embed.SchemaVersionError) as info:
        tlo_embed.open(db_path)
    assert info.value.found == migrate.SCHEMA_VERSION + 1
    assert info.value.supported == migrate.SCHEMA_VERSION
    assert info.value.path == str(db_path)
    assert "upgrade" in str(info.value)
    assert db_path.read_bytes() == before
    assert sorted(os.listdir(db_path.parent)) == [db_path.name]


def test_a_newer_rollback_journal_file_gets_no_wal(tmp_path: Path) -> None:
    """A newer-schema file in rollback-journal mode is refused without being switched to WAL."""
    path = tmp_path / "future.tlo"
    conn = _raw(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 7")
    conn.execute("CREATE TABLE future_things (x)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(tlo_embed.SchemaVersionError) as info:
        tlo_embed.open(path)
    assert (info.value.found, info.value.supported) == (7, migrate.SCHEMA_VERSION)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["future.tlo"]
    assert before[18:20] == b"\x01\x01"  # still a rollback-journal file


def test_install_writes_schema_identity_and_meta(db_path: Path) -> None:
    """Installing into an empty file creates the tables, 'main', the pragmas and the meta rows."""
    found = _migrate(db_path, target=migrate.SCHEMA_VERSION, migrations={})
    assert found == 0
    conn = _raw(db_path)
    try:
        assert _pragma(conn, "application_id") == APPLICATION_ID
        assert _pragma(conn, "user_version") == migrate.SCHEMA_VERSION
        assert {"branches", "turns", "events", "streams", "subscriptions", "snapshots",
                "meta"} <= _tables(conn)
        assert conn.execute("SELECT name FROM branches").fetchall() == [("main",)]
        meta = {str(r[0]): r[1] for r in conn.execute("SELECT key, value FROM meta")}
        assert meta == {"created_at": 1, "created_by": "test"}
    finally:
        conn.close()


def test_open_records_creation_time_and_library_version(
    db_path: Path, clock: tlo_embed.FixedClock
) -> None:
    """A file created by open() records the clock's time and the library version in meta."""
    start = clock.now
    with tlo_embed.open(db_path, clock=clock) as db:
        status = db.status()
    assert status.created_at_us == start
    assert status.created_by == tlo_embed.__version__


def test_install_or_migrate_applies_injected_steps_up_to_target(db_path: Path) -> None:
    """Migrating a v1 file to target 2 with an injected {1: sql} step runs it and records 2."""
    _make_v1(db_path)
    found = _migrate(db_path, target=2, migrations={1: STEP_1_TO_2})
    assert found == 1
    conn = _raw(db_path)
    try:
        assert _pragma(conn, "user_version") == 2
        assert "added_in_v2" in _tables(conn)
        assert conn.execute("SELECT count(*) FROM events").fetchall() == [(1,)]
    finally:
        conn.close()


def test_a_file_migrated_past_this_build_is_refused_by_open(db_path: Path) -> None:
    """After an injected migration to 2, this build (version 1) refuses the file."""
    _make_v1(db_path)
    _migrate(db_path, target=2, migrations={1: STEP_1_TO_2})
    with pytest.raises(tlo_embed.SchemaVersionError) as info:
        tlo_embed.open(db_path)
    assert (info.value.found, info.value.supported) == (2, 1)


def test_migration_steps_run_in_order(db_path: Path) -> None:
    """Steps 1->2 and 2->3 both run, in order, when the target is 3."""
    _make_v1(db_path)
    steps = {
        1: "CREATE TABLE step_log (n INTEGER); INSERT INTO step_log VALUES (1)",
        2: "INSERT INTO step_log VALUES (2)",
    }
    assert _migrate(db_path, target=3, migrations=steps) == 1
    conn = _raw(db_path)
    try:
        assert conn.execute("SELECT n FROM step_log ORDER BY rowid").fetchall() == [(1,), (2,)]
        assert _pragma(conn, "user_version") == 3
    finally:
        conn.close()


def test_a_missing_migration_step_raises_schema_version_error(db_path: Path) -> None:
    """With no step from 2 to 3, migrating to 3 raises SchemaVersionError; the file stays at 1."""
    _make_v1(db_path)
    missing = "no migration from schema version 2"
    with pytest.raises(tlo_embed.SchemaVersionError, match=missing) as info:
        _migrate(db_path, target=3, migrations={1: STEP_1_TO_2})
    assert (info.value.found, info.value.supported) == (1, 3)
    conn = _raw(db_path)
    try:
        assert _pragma(conn, "user_version") == 1
        assert "added_in_v2" not in _tables(conn)
    finally:
        conn.close()


def test_install_or_migrate_leaves_a_current_file_alone(db_path: Path) -> None:
    """Migrating a file already at the target runs no step."""
    _make_v1(db_path)
    assert _migrate(db_path, target=1, migrations={1: "SELECT no_such_function()"}) == 1


def test_install_or_migrate_refuses_a_foreign_file(tmp_path: Path) -> None:
    """install_or_migrate re-checks the file and refuses another application's database."""
    path = tmp_path / "other.db"
    conn = _raw(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(tlo_embed.NotATloFileError):
        _migrate(path, target=1, migrations={})


@pytest.mark.parametrize(
    ("application_id", "user_version", "tables", "is_new"),
    [
        (0, 0, 0, True),
        (0, 0, 1, False),
        (0, 3, 0, False),
        (APPLICATION_ID, 0, 0, False),
        (APPLICATION_ID, 1, 7, False),
    ],
)
def test_only_a_file_without_identity_or_tables_is_new(
    application_id: int, user_version: int, tables: int, is_new: bool
) -> None:
    """FileState.is_new holds only when application id, user version and table count are all 0."""
    state = migrate.FileState(
        application_id=application_id, user_version=user_version, table_count=tables
    )
    assert state.is_new is is_new


def test_check_state_accepts_new_and_current_files() -> None:
    """A new file and a .tlo file at or below the supported version pass the check."""
    migrate.check_state("x", migrate.FileState(application_id=0, user_version=0, table_count=0))
    migrate.check_state(
        "x", migrate.FileState(application_id=APPLICATION_ID, user_version=1, table_count=7)
    )


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (migrate.FileState(application_id=0, user_version=0, table_count=2),
         tlo_embed.NotATloFileError),
        (migrate.FileState(application_id=0x1234, user_version=1, table_count=7),
         tlo_embed.NotATloFileError),
        (migrate.FileState(application_id=APPLICATION_ID, user_version=2, table_count=7),
         tlo_embed.SchemaVersionError),
    ],
    ids=["tables-no-id", "other-id", "newer"],
)
def test_check_state_refuses_foreign_and_newer_files(
    state: migrate.FileState, error: type[tlo_embed.StoreError]
) -> None:
    """check_state: NotATloFileError for other databases, SchemaVersionError for newer ones."""
    with pytest.raises(error) as info:
        migrate.check_state("/x.tlo", state, supported=1)
    assert info.value.path == "/x.tlo"


def test_read_state_reports_a_created_file(db_path: Path) -> None:
    """read_state of a created file gives the tlo id, the schema version and its tables."""
    tlo_embed.open(db_path).close()
    conn = _raw(db_path)
    try:
        state = migrate.read_state(conn)
    finally:
        conn.close()
    assert state.application_id == APPLICATION_ID
    assert state.user_version == migrate.SCHEMA_VERSION
    assert state.table_count >= 7
    assert not state.is_new
