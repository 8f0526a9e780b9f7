"""`check`: prove that every projection equals the fold of the journal.

The journal is copied turn by turn into a scratch in-memory database holding a fresh schema,
and replayed through the same functions the write path uses (`apply_turn_head`,
`apply_stream_version`, and every registered `Applier`). Each projection table of the file is
then compared row by row with its rebuilt twin. Journal invariants are checked on the way:
every turn has events, stream versions are contiguous, events and turns agree on the branch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, final

import apsw
import attrs

from tlo_embed.journal.core import Journal
from tlo_embed.journal.projections import (
    JOURNAL_TABLES,
    Applier,
    apply_stream_version,
    apply_turn_head,
)
from tlo_embed.store import sql
from tlo_embed.store._schema import SCHEMA_SQL
from tlo_embed.store.txn import translate

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
    def __init__(self, journal: Journal, appliers: Sequence[Applier]) -> None:
        self.journal = journal
        self.appliers = list(appliers)
        self.scratch = apsw.Connection(":memory:")
        self.scratch.execute(SCHEMA_SQL)
        self.problems: list[str] = []
        self.turns = 0
        self.events = 0
        self.source: apsw.Connection | None = None

    def copy_branches(self, source: apsw.Connection) -> None:
        # Branch definitions (parent, fork point) are copied; heads are rebuilt by replay.
        for name, parent, fork_seq in source.execute(
            "SELECT name, parent, fork_seq FROM branches ORDER BY fork_seq, name"
        ):
            self.scratch.execute(
                "INSERT INTO branches (name, parent, fork_seq) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET parent = excluded.parent,"
                " fork_seq = excluded.fork_seq",
                (name, parent, fork_seq),
            )

    def replay(self, source: apsw.Connection, progress: Progress | None) -> None:
        self.source = source
        total = int(sql.value(source, "SELECT count(*) FROM turns"))
        scratch = self.scratch
        scratch.execute("BEGIN")
        turns = sql.rows(source, "SELECT seq, branch FROM turns ORDER BY seq")
        cursor = source.cursor()
        events_iter = cursor.execute(
            "SELECT seq, idx, branch, stream, version, type, data, enc, metadata, id"
            " FROM events ORDER BY seq, idx"
        )
        pending: Any = next(events_iter, None)
        decoder = self.journal.decoder
        for seq_value, branch_value in turns:
            seq = int(seq_value)
            branch = str(branch_value)
            apply_turn_head(scratch, branch, seq)
            count = 0
            while pending is not None and int(pending[0]) < seq:
                self.problems.append(f"event {pending[0]}.{pending[1]} has no turn")
                pending = next(events_iter, None)
            while pending is not None and int(pending[0]) == seq:
                count += 1
                self._event(scratch, branch, pending, decoder)
                pending = next(events_iter, None)
            if count == 0:
                self.problems.append(f"turn {seq} recorded no events")
            self.turns += 1
            if progress is not None and self.turns % 1000 == 0:
                progress(self.turns, total)
        while pending is not None:
            self.problems.append(f"event {pending[0]}.{pending[1]} has no turn")
            pending = next(events_iter, None)
        scratch.execute("COMMIT")
        if progress is not None:
            progress(self.turns, total)

    def _event(self, scratch: apsw.Connection, branch: str, row: Any, decoder: Any) -> None:
        seq, idx, ev_branch, stream, version = (
            int(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4])
        )
        self.events += 1
        if ev_branch != branch:
            self.problems.append(
                f"event {seq}.{idx} says branch {ev_branch!r} but its turn is on {branch!r}"
            )
        found = sql.value(
            scratch, "SELECT version FROM streams WHERE branch = ? AND stream = ?",
            (ev_branch, stream),
        )
        previous = int(found) if found is not None else self._inherited_version(
            ev_branch, stream, seq
        )
        if version != previous + 1:
            self.problems.append(
                f"event {seq}.{idx}: stream {stream!r} jumps from version {previous} to {version}"
            )
        apply_stream_version(scratch, ev_branch, stream, version, seq)
        if self.appliers and stream.startswith("$"):
            event = decoder.to_event((
                row[0], row[1], row[3], row[4], row[5], row[6], row[7], 1, row[2], row[8],
                row[9], 0,
            ))
            for applier in self.appliers:
                if stream.startswith(applier.stream_prefix):
                    applier.apply(scratch, event)

    def _inherited_version(self, branch: str, stream: str, seq: int) -> int:
        # A stream first written on a fork continues its parent's versions.
        rows = sql.rows(
            self.scratch, "SELECT parent, fork_seq FROM branches WHERE name = ?", (branch,)
        )
        if not rows or rows[0][0] is None:
            return 0
        parent, fork_seq = str(rows[0][0]), int(rows[0][1])
        origin = self.source if self.source is not None else self.scratch
        found = sql.value(
            origin,
            "SELECT max(version) FROM events WHERE branch = ? AND stream = ? AND seq <= ?",
            (parent, stream, fork_seq),
        )
        return 0 if found is None else int(found)

    def compare(self, source: apsw.Connection, table: str) -> None:
        columns = [str(r[1]) for r in source.execute(f"PRAGMA table_info({table})")]
        order = ", ".join(columns)
        actual = set(source.execute(f"SELECT {order} FROM {table}").fetchall())
        expected = set(self.scratch.execute(f"SELECT {order} FROM {table}").fetchall())
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
                self.problems.append(f"{table}: row not explained by the journal "
                                     f"{dict(zip(columns, row))}")
            shown += 1
        if shown > MAX_REPORTED:
            self.problems.append(f"{table}: {shown - MAX_REPORTED} more differences")


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
        raise translate(e, journal.store.path) from e
    finally:
        replay.scratch.close()
    return CheckReport(
        ok=not replay.problems,
        turns=replay.turns,
        events=replay.events,
        tables=tuple(tables),
        problems=tuple(replay.problems),
    )
