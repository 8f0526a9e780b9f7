"""The journal's value types: `Event` (to append), `RecordedEvent` (read back), `AppendResult`.

These are native classes under mypyc: they are built once per event on every read and write.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final, final

from mypy_extensions import mypyc_attr

from tlo_embed.errors import InvalidArgumentError, caused_by

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
        raise caused_by(InvalidArgumentError(msg), e)


def _refuse_assignment(record: object, name: str, value: object) -> None:
    """`__setattr__` of the journal's records: each field may be set once, in `__init__`.

    Compiled by mypyc, `__init__` stores fields natively and never comes here, and the
    `Final` fields refuse assignment anyway; interpreted, this makes the pure build behave
    the same.
    """
    if hasattr(record, name):
        msg = f"{type(record).__name__}.{name} is read-only"
        raise AttributeError(msg)
    object.__setattr__(record, name, value)


@final
@mypyc_attr(native_class=True)
class Event:
    """An event to append: a type name and CBOR-encodable data.

    Args:
        type: the event type, e.g. "OrderPlaced".
        data: the payload: dicts, lists, str, int, float, bool, None, bytes.
        id: a UUID for idempotent appends; generated (UUIDv7) when omitted.
        metadata: an optional map of extra facts (user id, source, ...).
        schema_version: the version of this type's data shape (see upcasters).

    Instances are immutable.
    """

    __slots__ = ("type", "data", "id", "metadata", "schema_version")

    def __init__(
        self,
        type: str,  # noqa: A002 - the field is called type everywhere events are described
        data: Any = None,
        id: uuid.UUID | str | None = None,  # noqa: A002
        metadata: dict[str, Any] | None = None,
        schema_version: int = 1,
    ) -> None:
        self.type: Final = type
        self.data: Final = data
        self.id: Final = id
        self.metadata: Final = metadata
        self.schema_version: Final = schema_version

    def __setattr__(self, name: str, value: object) -> None:
        _refuse_assignment(self, name, value)

    def __repr__(self) -> str:
        extra = ""
        if self.id is not None:
            extra += f", id={self.id!r}"
        if self.metadata is not None:
            extra += f", metadata={self.metadata!r}"
        if self.schema_version != 1:
            extra += f", schema_version={self.schema_version!r}"
        return f"Event({self.type!r}, {self.data!r}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (
            self.type == other.type
            and self.data == other.data
            and self.id == other.id
            and self.metadata == other.metadata
            and self.schema_version == other.schema_version
        )

    __hash__ = None  # type: ignore[assignment]  # data may be a dict: unhashable


@final
@mypyc_attr(native_class=True)
class RecordedEvent:
    """An event as stored in the journal (immutable).

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
        id: the event's UUID (`id_bytes` holds its 16 bytes).
        recorded_at: the turn's time as an aware UTC datetime (`recorded_at_us` holds
            microseconds since the epoch).
    """

    __slots__ = (
        "seq", "index", "stream", "version", "type", "data", "schema_version", "branch",
        "metadata", "id_bytes", "recorded_at_us",
    )

    def __init__(
        self,
        seq: int,
        index: int,
        stream: str,
        version: int,
        type: str,  # noqa: A002
        data: Any,
        schema_version: int,
        branch: str,
        metadata: dict[str, Any] | None,
        id_bytes: bytes,
        recorded_at_us: int,
    ) -> None:
        self.seq: Final = seq
        self.index: Final = index
        self.stream: Final = stream
        self.version: Final = version
        self.type: Final = type
        self.data: Final = data
        self.schema_version: Final = schema_version
        self.branch: Final = branch
        self.metadata: Final = metadata
        self.id_bytes: Final = id_bytes
        self.recorded_at_us: Final = recorded_at_us

    @property
    def id(self) -> uuid.UUID:
        """The event's UUID."""
        return uuid.UUID(bytes=self.id_bytes)

    @property
    def recorded_at(self) -> datetime:
        """When the turn was recorded (UTC)."""
        return datetime.fromtimestamp(self.recorded_at_us / 1_000_000, tz=UTC)

    def __setattr__(self, name: str, value: object) -> None:
        _refuse_assignment(self, name, value)

    def __repr__(self) -> str:
        return (
            f"RecordedEvent(seq={self.seq}, index={self.index}, stream={self.stream!r}, "
            f"version={self.version}, type={self.type!r}, data={self.data!r}, "
            f"schema_version={self.schema_version}, branch={self.branch!r}, "
            f"metadata={self.metadata!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordedEvent):
            return NotImplemented
        return (
            self.seq == other.seq
            and self.index == other.index
            and self.branch == other.branch
            and self.stream == other.stream
            and self.version == other.version
            and self.type == other.type
            and self.schema_version == other.schema_version
            and self.id_bytes == other.id_bytes
            and self.recorded_at_us == other.recorded_at_us
            and self.data == other.data
            and self.metadata == other.metadata
        )

    __hash__ = None  # type: ignore[assignment]  # data may be a dict: unhashable


@final
@mypyc_attr(native_class=True)
class AppendResult:
    """Where an append landed (immutable).

    Attributes:
        seq: the turn's global sequence number.
        version: the stream's version after the append (its last event's version).
        stream: the stream appended to.
        count: how many events the append recorded (the original count for a duplicate).
        duplicate: True when the append was recognised as a repeat and wrote nothing.
    """

    __slots__ = ("seq", "version", "stream", "count", "duplicate")

    def __init__(
        self, seq: int, version: int, stream: str = "", count: int = 0, duplicate: bool = False
    ) -> None:
        self.seq: Final = seq
        self.version: Final = version
        self.stream: Final = stream
        self.count: Final = count
        self.duplicate: Final = duplicate

    def __setattr__(self, name: str, value: object) -> None:
        _refuse_assignment(self, name, value)

    def __repr__(self) -> str:
        return (
            f"AppendResult(seq={self.seq}, version={self.version}, stream={self.stream!r}, "
            f"count={self.count}, duplicate={self.duplicate})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AppendResult):
            return NotImplemented
        return (self.seq, self.version, self.stream, self.count, self.duplicate) == (
            other.seq, other.version, other.stream, other.count, other.duplicate
        )

    def __hash__(self) -> int:
        return hash((self.seq, self.version, self.stream, self.count, self.duplicate))
