"""tlo_embed/journal/check.py: projections must equal the replay of the journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

import tlo_embed
from tlo_embed import Event, RecordedEvent
from tlo_embed.codec.cbor import Codec, dumps
from tlo_embed.codec.upcast import Upcasters
from tlo_embed.journal.check import check
from tlo_embed.journal.core import Journal
from tlo_embed.store.txn import Store

from .conftest import Raw


@pytest.fixture
def filled(db: tlo_embed.Database) -> tlo_embed.Database:
    """Five turns over three streams (seq 3 has two events)."""
    db.append("a", Event("E", 1))
    db.append("b", Event("E", 2))
    db.append("a", [Event("E", 3), Event("E", 4)])
    db.append("c", Event("E", 5))
    db.append("a", Event("E", 6))
    return db


def test_a_clean_file_checks_ok(filled: tlo_embed.Database) -> None:
    """An untouched file passes after replaying every turn and event and comparing the tables."""
    report = filled.check()
    assert report.ok, report.problems
    assert (report.turns, report.events, report.problems) == (5, 6, ())
    assert report.tables == (
        "branches", "streams", "tasks", "jobs", "job_deps", "schedules", "leases", "plugins",
        "plugin_kv",
    )


def test_an_empty_file_checks_ok(db: tlo_embed.Database) -> None:
    """A new file with no turns passes."""
    report = db.check()
    assert report.ok and report.turns == 0 and report.events == 0


def test_a_tampered_streams_row_is_reported(filled: tlo_embed.Database, raw: Raw) -> None:
    """A streams row whose version was changed is reported against the streams table."""
    raw.execute("UPDATE streams SET version = 99 WHERE stream = 'b'")
    report = filled.check()
    assert not report.ok
    assert report.problems
    assert all(p.startswith("streams:") for p in report.problems), report.problems
    assert any("99" in p for p in report.problems)


def test_a_payload_with_bytes_after_its_cbor_item_is_reported(
    filled: tlo_embed.Database, raw: Raw
) -> None:
    """Reads decode the intact item of a payload with junk appended; check reports the damage."""
    data = raw.value("SELECT data FROM events WHERE stream = 'b'")
    assert isinstance(data, bytes)
    raw.execute("UPDATE events SET data = ? WHERE stream = 'b'", (data + b"\x00",))
    assert [e.data for e in filled.read("b")] == [2]
    report = filled.check()
    assert not report.ok
    assert any(p.startswith("event 2.0 of stream 'b': stored payload is damaged")
               and "1 bytes after the CBOR item" in p for p in report.problems), report.problems


def test_undecodable_metadata_is_reported(filled: tlo_embed.Database, raw: Raw) -> None:
    """Metadata that is not one CBOR item is reported against its event."""
    raw.execute("UPDATE events SET metadata = x'ff' WHERE stream = 'c'")
    report = filled.check()
    assert any(p.startswith("event 4.0 of stream 'c': stored payload is damaged")
               for p in report.problems), report.problems


def test_an_extra_streams_row_is_reported(filled: tlo_embed.Database, raw: Raw) -> None:
    """A streams row no event explains is reported."""
    raw.execute("INSERT INTO streams VALUES ('main', 'ghost', 3, 2)")
    report = filled.check()
    assert not report.ok
    assert any(p.startswith("streams:") and "ghost" in p and "not explained" in p
               for p in report.problems), report.problems


def test_a_missing_streams_row_is_reported(filled: tlo_embed.Database, raw: Raw) -> None:
    """A stream whose streams row was deleted is reported as missing."""
    raw.execute("DELETE FROM streams WHERE stream = 'c'")
    report = filled.check()
    assert any(p.startswith("streams: missing") and "'c'" in p for p in report.problems)


def test_a_deleted_event_in_the_middle_of_a_stream_is_reported(
    filled: tlo_embed.Database, raw: Raw
) -> None:
    """Deleting an event leaves a gap in its stream's versions, which check reports."""
    raw.execute("DELETE FROM events WHERE seq = 3 AND idx = 1")
    report = filled.check()
    assert not report.ok
    assert any("jumps" in p and "'a'" in p for p in report.problems), report.problems


def test_a_turn_whose_only_event_was_deleted_is_reported(
    filled: tlo_embed.Database, raw: Raw
) -> None:
    """A turn left with no events is reported, as is the stream it no longer explains."""
    raw.execute("DELETE FROM events WHERE seq = 4")
    report = filled.check()
    assert "turn 4 recorded no events" in report.problems
    assert any(p.startswith("streams:") for p in report.problems)


def test_an_event_without_its_turn_is_reported(filled: tlo_embed.Database, raw: Raw) -> None:
    """An event whose turn row is gone is reported."""
    raw.execute("DELETE FROM turns WHERE seq = 2")
    report = filled.check()
    assert "event 2.0 has no turn" in report.problems


def test_a_tampered_branch_head_is_reported(filled: tlo_embed.Database, raw: Raw) -> None:
    """A branch head that is not the last turn on the branch is reported against branches."""
    raw.execute("UPDATE branches SET head_seq = 2 WHERE name = 'main'")
    report = filled.check()
    assert any(p.startswith("branches:") for p in report.problems), report.problems


def test_an_event_on_another_branch_than_its_turn_is_reported(
    filled: tlo_embed.Database, raw: Raw
) -> None:
    """An event whose branch disagrees with its turn's is reported."""
    raw.execute("INSERT INTO branches (name, parent, fork_seq) VALUES ('side', 'main', 0)")
    raw.execute("UPDATE events SET branch = 'side' WHERE seq = 5")
    report = filled.check()
    assert any("event 5.0 says branch 'side'" in p for p in report.problems), report.problems


def test_progress_is_reported_at_the_end(filled: tlo_embed.Database) -> None:
    """progress(done, total) is called with the final counts."""
    calls: list[tuple[int, int]] = []
    filled.check(progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (5, 5)


def test_integrity_can_be_skipped(filled: tlo_embed.Database) -> None:
    """check(integrity=False) still replays and compares."""
    assert filled.check(integrity=False).ok


def test_check_does_not_write(filled: tlo_embed.Database, db_path: Path) -> None:
    """Checking leaves the file's tables as they were."""
    before = _dump(db_path)
    filled.check()
    assert _dump(db_path) == before


def _dump(path: Path) -> list[Any]:
    conn = apsw.Connection(str(path))
    try:
        return [tuple(r) for t in ("turns", "events", "streams", "branches")
                for r in conn.execute(f"SELECT * FROM {t}")]
    finally:
        conn.close()


# -- appliers (projections contributed by layers above) ----------------------------------------


class RecordingApplier:
    """Keeps one row per '$rec' event in the snapshots table, holding chosen facts of it."""

    def __init__(self, fact: str) -> None:
        self.fact = fact

    @property
    def name(self) -> str:
        return "recording"

    @property
    def stream_prefix(self) -> str:
        return "$rec"

    @property
    def tables(self) -> tuple[str, ...]:
        return ("snapshots",)

    def apply(self, conn: apsw.Connection, event: RecordedEvent) -> None:
        facts: dict[str, Any] = {"type": event.type, "version": event.version}
        if self.fact == "recorded_at":
            facts["at"] = event.recorded_at_us
        elif self.fact == "schema_version":
            facts["schema"] = event.schema_version
        elif self.fact == "data":
            facts["data"] = event.data
        conn.execute(
            "INSERT INTO snapshots (branch, handler, stream, version, seq, state, enc)"
            " VALUES (?, 'applier', ?, ?, ?, ?, 0)",
            (event.branch, event.stream, event.version, event.seq, dumps(facts)),
        )


@pytest.fixture
def open_journal(db_path: Path, clock: tlo_embed.FixedClock) -> Iterator[Any]:
    """Builds a Journal with injected appliers and upcasters on a fresh file."""
    stores: list[Store] = []

    def make(applier: RecordingApplier, upcasters: Upcasters | None = None) -> Journal:
        store = Store(str(db_path), durability="normal", busy_timeout=5.0, create=True,
                      now_us=clock.now_us(), library_version="test")
        stores.append(store)
        return Journal(store, codec=Codec(), upcasters=upcasters or Upcasters(), clock=clock,
                       appliers=[applier])

    yield make
    for store in stores:
        store.close()


def test_applier_tables_are_compared(open_journal: Any) -> None:
    """An applier's table is rebuilt and compared: clean passes, a tampered row is reported."""
    journal = open_journal(RecordingApplier("data"))
    journal.append("main", "$rec-1", [Event("A", 1), Event("B", 2)])
    journal.append("main", "plain", Event("C", 3))
    report = check(journal)
    assert report.ok, report.problems
    assert report.tables == ("branches", "streams", "snapshots")
    journal.store.connection().execute("UPDATE snapshots SET version = 7 WHERE version = 2")
    report = check(journal)
    assert any(p.startswith("snapshots:") for p in report.problems), report.problems


@pytest.mark.parametrize("fact", ["recorded_at", "schema_version", "data"])
def test_replay_gives_appliers_the_event_the_write_path_gave(
    open_journal: Any, fact: str
) -> None:
    """An applier that records the turn time, schema version or data is rebuilt identically."""
    journal = open_journal(RecordingApplier(fact))
    journal.append("main", "$rec-1", [Event("A", 1), Event("A", 2, schema_version=3)])
    journal.append("main", "$rec-1", Event("B", {"x": [1, 2]}))
    report = check(journal)
    assert report.ok, report.problems


@pytest.mark.parametrize("fact", ["schema_version", "data"])
def test_replay_gives_appliers_stored_events_even_with_upcasters(
    open_journal: Any, fact: str
) -> None:
    """With an upcaster registered, replay hands appliers the stored event, as appends do."""
    upcasters = Upcasters()
    upcasters.register("A", 1, lambda data: {"lifted": data})
    journal = open_journal(RecordingApplier(fact), upcasters)
    journal.append("main", "$rec-1", Event("A", 1))
    report = check(journal)
    assert report.ok, report.problems
