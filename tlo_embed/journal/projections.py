"""Projections: tables derived from the journal, written in the turn that causes them.

The journal's own projections (`branches.head_seq`, `streams`) are applied inline by the
append path through the functions below. Layers above (tasks, plugins) contribute
`Applier`s for their engine streams (names starting with "$"). `tlo check` replays the
journal through exactly these functions into a scratch database and compares every table,
so a projection is correct by construction only if its applier is the one writing it.
"""

from __future__ import annotations

from typing import Protocol

import apsw

from tlo_embed.journal.records import RecordedEvent

#: The journal's own projection tables, compared by `check`.
JOURNAL_TABLES: tuple[str, ...] = ("branches", "streams")


class Applier(Protocol):
    """A projection maintained from the events of streams starting with `stream_prefix`."""

    @property
    def name(self) -> str:
        """A short name for reports."""
        ...

    @property
    def stream_prefix(self) -> str:
        """Events of streams with this prefix (e.g. "$jobs") are applied."""
        ...

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables this applier owns; `check` compares them."""
        ...

    def apply(self, conn: apsw.Connection, event: RecordedEvent) -> None:
        """Update the tables for one event, reading only the event and the tables."""
        ...


def apply_turn_head(conn: apsw.Connection, branch: str, seq: int) -> None:
    """A new turn on `branch` becomes its head."""
    conn.execute("UPDATE branches SET head_seq = ? WHERE name = ?", (seq, branch))


def apply_stream_version(
    conn: apsw.Connection, branch: str, stream: str, version: int, seq: int
) -> None:
    """Record that `stream` reached `version` in turn `seq`."""
    conn.execute(
        "INSERT INTO streams (branch, stream, version, last_seq) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (branch, stream) DO UPDATE"
        " SET version = excluded.version, last_seq = excluded.last_seq",
        (branch, stream, version, seq),
    )
