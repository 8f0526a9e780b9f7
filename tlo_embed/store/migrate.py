"""Recognise a .tlo file, install the schema in a new one, and migrate older ones.

Every check that can refuse a file runs before anything is written to it, so a refused file
(not a .tlo file, a newer schema, a damaged file) is left exactly as it was.
"""

from __future__ import annotations

from typing import Final

import apsw

from tlo_embed.errors import NotATloFileError, SchemaVersionError
from tlo_embed.store import sql
from tlo_embed.store._schema import SCHEMA_SQL
from tlo_embed.store.connection import APPLICATION_ID

#: The schema version this build writes and understands (`PRAGMA user_version`).
SCHEMA_VERSION: Final = 1

#: SQL that takes a file from schema version N to N + 1, keyed by N. Empty until version 2.
MIGRATIONS: Final[dict[int, str]] = {}


class FileState:
    """What a file's identity pragmas say: new (empty), current, or needing migration."""

    def __init__(self, *, application_id: int, user_version: int, table_count: int) -> None:
        self.application_id = application_id
        self.user_version = user_version
        self.table_count = table_count

    @property
    def is_new(self) -> bool:
        """True for an empty SQLite database with no identity: tlo_embed may claim it."""
        return self.application_id == 0 and self.user_version == 0 and self.table_count == 0


def read_state(conn: apsw.Connection) -> FileState:
    """Read the identity pragmas (a read-only operation).

    The three values are read in one statement, so they come from one snapshot of the file:
    read one by one, another process installing the schema meanwhile could be seen half
    done (tables present, application id not yet).
    """
    row = sql.rows(
        conn,
        "SELECT (SELECT application_id FROM pragma_application_id),"
        " (SELECT user_version FROM pragma_user_version),"
        " (SELECT count(*) FROM sqlite_schema)",
    )[0]
    return FileState(
        application_id=int(row[0]), user_version=int(row[1]), table_count=int(row[2])
    )


def check_state(path: str, state: FileState, *, supported: int = SCHEMA_VERSION) -> None:
    """Refuse files that are not .tlo files or are newer than this build.

    Raises:
        NotATloFileError: the SQLite file has tables but not the .tlo application id.
        SchemaVersionError: the file's schema version is newer than `supported`.
    """
    if state.is_new:
        return
    if state.application_id != APPLICATION_ID:
        msg = (
            f"{path} is a SQLite database but not a .tlo file "
            f"(application_id {state.application_id:#x}, expected {APPLICATION_ID:#x})"
        )
        raise NotATloFileError(msg, path=path)
    if state.user_version > supported:
        msg = (
            f"{path} has schema version {state.user_version}, newer than this tlo_embed "
            f"supports ({supported}); upgrade tlo_embed to open it"
        )
        raise SchemaVersionError(msg, path=path, found=state.user_version, supported=supported)


def install_or_migrate(
    conn: apsw.Connection,
    path: str,
    *,
    now_us: int,
    library_version: str,
    target: int = SCHEMA_VERSION,
    migrations: dict[int, str] | None = None,
) -> int:
    """Bring the file to schema version `target` inside the caller's write transaction.

    Re-reads the state (another process may have installed the schema meanwhile) and either
    installs schema.sql into a new file or applies each migration from the file's version up.

    Returns:
        The schema version the file had before (0 for a new file).
    """
    steps = MIGRATIONS if migrations is None else migrations
    state = read_state(conn)
    check_state(path, state, supported=target)
    if state.is_new:
        conn.execute(SCHEMA_SQL)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('created_at', ?), ('created_by', ?)",
            (now_us, library_version),
        )
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {target}")
        return 0
    found = state.user_version
    version = found
    while version < target:
        sql = steps.get(version)
        if sql is None:
            msg = f"{path}: no migration from schema version {version} to {version + 1}"
            raise SchemaVersionError(msg, path=path, found=found, supported=target)
        conn.execute(sql)
        version += 1
        conn.execute(f"PRAGMA user_version = {version}")
    return found
