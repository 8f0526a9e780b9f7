"""Reading the journal: by stream, across all streams, by event id.

Reads are lazy: they fetch pages of `PAGE_SIZE` rows keyed by position, so iterating a long
history holds no read transaction open between pages (checkpoints proceed) and memory stays
flat. The journal is append-only, so paging by key never skips or repeats an event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Final, final

import apsw

from tlo_embed.codec.cbor import ENC_CBOR, decode
from tlo_embed.codec.upcast import Upcasters
from tlo_embed.errors import InvalidArgumentError
from tlo_embed.journal.branches import UNBOUNDED, Lineage, lineage_clause
from tlo_embed.journal.records import RecordedEvent
from tlo_embed.store.sql import INT_PARAM, TEXT_PARAM
from tlo_embed.store.sql import rows as sql_rows

PAGE_SIZE: Final = 512

#: Columns every event query selects, in the order `to_event` reads them.
COLUMNS: Final = (
    "e.seq, e.idx, e.stream, e.version, e.type, e.data, e.enc, e.schema_version, e.branch,"
    " e.metadata, e.id, e.recorded_at"
)
FROM: Final = "FROM events AS e"

#: A row selected with `COLUMNS`. Typed exactly, so compiled code reads its items directly
#: (the STRICT schema guarantees the types).
EventRow = tuple[int, int, str, int, str, bytes, int, int, str, bytes | None, bytes, int]


@final
class EventFilter:
    """Which events of the whole journal a reader wants.

    Args:
        types: GLOB patterns (SQLite GLOB: *, ?, [..]; case-sensitive) matched on the type.
        stream_prefix: only streams whose name starts with this.
    """

    def __init__(self, types: Sequence[str] | None = None, stream_prefix: str | None = None) -> None:
        if isinstance(types, str):
            types = [types]
        self.types: list[str] = list(types) if types else []
        self.stream_prefix = stream_prefix or None

    def clause(self) -> tuple[str, tuple[object, ...]]:
        """SQL conditions (joined with AND, starting with ' AND ') and their bindings."""
        sql = ""
        bindings: list[object] = []
        if self.types:
            # Patterns through TEXT_PARAM: bare `?`s made SQLite re-plan every page.
            sql += " AND (" + " OR ".join([f"e.type GLOB {TEXT_PARAM}"] * len(self.types)) + ")"
            bindings.extend(self.types)
        if self.stream_prefix is not None:
            sql += " AND substr(e.stream, 1, ?) = ?"
            bindings.append(len(self.stream_prefix))
            bindings.append(self.stream_prefix)
        return sql, tuple(bindings)


@final
class EventDecoder:
    """Turns event rows into `RecordedEvent`s, upcasting where upcasters are registered."""

    def __init__(self, upcasters: Upcasters) -> None:
        self.upcasters = upcasters

    def to_event(self, row: EventRow) -> RecordedEvent:
        """Build a RecordedEvent from a row selected with `COLUMNS`."""
        seq, idx, stream, version, event_type, blob, enc, schema_version, branch, meta, \
            event_id, recorded_at = row
        data = decode(blob, enc)
        if self.upcasters.has(event_type):
            data, schema_version = self.upcasters.upcast(event_type, schema_version, data)
        metadata = None
        if meta is not None:
            value = decode(meta, ENC_CBOR)
            metadata = value if isinstance(value, dict) else None
        return RecordedEvent(
            seq, idx, stream, version, event_type, data, schema_version, branch, metadata,
            event_id, recorded_at,
        )


ConnectionSource = Callable[[], apsw.Connection]


def read_stream(
    connection: ConnectionSource,
    decoder: EventDecoder,
    segments: Lineage,
    stream: str,
    *,
    from_version: int,
    backward: bool,
    limit: int | None,
    to_seq: int = UNBOUNDED,
) -> Iterator[RecordedEvent]:
    """Events of one stream in version order (descending when `backward`).

    `from_version` is inclusive; backward reads start there (0 means the newest event).
    Only events recorded at or before `to_seq` are returned.
    """
    if limit is not None and limit < 0:
        msg = f"limit must be >= 0, got {limit}"
        raise InvalidArgumentError(msg)
    where, lineage_bindings = lineage_clause(segments)
    op, order = ("<=", "DESC") if backward else (">=", "ASC")
    # Stream and LIMIT bound through CAST: bare, SQLite re-planned every page (store/sql.py).
    sql = (
        f"SELECT {COLUMNS} {FROM} WHERE {where} AND e.stream = {TEXT_PARAM}"
        f" AND e.version {op} ? AND e.seq <= ? ORDER BY e.version {order} LIMIT {INT_PARAM}"
    )
    position = from_version
    if backward and position <= 0:
        position = UNBOUNDED
    remaining = -1 if limit is None else limit
    while remaining != 0:
        page = PAGE_SIZE if remaining < 0 else min(PAGE_SIZE, remaining)
        rows = sql_rows(connection(), sql, (*lineage_bindings, stream, position, to_seq, page))
        for row in rows:
            yield decoder.to_event(row)
        if len(rows) < page:
            return
        last = int(rows[-1][3])
        position = last - 1 if backward else last + 1
        if remaining > 0:
            remaining -= len(rows)


def read_all(
    connection: ConnectionSource,
    decoder: EventDecoder,
    segments: Lineage,
    *,
    from_seq: int,
    to_seq: int,
    where: EventFilter,
    limit: int | None,
) -> Iterator[RecordedEvent]:
    """Every event of the branch's history with from_seq <= seq <= to_seq, in journal order."""
    if limit is not None and limit < 0:
        msg = f"limit must be >= 0, got {limit}"
        raise InvalidArgumentError(msg)
    branch_sql, lineage_bindings = lineage_clause(segments, scan_in_seq_order=True)
    filter_sql, filter_bindings = where.clause()
    # LIMIT bound through CAST: bare, SQLite re-planned every page (store/sql.py).
    sql = (
        f"SELECT {COLUMNS} {FROM} WHERE (e.seq, e.idx) > (?, ?) AND e.seq <= ? AND {branch_sql}"
        f"{filter_sql} ORDER BY e.seq, e.idx LIMIT {INT_PARAM}"
    )
    after_seq = from_seq - 1
    after_idx = (1 << 62)
    remaining = -1 if limit is None else limit
    while remaining != 0:
        page = PAGE_SIZE if remaining < 0 else min(PAGE_SIZE, remaining)
        rows = sql_rows(
            connection(), sql,
            (after_seq, after_idx, to_seq, *lineage_bindings, *filter_bindings, page),
        )
        for row in rows:
            yield decoder.to_event(row)
        if len(rows) < page:
            return
        after_seq = int(rows[-1][0])
        after_idx = int(rows[-1][1])
        if remaining > 0:
            remaining -= len(rows)


def read_by_id(
    conn: apsw.Connection, decoder: EventDecoder, segments: Lineage, event_id: bytes
) -> RecordedEvent | None:
    """The event with this id in the branch's history, or None."""
    where, bindings = lineage_clause(segments)
    rows = sql_rows(conn, f"SELECT {COLUMNS} {FROM} WHERE e.id = ? AND {where}",
                    (event_id, *bindings))
    return decoder.to_event(rows[0]) if rows else None
