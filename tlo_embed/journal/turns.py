"""Turns: one write transaction = one journal entry, allocated on the first event written.

`TurnScope` wraps the store's write scope: the outermost scope creates the `Turn` and keeps it
as the transaction's attachment; nested scopes share it, and a nested scope that fails puts
the turn's counters back where they were, as its SAVEPOINT rollback does for the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import final

import apsw

from tlo_embed.errors import InvalidArgumentError, NotFoundError, caused_by
from tlo_embed.store.txn import Store, Txn, WriteScope


_INSERT_TURN = (
    "INSERT INTO turns (branch, parent_seq, recorded_at, correlation_id, causation_id,"
    " idempotency_key) VALUES (?1, (SELECT head_seq FROM branches WHERE name = ?1), ?2, ?3,"
    " ?4, ?5)"
)


@final
class Turn:
    """The turn being written in the current transaction."""

    def __init__(
        self,
        *,
        branch: str,
        recorded_at_us: int,
        correlation_id: str | None,
        causation_id: str | None,
        idempotency_key: str | None,
    ) -> None:
        self.branch = branch
        self.recorded_at_us = recorded_at_us
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.idempotency_key = idempotency_key
        self.seq = 0
        self.next_idx = 0
        # When this turn retries one recorded under the same idempotency key: that turn's
        # seq, and for each stream the version the next repeated append must start at.
        self.repeat_of = 0
        self.repeat_next: dict[str, int] = {}

    def allocate(self, txn: Txn) -> int:
        """Insert the turn's row on first use and return its seq."""
        if self.seq:
            return self.seq
        conn = txn.conn
        try:
            # parent_seq is the branch's head; a trigger then makes this turn the head.
            conn.execute(_INSERT_TURN, (
                self.branch, self.recorded_at_us, self.correlation_id, self.causation_id,
                self.idempotency_key,
            ))
        except apsw.ConstraintError as e:
            msg = f"branch {self.branch!r} does not exist"
            raise caused_by(NotFoundError(msg), e)
        seq = conn.last_insert_rowid()
        self.seq = seq
        return seq


@final
class TurnOptions:
    """What a caller may say about the turn it opens."""

    def __init__(
        self,
        *,
        branch: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.branch = branch
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.idempotency_key = idempotency_key


@final
class TurnScope:
    """Context manager: a write transaction holding one `Turn`.

    Args:
        store: the store to write.
        options: branch and ids for a new turn (checked against an already open one).
        now_us: the clock, read once when the turn is created.
        on_commit: called with the turn's seq after COMMIT, if the turn wrote anything.
    """

    def __init__(
        self,
        store: Store,
        options: TurnOptions,
        now_us: Callable[[], int],
        on_commit: Callable[[int], None],
    ) -> None:
        self._scope: WriteScope = store.write()
        self._options = options
        self._now_us = now_us
        self._on_commit = on_commit
        self._txn: Txn | None = None
        self._created = False
        self._mark_seq = 0
        self._mark_idx = 0

    def __enter__(self) -> tuple[Txn, Turn]:
        txn = self._scope.__enter__()
        self._txn = txn
        try:
            turn = self._join(txn)
        except BaseException as e:
            self._scope.__exit__(type(e), e, e.__traceback__)
            raise
        return txn, turn

    def _join(self, txn: Txn) -> Turn:
        opts = self._options
        current = txn.attachment
        if isinstance(current, Turn):
            if current.branch != opts.branch:
                msg = (
                    f"a turn on branch {current.branch!r} is already open on this thread; "
                    f"cannot write to branch {opts.branch!r} inside it"
                )
                raise InvalidArgumentError(msg)
            if opts.idempotency_key is not None:
                msg = "idempotency_key can only be given to the call that opens a turn"
                raise InvalidArgumentError(msg)
            for given, held, what in (
                (opts.correlation_id, current.correlation_id, "correlation_id"),
                (opts.causation_id, current.causation_id, "causation_id"),
            ):
                if given is not None and given != held:
                    msg = f"{what} {given!r} differs from the open turn's {held!r}"
                    raise InvalidArgumentError(msg)
            self._mark_seq = current.seq
            self._mark_idx = current.next_idx
            return current
        turn = Turn(
            branch=opts.branch,
            recorded_at_us=self._now_us(),
            correlation_id=opts.correlation_id,
            causation_id=opts.causation_id,
            idempotency_key=opts.idempotency_key,
        )
        txn.attachment = turn
        self._created = True
        on_commit = self._on_commit

        def committed() -> None:
            if turn.seq:
                on_commit(turn.seq)

        txn.after_commit(committed)
        return turn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        txn = self._txn
        if txn is not None and exc is not None:
            turn = txn.attachment
            if isinstance(turn, Turn):
                if self._created:
                    txn.attachment = None
                else:
                    turn.seq = self._mark_seq
                    turn.next_idx = self._mark_idx
        if txn is not None and exc is None and self._created:
            txn.attachment = None
        self._scope.__exit__(exc_type, exc, tb)
