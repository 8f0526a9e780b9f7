"""Snapshots: a handler's folded state saved at a stream version.

Snapshots are a cache over the journal: deleting them loses nothing. They are keyed by the
handler's name and version, so changing a handler's fold (and bumping its version) makes old
snapshots invisible instead of wrong.
"""

from __future__ import annotations

from typing import Final, final

import apsw

from tlo_embed.journal.branches import Lineage, lineage_clause
from tlo_embed.store import sql

#: Snapshots kept per (branch, handler, stream); older ones are pruned when a new one is saved.
KEEP: Final = 3


@final
class SnapshotRow:
    """A stored snapshot."""

    def __init__(self, *, version: int, seq: int, state: bytes, enc: int) -> None:
        self.version = version
        self.seq = seq
        self.state = state
        self.enc = enc


def save(
    conn: apsw.Connection,
    *,
    branch: str,
    handler: str,
    stream: str,
    version: int,
    seq: int,
    state: bytes,
    enc: int,
    keep: int = KEEP,
) -> None:
    """Store a snapshot and prune all but the newest `keep` for that stream."""
    conn.execute(
        "INSERT OR REPLACE INTO snapshots (branch, handler, stream, version, seq, state, enc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (branch, handler, stream, version, seq, state, enc),
    )
    t, i = sql.TEXT_PARAM, sql.INT_PARAM  # bare `?`s made SQLite re-plan this every time
    conn.execute(
        "DELETE FROM snapshots WHERE branch = ? AND handler = ? AND stream = ? AND version <="
        f" (SELECT version FROM snapshots WHERE branch = {t} AND handler = {t} AND stream = {t}"
        f"  ORDER BY version DESC LIMIT 1 OFFSET {i})",
        (branch, handler, stream, branch, handler, stream, keep),
    )


def latest(
    conn: apsw.Connection, segments: Lineage, *, handler: str, stream: str, at_seq: int
) -> SnapshotRow | None:
    """The newest snapshot in the branch's history taken at or before `at_seq`."""
    where, bindings = lineage_clause(segments, "s")
    t = sql.TEXT_PARAM  # bare `?`s made SQLite re-plan this every time (store/sql.py)
    rows = sql.rows(
        conn,
        f"SELECT s.version, s.seq, s.state, s.enc FROM snapshots AS s WHERE s.handler = {t}"
        f" AND s.stream = {t} AND s.seq <= ? AND {where} ORDER BY s.version DESC LIMIT 1",
        (handler, stream, at_seq, *bindings),
    )
    if not rows:
        return None
    row = rows[0]
    state = row[2]
    if not isinstance(state, bytes):
        return None
    return SnapshotRow(version=int(row[0]), seq=int(row[1]), state=state, enc=int(row[3]))


def listing(conn: apsw.Connection, handler: str) -> list[tuple[str, str, int, int]]:
    """(branch, stream, version, seq) of every snapshot of `handler`, for verification."""
    return [
        (str(r[0]), str(r[1]), int(r[2]), int(r[3]))
        for r in sql.rows(
            conn,
            f"SELECT branch, stream, version, seq FROM snapshots WHERE handler = {sql.TEXT_PARAM}"
            " ORDER BY branch, stream, version",  # CAST: bare, SQLite re-planned it every time
            (handler,),
        )
    ]
