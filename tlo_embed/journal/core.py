"""`Journal`: the journal layer's engine object, shared by every layer above it.

It owns the store, the codec, the upcasters, the projection appliers and the notifier, and
offers the primitive operations (open a turn, append, read) the facade and the handler,
task and plugin layers are written in terms of.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import final

import apsw

from tlo_embed.clock import Clock
from tlo_embed.codec.cbor import Codec
from tlo_embed.codec.upcast import Upcasters
from tlo_embed.errors import InvalidArgumentError, caused_by
from tlo_embed.journal import branches
from tlo_embed.journal.append import append_events, stream_version, validate_stream
from tlo_embed.journal.notify import notifier_for
from tlo_embed.journal.projections import Applier
from tlo_embed.journal.read import EventDecoder, EventFilter, read_all, read_by_id, read_stream
from tlo_embed.journal.records import ANY, AppendResult, Event, RecordedEvent
from tlo_embed.journal.turns import Turn, TurnOptions, TurnScope
from tlo_embed.store import sql
from tlo_embed.store.sql import translate
from tlo_embed.store.txn import Store, Txn


def as_event_list(events: object) -> list[Event]:
    """Accept one Event or a list/tuple of them (each item is checked by the append).

    Raises:
        InvalidArgumentError: anything else (a str, a dict, a generator...).
    """
    if isinstance(events, Event):
        return [events]
    if isinstance(events, list):
        return events
    if isinstance(events, tuple):
        return list(events)
    msg = f"expected an Event or a list of Events, got {type(events).__name__}"
    raise InvalidArgumentError(msg)


@final
class Journal:
    """The journal of one open .tlo file."""

    def __init__(
        self,
        store: Store,
        *,
        codec: Codec,
        upcasters: Upcasters,
        clock: Clock,
        appliers: Sequence[Applier] = (),
    ) -> None:
        self.store = store
        self.codec = codec
        self.upcasters = upcasters
        self.decoder = EventDecoder(upcasters)
        self.clock = clock
        self.appliers: list[Applier] = list(appliers)
        self.notifier = notifier_for(store.path)

    # -- turns ---------------------------------------------------------------------------------

    def now_us(self) -> int:
        """The clock's current time (microseconds since the epoch)."""
        return self.clock.now_us()

    def turn_scope(
        self,
        branch: str,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> TurnScope:
        """A write transaction holding one turn on `branch` (joins an open one on this thread)."""
        options = TurnOptions(
            branch=branch,
            correlation_id=correlation_id,
            causation_id=causation_id,
            idempotency_key=idempotency_key,
        )
        return TurnScope(self.store, options, self.now_us, self.notifier.notify)

    def append_in(
        self,
        txn: Txn,
        turn: Turn,
        stream: str,
        events: Sequence[Event] | Event,
        expected_version: int = ANY,
        records: list[RecordedEvent] | None = None,
        *,
        rollback_on_error: bool = False,
    ) -> AppendResult:
        """Append inside an open turn (see `append_events`).

        Pass `rollback_on_error=True` only when an exception from this call is certain to
        roll back the enclosing scope (the caller opened it and does not catch).
        """
        return append_events(
            txn, turn, self.codec, self.appliers, stream, as_event_list(events),
            expected_version, records, rollback_on_error=rollback_on_error,
        )

    def append(
        self,
        branch: str,
        stream: str,
        events: Sequence[Event] | Event,
        *,
        expected_version: int = ANY,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> AppendResult:
        """Append events to one stream in a turn of their own (or the open one)."""
        batch = as_event_list(events)
        with self.turn_scope(
            branch,
            correlation_id=correlation_id,
            causation_id=causation_id,
            idempotency_key=idempotency_key,
        ) as (txn, turn):
            return append_events(
                txn, turn, self.codec, self.appliers, stream, batch, expected_version, None,
                rollback_on_error=True,
            )

    # -- reads ---------------------------------------------------------------------------------

    def segments(self, branch: str, upto: int = branches.UNBOUNDED) -> branches.Lineage:
        """The lineage of `branch` as of `upto`."""
        try:
            return branches.lineage(self.store.connection(), branch, upto)
        except apsw.Error as e:
            raise caused_by(translate(e, self.store.path), e)

    def read(
        self,
        branch: str,
        stream: str,
        *,
        from_version: int = 1,
        backward: bool = False,
        limit: int | None = None,
        to_seq: int = branches.UNBOUNDED,
    ) -> Iterator[RecordedEvent]:
        """Events of `stream` on `branch` (see `read_stream`)."""
        validate_stream(stream)
        return read_stream(
            self.store.connection, self.decoder, self.segments(branch), stream,
            from_version=from_version, backward=backward, limit=limit, to_seq=to_seq,
        )

    def read_all(
        self,
        branch: str,
        *,
        from_seq: int = 0,
        to_seq: int = branches.UNBOUNDED,
        where: EventFilter | None = None,
        limit: int | None = None,
    ) -> Iterator[RecordedEvent]:
        """Every event of `branch`'s history in journal order (see `read_all`)."""
        return read_all(
            self.store.connection, self.decoder, self.segments(branch),
            from_seq=from_seq, to_seq=to_seq, where=where or EventFilter(), limit=limit,
        )

    def get_event(self, branch: str, event_id: bytes) -> RecordedEvent | None:
        """The event with `event_id` in `branch`'s history, or None."""
        return read_by_id(
            self.store.connection(), self.decoder, self.segments(branch), event_id
        )

    def stream_version(self, branch: str, stream: str) -> int:
        """The stream's current version on `branch` (0: it does not exist)."""
        return stream_version(self.store.connection(), branch, stream)

    def head(self, branch: str) -> int:
        """The seq of `branch`'s newest turn (0 for an empty journal)."""
        return branches.head(self.store.connection(), branch)

    def last_seq(self) -> int:
        """The newest seq in the file, on any branch."""
        value = sql.value(self.store.connection(), "SELECT max(seq) FROM turns")
        return 0 if value is None else int(value)

    def wait_for_head(self, branch: str, after_seq: int, timeout: float | None) -> bool:
        """Block until `branch`'s head passes `after_seq`; False on timeout."""

        def ready() -> bool:
            return self.head(branch) > after_seq

        return self.notifier.wait(ready, timeout)
