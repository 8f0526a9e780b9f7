"""The journal's value types: `Event` (to append), `RecordedEvent` (read back), `AppendResult`.

These are native classes under mypyc: they are built once per event on every read and write.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, final

from mypy_extensions import mypyc_attr

from tlo_embed.errors import InvalidArgumentError

#: `expected_version` value: append whatever the stream's version is.
ANY: Final = -1
#: `expected_version` value: the stream must not exist yet (same as 0).
NO_STREAM: Final = 0
#: `expected_version` value: the stream must already exist, at any version.
STREAM_EXISTS: Final = -2


def describe_expected(expected: int) -> str:
    """Human words for an `expected_version` value, for error messages."""
    if expected == ANY:
        return "any version"
    if expected == NO_STREAM:
        return "no stream"
    if expected == STREAM_EXISTS:
        return "an existing stream"
    return f"version {expected}"


def coerce_event_id(value: uuid.UUID | str | bytes | None) -> bytes | None:
    """Normalise an event id given by a caller to 16 bytes (None: generate one later).

    Raises:
        InvalidArgumentError: the value is not a UUID.
    """
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, bytes):
        if len(value) != 16:
            msg = f"an event id given as bytes must be 16 bytes, got {len(value)}"
            raise InvalidArgumentError(msg)
        return value
    try:
        return uuid.UUID(value).bytes
    except ValueError as e:
        msg = f"event id {value!r} is not a UUID"
        raise InvalidArgumentError(msg) from e


@final
@mypyc_attr(native_class=True)
@dataclass(frozen=True, slots=True)
class Event:
    """An event to append: a type name and CBOR-encodable data.

    Args:
        type: the event type, e.g. "OrderPlaced".
        data: the payload: dicts, lists, str, int, float, bool, None, bytes.
        id: a UUID for idempotent appends; generated (UUIDv7) when omitted.
        metadata: an optional map of extra facts (user id, source, ...).
        schema_version: the version of this type's data shape (see upcasters).
    """

    type: str
    data: Any = None
    id: uuid.UUID | str | None = None
    metadata: dict[str, Any] | None = None
    schema_version: int = 1


@final
@mypyc_attr(native_class=True)
@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored in the journal.

    Attributes:
        seq: the turn that recorded it (global order; events of one turn share it).
        index: its position inside the turn (0, 1, ...).
        stream: the stream it belongs to.
        version: its position in the stream (1, 2, ...).
        type: the event type.
        data: the decoded (and upcast) payload.
        schema_version: the data's version after upcasting.
        branch: the branch whose turn recorded it.
        metadata: the metadata map, or None.
        id: the event's UUID (property).
        recorded_at: the turn's time as an aware UTC datetime (property).
    """

    seq: int
    index: int
    stream: str
    version: int
    type: str
    data: Any
    schema_version: int
    branch: str
    metadata: dict[str, Any] | None
    id_bytes: bytes = field(repr=False)
    recorded_at_us: int = field(repr=False)

    @property
    def id(self) -> uuid.UUID:
        """The event's UUID."""
        return uuid.UUID(bytes=self.id_bytes)

    @property
    def recorded_at(self) -> datetime:
        """When the turn was recorded (UTC)."""
        return datetime.fromtimestamp(self.recorded_at_us / 1_000_000, tz=UTC)


@final
@mypyc_attr(native_class=True)
@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed.

    Attributes:
        seq: the turn's global sequence number.
        version: the stream's version after the append (its last event's version).
        stream: the stream appended to.
        count: how many events the append recorded (the original count for a duplicate).
        duplicate: True when the append was recognised as a repeat and wrote nothing.
    """

    seq: int
    version: int
    stream: str = ""
    count: int = 0
    duplicate: bool = False
