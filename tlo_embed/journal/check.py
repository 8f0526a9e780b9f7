"""`check`: prove that every projection equals the fold of the journal.

The journal is copied turn by turn into a scratch database holding a fresh schema, so the
same triggers that keep the journal's projections in the file rebuild them there, and every
registered `Applier` is run over its engine events. Each projection table of the file is
then compared row by row with its rebuilt twin. Journal invariants are checked on the way:
every turn has events, stream versions are contiguous, events and turns agree on the branch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, final

import apsw
import attrs

from tlo_embed.codec.cbor import ENC_CBOR, decode
from tlo_embed.errors import CodecError, caused_by
from tlo_embed.codec.upcast import Upcasters
from tlo_embed.journal.core import Journal
from tlo_embed.journal.projections import JOURNAL_TABLES, Applier
from tlo_embed.journal.read import EventDecoder
from tlo_embed.store import sql
from tlo_embed.store._schema import SCHEMA_SQL
from tlo_embed.store.sql import translate

#: Differences reported per table before the rest are summarised.
MAX_REPORTED: Final = 20

Progress = Callable[[int, int], None]


@attrs.frozen(kw_only=True)
class CheckReport:
    """What `check` found.

    Attributes:
        ok: True when nothing is wrong.
        turns: turns replayed.
        events: events replayed.
        tables: projection tables compared.
        problems: one line per problem found.
    """

    ok: bool
    turns: int
    events: int
    tables: tuple[str, ...]
    problems: tuple[str, ...]


@final
class _Replay:
    """Rebuilds the projections from the journal in a scratch database.

    The scratch database has the real schema, so inserting a journal row fires the same
    triggers that maintain the journal's projections in the file. Payloads are not copied:
    the journal's own projections never read them (appliers get the decoded event).
    """

    def __init__(self, journal: Journal, appliers: Sequence[Applier]) -> None:
        self.journal = journal
        self.appliers = list(appliers)
        self.scratch = apsw.Connection("")  # a private temporary file: large journals fit
        self.scratch.execute(SCHEMA_SQL)
        # Appliers get events in their stored form, as the append path gives them: replay
        # must not upcast, or a registered upcaster would make check report false problems.
        self.decoder = EventDecoder(Upcasters())
        self.problems: list[str] = []
        self.turns = 0
        self.events = 0

    def copy_branches(self, source: apsw.Connection) -> None:
        # Branch definitions (parent, fork point) are copied; heads are rebuilt by replay.
        for name, parent, fork_seq in sql.rows(
            source, "SELECT name, parent, fork_seq FROM branches ORDER BY fork_seq, name"
        ):
            self.scratch.execute(
                "INSERT INTO branches (name, parent, fork_seq) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET parent = excluded.parent,"
                " fork_seq = excluded.fork_seq",
                (name, parent, fork_seq),
            )

    def replay(self, source: apsw.Connection, progress: Progress | None) -> None:
        total = int(sql.value(source, "SELECT count(*) FROM turns"))
        scratch = self.scratch
        scratch.execute("BEGIN")
        turns = source.cursor().execute(
            "SELECT seq, branch, parent_seq, recorded_at FROM turns ORDER BY seq"
        )
        events: Any = source.cursor().execute(
            "SELECT seq, idx, branch, stream, version, type, schema_version, id, data, enc,"
            " metadata, recorded_at FROM events ORDER BY seq, idx"
        )
        pending: Any = next(events, None)
        for seq, branch, parent_seq, recorded_at in turns:
            while pending is not None and pending[0] < seq:
                self.problems.append(f"event {pending[0]}.{pending[1]} has no turn")
                pending = next(events, None)
            head = sql.value(scratch, "SELECT head_seq FROM branches WHERE name = ?", (branch,))
            if head is not None and head != parent_seq:
                self.problems.append(
                    f"turn {seq}: parent_seq {parent_seq} but branch {branch!r} was at {head}"
                )
            try:
                scratch.execute(
                    "INSERT INTO turns (seq, branch, parent_seq, recorded_at) VALUES (?, ?, ?, ?)",
                    (seq, branch, parent_seq, recorded_at),
                )
            except apsw.ConstraintError:
                self.problems.append(f"turn {seq} is on unknown branch {branch!r}")
            count = 0
            while pending is not None and pending[0] == seq:
                count += 1
                self._event(scratch, str(branch), pending, int(recorded_at))
                pending = next(events, None)
            if count == 0:
                self.problems.append(f"turn {seq} recorded no events")
            self.turns += 1
            if progress is not None and self.turns % 1000 == 0:
                progress(self.turns, total)
        while pending is not None:
            self.problems.append(f"event {pending[0]}.{pending[1]} has no turn")
            pending = next(events, None)
        scratch.execute("COMMIT")
        if progress is not None:
            progress(self.turns, total)

    def _event(self, scratch: apsw.Connection, branch: str, row: Any, recorded_at: int) -> None:
        seq, idx, ev_branch, stream, version = row[0], row[1], row[2], row[3], row[4]
        self.events += 1
        if ev_branch != branch:
            self.problems.append(
                f"event {seq}.{idx} says branch {ev_branch!r} but its turn is on {branch!r}"
            )
        if row[11] != recorded_at:
            self.problems.append(
                f"event {seq}.{idx} says recorded_at {row[11]} but its turn says {recorded_at}"
            )
        found = sql.value(
            scratch, "SELECT version FROM streams WHERE branch = ? AND stream = ?",
            (ev_branch, stream),
        )
        previous = 0 if found is None else int(found)
        if version != previous + 1:
            self.problems.append(
                f"event {seq}.{idx}: stream {stream!r} jumps from version {previous} to {version}"
            )
        try:
            scratch.execute(
                "INSERT INTO events (seq, idx, branch, stream, version, type, schema_version, id,"
                " data, enc, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, x'', 0, NULL, ?)",
                (seq, idx, ev_branch, stream, version, row[5], row[6], row[7], recorded_at),
            )
        except apsw.ConstraintError:
            self.problems.append(f"event {seq}.{idx}: stream {stream!r} repeats version {version}")
        damage = _payload_damage(row[8], row[9], row[10])
        if damage:
            self.problems.append(f"event {seq}.{idx} of stream {stream!r}: {damage}")
            return
        if self.appliers and str(stream).startswith("$"):
            event = self.decoder.to_event(
                (seq, idx, stream, version, row[5], row[8], row[9], row[6], ev_branch, row[10],
                 row[7], recorded_at)
            )
            for applier in self.appliers:
                if event.stream.startswith(applier.stream_prefix):
                    applier.apply(scratch, event)

    def compare(self, source: apsw.Connection, table: str) -> None:
        columns = [str(r[1]) for r in sql.rows(source, f"PRAGMA table_info({table})")]
        order = ", ".join(columns)
        actual = set(sql.rows(source, f"SELECT {order} FROM {table}"))
        expected = set(sql.rows(self.scratch, f"SELECT {order} FROM {table}"))
        if actual == expected:
            return
        missing = sorted(expected - actual, key=repr)
        extra = sorted(actual - expected, key=repr)
        shown = 0
        for row in missing:
            if shown < MAX_REPORTED:
                self.problems.append(f"{table}: missing row {dict(zip(columns, row))}")
            shown += 1
        for row in extra:
            if shown < MAX_REPORTED:
                self.problems.append(
                    f"{table}: row not explained by the journal {dict(zip(columns, row))}"
                )
            shown += 1
        if shown > MAX_REPORTED:
            self.problems.append(f"{table}: {shown - MAX_REPORTED} more differences")


def _payload_damage(data: bytes, enc: int, metadata: bytes | None) -> str:
    """What is wrong with an event's stored payload or metadata ("" when both decode).

    Decoded strictly: reads tolerate bytes after the CBOR item, `check` reports them.
    """
    try:
        decode(data, enc, strict=True)
        if metadata is not None:
            decode(metadata, ENC_CBOR, strict=True)
    except CodecError as e:
        return str(e)
    return ""


def check(
    journal: Journal,
    *,
    integrity: bool = True,
    progress: Progress | None = None,
) -> CheckReport:
    """Replay the journal and compare every projection table with the file's.

    Args:
        integrity: also run SQLite's `PRAGMA quick_check` on the file.
        progress: called as progress(turns_done, turns_total) during the replay.
    """
    source = journal.store.connection()
    replay = _Replay(journal, journal.appliers)
    tables: list[str] = list(JOURNAL_TABLES)
    for applier in journal.appliers:
        tables.extend(applier.tables)
    try:
        # One read transaction: the whole check sees a single state of the file.
        source.execute("BEGIN")
        try:
            if integrity:
                for (line,) in source.execute("PRAGMA quick_check"):
                    if line != "ok":
                        replay.problems.append(f"sqlite: {line}")
            replay.copy_branches(source)
            replay.replay(source, progress)
            for table in tables:
                replay.compare(source, table)
        finally:
            source.execute("COMMIT")
    except apsw.Error as e:
        raise caused_by(translate(e, journal.store.path), e)
    finally:
        replay.scratch.close()
    return CheckReport(
        ok=not replay.problems,
        turns=replay.turns,
        events=replay.events,
        tables=tuple(tables),
        problems=tuple(replay.problems),
    )
