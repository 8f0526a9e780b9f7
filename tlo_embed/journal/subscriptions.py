"""Durable subscriptions: named cursors over the journal.

A subscription remembers `position`, the last seq it has fully processed. `process(fn)` runs
`fn(turn, event)` for pending events and moves the position in the same transaction as
everything `fn` wrote, so a projection built this way sees each event exactly once even if
the process dies at any moment. Positions move by whole turns, never splitting one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, final

import attrs

from tlo_embed.errors import InvalidArgumentError, NotFoundError
from tlo_embed.journal.context import TurnContext
from tlo_embed.journal.core import Journal
from tlo_embed.journal.read import EventFilter
from tlo_embed.journal.records import RecordedEvent
from tlo_embed.store.sql import TEXT_PARAM
from tlo_embed.store.sql import rows as sql_rows

DEFAULT_BATCH: Final = 256
#: Passed-over turns are written to the stored position once it lags this many seqs behind.
PERSIST_LAG: Final = 1024

SubscriptionHandler = Callable[[TurnContext, RecordedEvent], Any]


@attrs.frozen(kw_only=True)
class SubscriptionInfo:
    """A subscription as listed by `Database.subscriptions()`."""

    name: str
    branch: str
    position: int
    types: tuple[str, ...]
    stream_prefix: str | None
    created_at_us: int
    updated_at_us: int


def _types_text(types: Sequence[str]) -> str | None:
    return "\n".join(types) if types else None


def list_subscriptions(journal: Journal, branch: str | None) -> list[SubscriptionInfo]:
    """Every subscription (of one branch, or all)."""
    sql = (
        "SELECT name, branch, position, types, stream_prefix, created_at, updated_at"
        " FROM subscriptions"
    )
    bindings: tuple[object, ...] = ()
    if branch is not None:
        sql += f" WHERE branch = {TEXT_PARAM}"  # bare, SQLite re-planned it every time
        bindings = (branch,)
    out: list[SubscriptionInfo] = []
    for row in sql_rows(journal.store.connection(), sql + " ORDER BY branch, name", bindings):
        types = tuple(str(row[3]).split("\n")) if row[3] else ()
        out.append(SubscriptionInfo(
            name=str(row[0]), branch=str(row[1]), position=int(row[2]),
            types=types, stream_prefix=None if row[4] is None else str(row[4]),
            created_at_us=int(row[5]), updated_at_us=int(row[6]),
        ))
    return out


def delete_subscription(journal: Journal, branch: str, name: str) -> None:
    """Forget a subscription and its position.

    Raises:
        NotFoundError: no such subscription.
    """
    with journal.store.write() as txn:
        txn.execute("DELETE FROM subscriptions WHERE branch = ? AND name = ?", (branch, name))
        if txn.conn.changes() == 0:
            msg = f"no subscription named {name!r} on branch {branch!r}"
            raise NotFoundError(msg)


@final
class Subscription:
    """A named, durable cursor over one branch's journal. Create with `Database.subscribe`."""

    def __init__(
        self,
        journal: Journal,
        *,
        name: str,
        branch: str,
        types: Sequence[str] | None,
        stream_prefix: str | None,
        from_seq: int | None,
    ) -> None:
        if not name:
            msg = "a subscription needs a non-empty name"
            raise InvalidArgumentError(msg)
        self._journal = journal
        self.name = name
        self.branch = branch
        self.where = EventFilter(types, stream_prefix)
        # Highest seq known to hold nothing for this subscription beyond the position it had
        # when scanned (`_scanned_from`): lets idle polling skip reading events without
        # writing the cursor for every foreign turn. Another handle moving the position
        # (reset, ack) invalidates it.
        self._scanned = 0
        self._scanned_from = -1
        self._ensure(from_seq)

    def _ensure(self, from_seq: int | None) -> None:
        if from_seq is not None and from_seq < 0:
            msg = f"from_seq must be >= 0, got {from_seq}"
            raise InvalidArgumentError(msg)
        now = self._journal.now_us()
        types = _types_text(self.where.types)
        with self._journal.store.write() as txn:
            rows = txn.execute(
                "SELECT position FROM subscriptions WHERE branch = ? AND name = ?",
                (self.branch, self.name),
            ).fetchall()
            if not rows:
                start = 0 if from_seq is None else max(0, from_seq - 1)
                txn.execute(
                    "INSERT INTO subscriptions (branch, name, position, types, stream_prefix,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (self.branch, self.name, start, types, self.where.stream_prefix, now, now),
                )
            else:
                txn.execute(
                    "UPDATE subscriptions SET types = ?, stream_prefix = ?"
                    " WHERE branch = ? AND name = ?",
                    (types, self.where.stream_prefix, self.branch, self.name),
                )
                if from_seq is not None:
                    self._set_position(txn.conn, max(0, from_seq - 1), now)

    def _set_position(self, conn: Any, position: int, now: int) -> None:
        conn.execute(
            "UPDATE subscriptions SET position = ?, updated_at = ? WHERE branch = ? AND name = ?",
            (position, now, self.branch, self.name),
        )
        self._scanned = position
        self._scanned_from = position

    def _nothing_past(self, position: int, head: int) -> bool:
        """True when no event past `position` up to `head` can be for this subscription."""
        if position != self._scanned_from:
            self._scanned = position
            self._scanned_from = position
        return head <= self._scanned

    def _read_position(self, conn: Any) -> int:
        rows = sql_rows(
            conn, "SELECT position FROM subscriptions WHERE branch = ? AND name = ?",
            (self.branch, self.name),
        )
        if not rows:
            msg = f"subscription {self.name!r} on branch {self.branch!r} was deleted"
            raise NotFoundError(msg)
        return int(rows[0][0])

    @property
    def position(self) -> int:
        """The last seq this subscription has processed or passed over.

        Turns holding nothing for the subscription are passed over in memory and the stored
        position catches up with the next write (or once it lags by `PERSIST_LAG` seqs), so
        idle polling never writes; after a restart, such turns are just scanned again.
        """
        stored = self._read_position(self._journal.store.connection())
        if stored == self._scanned_from and self._scanned > stored:
            return self._scanned
        return stored

    def _fetch(self, position: int, head: int, limit: int) -> list[RecordedEvent]:
        """Matching events with position < seq <= head, up to `limit`, whole turns only."""
        journal = self._journal
        events = list(journal.read_all(
            self.branch, from_seq=position + 1, to_seq=head, where=self.where, limit=limit
        ))
        if len(events) == limit and limit > 0:
            last = events[-1]
            # Complete the last turn so the position never splits one.
            events.extend(
                e for e in journal.read_all(
                    self.branch, from_seq=last.seq, to_seq=last.seq, where=self.where
                ) if e.index > last.index
            )
        return events

    def pending(self, limit: int = DEFAULT_BATCH) -> list[RecordedEvent]:
        """Events past the position (at least `limit` when there are that many; whole turns).

        Reading does not move the position: call `ack` (at-least-once) or use `process`.
        """
        position = self._read_position(self._journal.store.connection())
        head = self._journal.head(self.branch)
        if self._nothing_past(position, head):
            return []
        return self._fetch(position, head, limit)

    def ack(self, seq: int) -> None:
        """Mark everything up to and including turn `seq` as processed."""
        with self._journal.store.write() as txn:
            current = self._read_position(txn.conn)
            if seq > current:
                self._set_position(txn.conn, seq, self._journal.now_us())

    def reset(self, from_seq: int = 0) -> None:
        """Deliver again from `from_seq` (catch-up from any point, including the start)."""
        if from_seq < 0:
            msg = f"from_seq must be >= 0, got {from_seq}"
            raise InvalidArgumentError(msg)
        with self._journal.store.write() as txn:
            self._read_position(txn.conn)
            self._set_position(txn.conn, max(0, from_seq - 1), self._journal.now_us())

    def process(self, handler: SubscriptionHandler, limit: int = DEFAULT_BATCH) -> int:
        """Run `handler(turn, event)` for pending events, exactly once each.

        The handler's writes (`turn.sql`, `turn.append`) and the position move commit in one
        transaction; if the handler raises, nothing of the batch is kept and the position
        stays, so the batch is delivered again.

        Returns:
            How many events the handler saw.
        """
        journal = self._journal
        stored = self._read_position(journal.store.connection())
        if self._nothing_past(stored, journal.head(self.branch)):
            return 0
        with journal.turn_scope(self.branch) as (txn, turn):
            position = self._read_position(txn.conn)
            head = journal.head(self.branch)
            if self._nothing_past(position, head):
                return 0
            events = self._fetch(position, head, limit)
            if not events:
                # Nothing for us in the new turns: remember that instead of writing the
                # cursor for every turn other writers make (unless it lags far behind).
                if head - position >= PERSIST_LAG:
                    self._set_position(txn.conn, head, journal.now_us())
                else:
                    self._scanned = head
                    self._scanned_from = position
                return 0
            context = TurnContext(journal, txn, turn)
            for event in events:
                handler(context, event)
            if len(events) >= limit:
                new_position = events[-1].seq
            else:
                new_position = head
            self._set_position(txn.conn, new_position, journal.now_us())
        return len(events)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the branch has turns past the position; False on timeout."""
        position = self.position
        return self._journal.wait_for_head(self.branch, max(position, 0), timeout)

    def run(
        self,
        handler: SubscriptionHandler,
        *,
        stop: threading.Event | None = None,
        idle_timeout: float | None = None,
        limit: int = DEFAULT_BATCH,
    ) -> int:
        """Process events as they arrive until `stop` is set or nothing came for `idle_timeout`.

        Returns:
            How many events were processed in total.
        """
        total = 0
        idle_since = time.monotonic()
        while stop is None or not stop.is_set():
            done = self.process(handler, limit)
            total += done
            if done:
                idle_since = time.monotonic()
                continue
            wait = 0.1 if stop is not None else None
            if idle_timeout is not None:
                left = idle_timeout - (time.monotonic() - idle_since)
                if left <= 0:
                    break
                wait = left if wait is None else min(wait, left)
            self._journal.wait_for_head(self.branch, self._scanned, wait)
        return total
