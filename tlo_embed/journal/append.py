"""Appending events to a stream inside the current turn.

Optimistic concurrency: the stream's version (from the `streams` projection, read inside the
write transaction, so nothing can change it meanwhile) is compared with `expected_version`.
Idempotency: an idempotency key or event id seen before in this branch's history returns the
original position and writes nothing; reused for different events, it is an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import apsw

from tlo_embed.clock import new_event_id
from tlo_embed.codec.cbor import ENC_CBOR, Codec, decode, dumps, is_stored_form, plain
from tlo_embed.errors import ConcurrencyError, IdempotencyConflictError, InvalidArgumentError
from tlo_embed.journal import branches
from tlo_embed.journal.projections import Applier
from tlo_embed.journal.records import (
    ANY,
    STREAM_EXISTS,
    AppendResult,
    Event,
    RecordedEvent,
    coerce_event_id,
    describe_expected,
)
from tlo_embed.journal.turns import Turn
from tlo_embed.store import sql
from tlo_embed.store.txn import Txn

# The version is computed by the insert itself from the `streams` projection, which a trigger
# advances after each row, so a batch inserted row by row gets consecutive versions.
_INSERT_EVENT_PLAIN = (
    "INSERT INTO events (seq, idx, branch, stream, version, type, schema_version, id, data,"
    " enc, metadata, recorded_at) VALUES (?1, ?2, ?3, ?4,"
    " coalesce((SELECT version FROM streams WHERE branch = ?3 AND stream = ?4), 0) + 1,"
    " ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
)
_INSERT_EVENT = _INSERT_EVENT_PLAIN + " RETURNING version"


def validate_stream(stream: str) -> None:
    """Raise InvalidArgumentError for a stream name that cannot be stored."""
    if not isinstance(stream, str) or not stream:
        msg = f"a stream name must be a non-empty string, got {stream!r}"
        raise InvalidArgumentError(msg)


def check_expected(stream: str, expected: int, actual: int) -> None:
    """Raise ConcurrencyError unless `actual` satisfies `expected`."""
    if expected == ANY:
        return
    if expected == STREAM_EXISTS:
        ok = actual > 0
    elif expected < STREAM_EXISTS:
        msg = f"expected_version must be >= 0 or ANY/NO_STREAM/STREAM_EXISTS, got {expected}"
        raise InvalidArgumentError(msg)
    else:
        ok = actual == expected
    if not ok:
        msg = (
            f"stream {stream!r} is at version {actual}, but the append expected "
            f"{describe_expected(expected)}"
        )
        raise ConcurrencyError(msg, stream=stream, expected=expected, actual=actual)


def stream_version(conn: apsw.Connection, branch: str, stream: str) -> int:
    """The stream's current version on `branch` (0 when it does not exist)."""
    found = sql.value(
        conn, "SELECT version FROM streams WHERE branch = ? AND stream = ?", (branch, stream)
    )
    return 0 if found is None else int(found)


Prepared = tuple[int, str, str, str, int, bytes, bytes, int, bytes | None, int]
"""An event row ready to insert, minus its seq: (idx, branch, stream, type, schema_version,
id, data, enc, metadata, recorded_at)."""


def _repeat_of(
    conn: apsw.Connection,
    seq: int,
    stream: str,
    first_version: int,
    rows: list[Prepared],
    explicit: list[bool],
    key: str,
    label: str,
) -> AppendResult:
    """The original result, if `rows` repeat turn `seq`'s events of `stream` from `first_version`.

    Raises:
        IdempotencyConflictError: turn `seq` recorded something else there under the same
            key or id.
    """
    stored = sql.rows(
        conn,
        # Through CAST: bare `?`s made SQLite re-plan this every time (store/sql.py).
        f"SELECT version, type, id, data, enc FROM events WHERE seq = {sql.INT_PARAM}"
        f" AND stream = {sql.TEXT_PARAM} AND version >= ? ORDER BY version"
        f" LIMIT {sql.INT_PARAM}",
        (seq, stream, first_version, len(rows)),
    )
    same = len(stored) == len(rows)
    if same:
        for i, row in enumerate(rows):
            version, event_type, event_id, data, enc = stored[i]
            if (
                version != first_version + i
                or event_type != row[3]
                or (explicit[i] and event_id != row[5])
                or plain(data, enc) != plain(row[6], row[7])
            ):
                same = False
                break
    if not same:
        msg = (
            f"{label} was already used by turn {seq} for a different append; an idempotent "
            f"retry must repeat the same events to {stream!r}"
        )
        raise IdempotencyConflictError(msg, key=key, seq=seq)
    return AppendResult(
        seq=seq, version=first_version + len(rows) - 1, stream=stream, count=len(rows),
        duplicate=True,
    )


def _turn_with_key(conn: apsw.Connection, segments: branches.Lineage, key: str) -> int:
    """The seq of the turn in this history that used idempotency key `key` (0: none)."""
    for seq, turn_branch in sql.rows(
        conn,  # through CAST: a bare `?` made SQLite re-plan this every time (store/sql.py)
        f"SELECT seq, branch FROM turns WHERE idempotency_key = {sql.TEXT_PARAM} ORDER BY seq",
        (key,),
    ):
        if branches.contains(segments, turn_branch, seq):
            return int(seq)
    return 0


def repeat_by_key(
    conn: apsw.Connection, turn: Turn, stream: str, rows: list[Prepared], explicit: list[bool]
) -> AppendResult | None:
    """If `turn` retries a turn recorded under its idempotency key, match this append to it.

    The appends of a retried turn must repeat the original turn's appends in order: each
    stream's events are matched from where the previous append to that stream stopped.

    Raises:
        IdempotencyConflictError: the recorded turn holds other events for this stream.
    """
    key = turn.idempotency_key
    if key is None:
        return None
    if turn.seq == 0 and turn.repeat_of == 0:
        turn.repeat_of = _turn_with_key(conn, branches.lineage(conn, turn.branch), key)
    if turn.repeat_of == 0:
        return None
    label = f"idempotency key {key!r}"
    first = turn.repeat_next.get(stream)
    if first is None:
        found = sql.value(
            conn,  # through CAST: bare `?`s made SQLite re-plan this every time
            f"SELECT min(version) FROM events WHERE seq = {sql.INT_PARAM}"
            f" AND stream = {sql.TEXT_PARAM}",
            (turn.repeat_of, stream),
        )
        if found is None:
            msg = (
                f"{label} was already used by turn {turn.repeat_of}, which did not append to "
                f"{stream!r}; an idempotent retry must repeat the same appends"
            )
            raise IdempotencyConflictError(msg, key=key, seq=turn.repeat_of)
        first = int(found)
    result = _repeat_of(conn, turn.repeat_of, stream, first, rows, explicit, key, label)
    turn.repeat_next[stream] = result.version + 1
    return result


def repeat_by_id(
    conn: apsw.Connection, branch: str, stream: str, rows: list[Prepared], explicit: list[bool]
) -> AppendResult | None:
    """The original result if an explicit event id of `rows` is already in the history.

    The first such id places the batch: its recorded version, less its position in the
    batch, is where the repeat must start, in the same turn and stream.

    Raises:
        IdempotencyConflictError: the id was used for other events.
    """
    segments: branches.Lineage | None = None
    for i, row in enumerate(rows):
        if not explicit[i]:
            continue
        if segments is None:
            segments = branches.lineage(conn, branch)
        for seq, event_branch, event_stream, version in sql.rows(
            conn, "SELECT seq, branch, stream, version FROM events WHERE id = ?", (row[5],)
        ):
            if branches.contains(segments, event_branch, seq):
                event_id = str(uuid.UUID(bytes=row[5]))
                label = f"event id {event_id}"
                if event_stream != stream:
                    msg = f"{label} was already recorded in stream {event_stream!r}, not {stream!r}"
                    raise IdempotencyConflictError(msg, key=event_id, seq=seq)
                return _repeat_of(
                    conn, seq, stream, version - i, rows, explicit, event_id, label
                )
    return None


def prepare(
    codec: Codec, turn: Turn, stream: str, events: Sequence[object]
) -> tuple[list[Prepared], list[bool]]:
    """Check and encode every event before anything is written (no partial turn).

    `events` is typed `Sequence[object]` on purpose: compiled code would otherwise check
    each item's type on the way in and raise a bare TypeError instead of ours.

    Returns:
        The rows, and for each whether the caller gave its id.

    Raises:
        InvalidArgumentError: an item is not an Event, has an empty type, a malformed id, or
            repeats an id given earlier in the batch.
        CodecError: data or metadata cannot be encoded.
    """
    now = turn.recorded_at_us
    branch = turn.branch
    idx = turn.next_idx
    rows: list[Prepared] = []
    explicit: list[bool] = []
    seen: set[bytes] = set()
    for i, event in enumerate(events):
        if not isinstance(event, Event):
            msg = f"append to {stream!r}: item {i} is {type(event).__name__}, not an Event"
            raise InvalidArgumentError(msg)
        if not isinstance(event.type, str) or not event.type:
            msg = f"append to {stream!r}: event {i} needs a non-empty str type"
            raise InvalidArgumentError(msg)
        given = coerce_event_id(event.id)
        if given is not None:
            if given in seen:
                msg = f"append to {stream!r}: event id {uuid.UUID(bytes=given)} appears twice"
                raise InvalidArgumentError(msg)
            seen.add(given)
        data, enc = codec.encode(event.data, f"data of event {i} ({event.type}) in {stream!r}")
        meta: bytes | None = None
        if event.metadata is not None:
            # Metadata stays plain CBOR (never compressed): small, and readable by any tool.
            meta = dumps(event.metadata, f"metadata of event {i} in {stream!r}")
        rows.append((
            idx + i, branch, stream, event.type, event.schema_version,
            given if given is not None else new_event_id(now), data, enc, meta, now,
        ))
        explicit.append(given is not None)
    return rows, explicit


def append_events(
    txn: Txn,
    turn: Turn,
    codec: Codec,
    appliers: Sequence[Applier],
    stream: str,
    events: Sequence[Event],
    expected: int,
    records: list[RecordedEvent] | None,
    *,
    rollback_on_error: bool,
) -> AppendResult:
    """Append `events` to `stream` in `turn`; decoded copies go to `records` when given.

    With `rollback_on_error`, the caller's scope rolls back everything if this raises, so the
    expected version is checked after the insert (which computes the versions itself: one
    statement fewer on the hot path). Otherwise it is checked before anything is written.

    Raises:
        ConcurrencyError: the stream's version does not satisfy `expected`.
        IdempotencyConflictError: an idempotency key or event id was reused differently.
        CodecError: some data or metadata cannot be encoded.
        InvalidArgumentError: an empty stream name, an empty batch, a malformed event.
    """
    validate_stream(stream)
    if not events:
        msg = f"append to {stream!r} needs at least one event"
        raise InvalidArgumentError(msg)
    rows, explicit = prepare(codec, turn, stream, events)
    conn = txn.conn
    duplicate = repeat_by_key(conn, turn, stream, rows, explicit)
    if duplicate is None and any(explicit):
        duplicate = repeat_by_id(conn, turn.branch, stream, rows, explicit)
    if duplicate is not None:
        return duplicate
    if not rollback_on_error and expected != ANY:
        check_expected(stream, expected, stream_version(conn, turn.branch, stream))
    now = turn.recorded_at_us
    idx = turn.next_idx
    branch = turn.branch
    seq = turn.allocate(txn)
    bound = [(seq, *row) for row in rows]
    if len(bound) == 1:
        first = int(sql.value(conn, _INSERT_EVENT, bound[0]))
    else:
        first = int(sql.rows(conn, _INSERT_EVENT, bound[0])[0][0])
        conn.executemany(_INSERT_EVENT_PLAIN, bound[1:])
    check_expected(stream, expected, first - 1)
    version = first + len(rows) - 1
    turn.next_idx = idx + len(rows)
    if records is not None or (appliers and stream.startswith("$")):
        for i, row in enumerate(rows):
            meta = row[8]
            # Callers and appliers see the stored form (tuples come back as lists), exactly
            # what a later replay of the journal will see. Data already in that form is
            # handed to appliers as it is (callers get a copy of their own: it is theirs).
            given = events[i].data
            data = given if records is None and is_stored_form(given) else codec.decode(
                row[6], row[7])
            rec = RecordedEvent(
                seq=seq, index=idx + i, stream=stream, version=first + i, type=row[3],
                data=data, schema_version=row[4], branch=branch,
                metadata=None if meta is None else decode_metadata(meta), id_bytes=row[5],
                recorded_at_us=now,
            )
            if records is not None:
                records.append(rec)
            if appliers and stream.startswith("$"):
                apply_engine_event(conn, appliers, rec)
    return AppendResult(seq=seq, version=version, stream=stream, count=len(rows))


def decode_metadata(blob: bytes) -> dict[str, Any] | None:
    """Decode a stored metadata map (None if it is not a map)."""
    value = decode(blob, ENC_CBOR)
    return value if isinstance(value, dict) else None


def apply_engine_event(
    conn: apsw.Connection, appliers: Sequence[Applier], event: RecordedEvent
) -> None:
    """Run every applier whose stream prefix matches the event's stream."""
    for applier in appliers:
        if event.stream.startswith(applier.stream_prefix):
            applier.apply(conn, event)
