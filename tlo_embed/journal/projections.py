"""Projections: tables derived from the journal, written in the turn that causes them.

The journal's own projections (`branches.head_seq`, `streams`) are kept by triggers in
schema.sql. Layers above (tasks, plugins) contribute `Applier`s for their engine streams
(names starting with "$"), run by the append path in the same transaction. `tlo check`
replays the journal through exactly these mechanisms into a scratch database and compares
every table, so a projection is correct by construction only if its applier writes it.
"""

from __future__ import annotations

from typing import Final, Protocol

import apsw

from tlo_embed.journal.records import RecordedEvent

#: The journal's own projection tables, compared by `check`.
JOURNAL_TABLES: Final[tuple[str, ...]] = ("branches", "streams")


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
        """Update the tables for one event, reading only the event and the tables (and never
        changing `event.data`, which may be the appender's own object)."""
        ...
