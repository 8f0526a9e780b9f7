"""The handler runtime: load state (snapshot + tail), process a command, append, snapshot.

A handler is any object (or class, instantiated once with no arguments) with:

    initial() -> S                          the state of an empty stream
    fold(state: S, event: RecordedEvent) -> S
    process(state: S, command) -> Event | list[Event] | None

and, optionally, `name` (str; default: the class's qualified name), `version` (int; bump it
when `fold` changes, so old snapshots are ignored), `snapshot_every` (int; 0 disables), and
`snapshot_encode(state) -> CBOR value` / `snapshot_decode(value) -> S` for states that are not
plain CBOR values. `fold` must be deterministic: it sees only the state and the event.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any, Final, Protocol, final

import attrs

from tlo_embed.errors import CodecError, ConcurrencyError, InvalidArgumentError, caused_by
from tlo_embed.journal import snapshots
from tlo_embed.journal.branches import UNBOUNDED
from tlo_embed.journal.core import Journal
from tlo_embed.journal.records import Event, RecordedEvent

DEFAULT_SNAPSHOT_EVERY: Final = 100
DEFAULT_MAX_ATTEMPTS: Final = 10
_SPEC_CACHE_SIZE: Final = 256


class Handler(Protocol):
    """The protocol an event-sourced handler implements (see the module docstring)."""

    def initial(self) -> Any:
        """The state of a stream with no events."""
        ...

    def fold(self, state: Any, event: RecordedEvent) -> Any:
        """The state after `event`."""
        ...

    def process(self, state: Any, command: Any) -> Event | Sequence[Event] | None:
        """The events a command produces in `state` (raise to refuse the command)."""
        ...


class SnapshotWarning(UserWarning):
    """A handler's state could not be snapshotted; it is folded from the journal instead."""


@attrs.frozen(kw_only=True)
class Executed:
    """The outcome of `Database.execute`.

    Attributes:
        seq: the turn that recorded the events (0 when the command produced none).
        version: the stream's version afterwards.
        events: the recorded events.
        state: the handler's state after folding them.
        attempts: how many tries optimistic concurrency needed.
    """

    seq: int
    version: int
    events: tuple[RecordedEvent, ...]
    state: Any
    attempts: int


@final
class HandlerSpec:
    """A handler object plus its resolved options."""

    def __init__(self, handler: Any, default_snapshot_every: int) -> None:
        self.source: Any = handler
        if isinstance(handler, type):
            handler = handler()
        for method in ("initial", "fold", "process"):
            if not callable(getattr(handler, method, None)):
                msg = f"{type(handler).__qualname__} is not a handler: it has no {method}()"
                raise InvalidArgumentError(msg)
        self.handler = handler
        name = getattr(handler, "name", None)
        self.name: str = name if isinstance(name, str) and name else type(handler).__qualname__
        version = getattr(handler, "version", 1)
        self.version: int = version if isinstance(version, int) else 1
        every = getattr(handler, "snapshot_every", default_snapshot_every)
        self.snapshot_every: int = every if isinstance(every, int) and every > 0 else 0
        self.key = f"{self.name}@{self.version}"
        self.encode_state = getattr(handler, "snapshot_encode", None)
        self.decode_state = getattr(handler, "snapshot_decode", None)

    def fold_all(self, state: Any, events: Sequence[RecordedEvent]) -> Any:
        """Fold a list of events into `state`."""
        fold = self.handler.fold
        for event in events:
            state = fold(state, event)
        return state


@final
class HandlerRuntime:
    """Runs handlers against one journal; remembers resolved handler specs."""

    def __init__(self, journal: Journal, *, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> None:
        self.journal = journal
        self.snapshot_every = snapshot_every
        # Resolved specs by handler identity. Each entry holds its handler, so an id is never
        # reused while cached; the cache is bounded for callers that pass a new instance
        # each time (resolving a spec again is cheap).
        self._specs: dict[int, HandlerSpec] = {}

    def spec(self, handler: Any) -> HandlerSpec:
        """The resolved spec of `handler` (a handler class or instance)."""
        spec = self._specs.get(id(handler))
        if spec is None or spec.source is not handler:
            spec = HandlerSpec(handler, self.snapshot_every)
            if len(self._specs) >= _SPEC_CACHE_SIZE:
                self._specs.clear()
            self._specs[id(handler)] = spec
        return spec

    def load(
        self, spec: HandlerSpec, branch: str, stream: str, at_seq: int = UNBOUNDED
    ) -> tuple[Any, int]:
        """(state, version) of `stream` as of `at_seq`: newest snapshot plus the tail."""
        journal = self.journal
        segments = journal.segments(branch)
        state: Any = None
        version = 0
        row = None
        if spec.snapshot_every:
            row = snapshots.latest(
                journal.store.connection(), segments,
                handler=spec.key, stream=stream, at_seq=at_seq,
            )
        if row is not None:
            value = journal.codec.decode(row.state, row.enc)
            state = spec.decode_state(value) if spec.decode_state is not None else value
            version = row.version
        else:
            state = spec.handler.initial()
        fold = spec.handler.fold
        for event in journal.read(branch, stream, from_version=version + 1, to_seq=at_seq):
            state = fold(state, event)
            version = event.version
        return state, version

    def execute(
        self,
        handler: Any,
        branch: str,
        stream: str,
        command: Any,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Executed:
        """Process `command` against the stream's state and append the resulting events.

        Loads outside the write lock, then appends with the loaded version as the expected
        version; on a conflict it reloads and processes again, up to `max_attempts` times.

        Raises:
            ConcurrencyError: every attempt lost the race to another writer.
            Whatever `process` raises to refuse the command (nothing is written).
        """
        if max_attempts < 1:
            msg = f"max_attempts must be >= 1, got {max_attempts}"
            raise InvalidArgumentError(msg)
        spec = self.spec(handler)
        journal = self.journal
        pause = 0.001
        last_error: ConcurrencyError | None = None
        for attempt in range(1, max_attempts + 1):
            state, version = self.load(spec, branch, stream)
            produced = spec.handler.process(state, command)
            if produced is None:
                batch: Sequence[Event] = []
            elif isinstance(produced, Event):
                batch = [produced]
            else:
                batch = list(produced)
            if not batch:
                return Executed(seq=0, version=version, events=(), state=state, attempts=attempt)
            records: list[RecordedEvent] = []
            try:
                with journal.turn_scope(
                    branch, correlation_id=correlation_id, causation_id=causation_id
                ) as (txn, turn):
                    result = journal.append_in(
                        txn, turn, stream, batch, version, records, rollback_on_error=True
                    )
                    state = spec.fold_all(state, records)
                    if spec.snapshot_every and (
                        result.version // spec.snapshot_every > version // spec.snapshot_every
                    ):
                        self._snapshot(spec, txn.conn, branch, stream, state, result.version,
                                       result.seq)
            except ConcurrencyError as e:
                last_error = e
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
                continue
            return Executed(
                seq=result.seq, version=result.version, events=tuple(records), state=state,
                attempts=attempt,
            )
        assert last_error is not None
        msg = (
            f"execute on {stream!r} lost to concurrent writers {max_attempts} times; "
            "retry later or raise max_attempts"
        )
        error = ConcurrencyError(
            msg, stream=stream, expected=last_error.expected, actual=last_error.actual
        )
        raise caused_by(error, last_error)

    def _snapshot(
        self, spec: HandlerSpec, conn: Any, branch: str, stream: str, state: Any,
        version: int, seq: int,
    ) -> None:
        try:
            value = spec.encode_state(state) if spec.encode_state is not None else state
            blob, enc = self.journal.codec.encode(value, f"state of handler {spec.name}")
        except CodecError as e:
            warnings.warn(
                f"snapshots of handler {spec.name} are off: {e}. Define snapshot_encode/"
                "snapshot_decode, or set snapshot_every = 0 on the handler.",
                SnapshotWarning,
                stacklevel=4,
            )
            spec.snapshot_every = 0
            return
        snapshots.save(
            conn, branch=branch, handler=spec.key, stream=stream, version=version, seq=seq,
            state=blob, enc=enc,
        )

    def verify_snapshots(self, handler: Any) -> list[str]:
        """Re-fold every stored snapshot of `handler` from the journal and compare.

        Returns:
            One line per snapshot that differs from the fold of its stream (empty: all agree).
        """
        spec = self.spec(handler)
        journal = self.journal
        problems: list[str] = []
        rows = snapshots.listing(journal.store.connection(), spec.key)
        for branch, stream, version, seq in rows:
            state = spec.handler.initial()
            folded = 0
            for event in journal.read(branch, stream, to_seq=seq):
                if event.version > version:
                    break
                state = spec.fold_all(state, [event])
                folded = event.version
            value = spec.encode_state(state) if spec.encode_state is not None else state
            expected = journal.codec.encode(value)
            stored = snapshots.latest(
                journal.store.connection(), journal.segments(branch),
                handler=spec.key, stream=stream, at_seq=seq,
            )
            if folded != version:
                problems.append(f"snapshot {spec.key} {stream}@{version}: journal has {folded}")
            elif stored is None or journal.codec.decode(stored.state, stored.enc) != (
                journal.codec.decode(*expected)
            ):
                problems.append(
                    f"snapshot {spec.key} {stream}@{version} differs from the fold of the journal"
                )
        return problems
