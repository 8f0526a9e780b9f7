"""tlo_embed/journal/snapshots.py: saving, pruning and finding snapshot rows."""

from __future__ import annotations

import tlo_embed
from tlo_embed.journal import snapshots
from tlo_embed.journal.branches import UNBOUNDED

MAIN = [("main", UNBOUNDED)]


def _save(db: tlo_embed.Database, version: int, seq: int, *, keep: int = snapshots.KEEP,
          handler: str = "h@1", stream: str = "s") -> None:
    with db.journal.store.write() as txn:
        snapshots.save(txn.conn, branch="main", handler=handler, stream=stream, version=version,
                       seq=seq, state=f"state-{version}".encode(), enc=0, keep=keep)


def _versions(db: tlo_embed.Database, handler: str = "h@1") -> list[int]:
    return [v for _, _, v, _ in snapshots.listing(db.journal.store.connection(), handler)]


def test_save_keeps_only_the_newest_snapshots(db: tlo_embed.Database) -> None:
    """Saving more than `keep` snapshots of a stream prunes the oldest ones."""
    for n in range(1, 6):
        _save(db, n * 10, n)
    assert snapshots.KEEP == 3
    assert _versions(db) == [30, 40, 50]


def test_pruning_is_per_handler_and_stream(db: tlo_embed.Database) -> None:
    """Snapshots of other streams or handlers are not pruned by a save."""
    _save(db, 1, 1, stream="other")
    _save(db, 1, 1, handler="g@1")
    for n in range(1, 5):
        _save(db, n, n, keep=2)
    rows = snapshots.listing(db.journal.store.connection(), "h@1")
    assert rows == [("main", "other", 1, 1), ("main", "s", 3, 3), ("main", "s", 4, 4)]
    assert _versions(db, "g@1") == [1]


def test_latest_is_the_newest_snapshot_at_or_before_a_seq(db: tlo_embed.Database) -> None:
    """latest(at_seq) returns the highest-version snapshot taken at or before that seq."""
    _save(db, 3, 5)
    _save(db, 6, 9)
    conn = db.journal.store.connection()
    found = snapshots.latest(conn, MAIN, handler="h@1", stream="s", at_seq=UNBOUNDED)
    assert found is not None
    assert (found.version, found.seq, found.state, found.enc) == (6, 9, b"state-6", 0)
    older = snapshots.latest(conn, MAIN, handler="h@1", stream="s", at_seq=8)
    assert older is not None and older.version == 3
    assert snapshots.latest(conn, MAIN, handler="h@1", stream="s", at_seq=4) is None


def test_latest_ignores_other_handlers_streams_and_branches(db: tlo_embed.Database) -> None:
    """latest only finds snapshots of its handler key and stream in the given lineage."""
    _save(db, 3, 5)
    conn = db.journal.store.connection()
    assert snapshots.latest(conn, MAIN, handler="h@2", stream="s", at_seq=UNBOUNDED) is None
    assert snapshots.latest(conn, MAIN, handler="h@1", stream="t", at_seq=UNBOUNDED) is None
    assert snapshots.latest(conn, [("other", UNBOUNDED)], handler="h@1", stream="s",
                            at_seq=UNBOUNDED) is None


def test_saving_the_same_version_again_replaces_it(db: tlo_embed.Database) -> None:
    """A second save at the same (handler, stream, version) overwrites the first."""
    _save(db, 3, 5)
    with db.journal.store.write() as txn:
        snapshots.save(txn.conn, branch="main", handler="h@1", stream="s", version=3, seq=5,
                       state=b"new", enc=0)
    found = snapshots.latest(db.journal.store.connection(), MAIN, handler="h@1", stream="s",
                             at_seq=UNBOUNDED)
    assert found is not None and found.state == b"new"
    assert _versions(db) == [3]
