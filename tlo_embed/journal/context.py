"""`TurnContext`: what user code holds while a turn is open.

`db.turn()` yields one, and so does every subscription handler call: appends and SQL writes
made through it commit together, in one transaction, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, final

import apsw

from tlo_embed.errors import SqlError, caused_by
from tlo_embed.journal.core import Journal
from tlo_embed.journal.records import ANY, AppendResult, Event
from tlo_embed.journal.turns import Turn, TurnScope
from tlo_embed.store.sql import translate
from tlo_embed.store.txn import Txn


@final
class TurnContext:
    """An open turn: append to any streams and write your own tables, atomically."""

    def __init__(self, journal: Journal, txn: Txn, turn: Turn) -> None:
        self._journal = journal
        self._txn = txn
        self._turn = turn

    @property
    def branch(self) -> str:
        """The branch the turn writes to."""
        return self._turn.branch

    @property
    def seq(self) -> int:
        """The turn's seq, or 0 while it has recorded no event."""
        return self._turn.seq

    @property
    def recorded_at_us(self) -> int:
        """The turn's recorded time (microseconds since the epoch, UTC)."""
        return self._turn.recorded_at_us

    def append(
        self, stream: str, events: Sequence[Event] | Event, *, expected_version: int = ANY
    ) -> AppendResult:
        """Append to `stream` as part of this turn.

        Raises:
            ConcurrencyError: `expected_version` does not match the stream.
        """
        return self._journal.append_in(self._txn, self._turn, stream, events, expected_version)

    def sql(self, statement: str, bindings: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one SQL statement in the turn's transaction and return its rows.

        Use it for your own tables (read models kept beside the journal). The journal's
        tables are written only by the engine.

        Raises:
            SqlError: the statement failed (the turn is still open: catch it to go on, or
                let it propagate to roll the turn back).
        """
        conn = self._txn.conn
        try:
            return list(conn.execute(statement, tuple(bindings)).fetchall())
        except apsw.Error as e:
            translated = translate(e, conn.filename)
            if translated is e:
                translated = SqlError(f"SQL failed: {e}", statement=statement)
            raise caused_by(translated, e)


@final
class TurnHandle:
    """Context manager returned by `Database.turn()`."""

    def __init__(self, journal: Journal, scope: TurnScope) -> None:
        self._journal = journal
        self._scope = scope

    def __enter__(self) -> TurnContext:
        txn, turn = self._scope.__enter__()
        return TurnContext(self._journal, txn, turn)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._scope.__exit__(exc_type, exc, tb)
