"""tlo_embed/journal/branches.py: which turns make up a branch's history."""

from __future__ import annotations

from pathlib import Path

import pytest

import tlo_embed
from tlo_embed.journal import branches
from tlo_embed.journal.branches import UNBOUNDED

from .conftest import Raw


def test_main_exists_in_a_new_file(db: tlo_embed.Database, raw: Raw) -> None:
    """A new file has exactly the branch 'main', with no parent and head 0."""
    assert raw.rows("SELECT name, parent, fork_seq, head_seq FROM branches") == [
        ("main", None, 0, 0)
    ]
    assert branches.MAIN == "main"
    assert db.branch == "main"


def test_the_lineage_of_main_is_one_unbounded_segment(db: tlo_embed.Database) -> None:
    """main's history is all of its own turns."""
    conn = db.journal.store.connection()
    assert branches.lineage(conn, "main") == [("main", UNBOUNDED)]
    assert branches.lineage(conn, "main", 7) == [("main", 7)]


def test_a_fork_lineage_reaches_its_parent_up_to_the_fork_point(
    db: tlo_embed.Database, raw: Raw
) -> None:
    """A child branch's lineage is itself, then its parent bounded by fork_seq (and by upto)."""
    raw.execute("INSERT INTO branches (name, parent, fork_seq) VALUES ('what-if', 'main', 5)")
    raw.execute("INSERT INTO branches (name, parent, fork_seq) VALUES ('deeper', 'what-if', 8)")
    conn = db.journal.store.connection()
    assert branches.lineage(conn, "deeper") == [("deeper", UNBOUNDED), ("what-if", 8), ("main", 5)]
    assert branches.lineage(conn, "deeper", 3) == [("deeper", 3), ("what-if", 3), ("main", 3)]


def test_contains_follows_the_segments() -> None:
    """contains() is true for turns of a listed branch at or below that segment's bound."""
    segments = [("child", UNBOUNDED), ("main", 5)]
    assert branches.contains(segments, "child", 99)
    assert branches.contains(segments, "main", 5)
    assert not branches.contains(segments, "main", 6)
    assert not branches.contains(segments, "other", 1)


def test_the_lineage_of_an_unknown_branch_raises_not_found(db: tlo_embed.Database) -> None:
    """lineage() and head() of a branch that does not exist raise NotFoundError."""
    conn = db.journal.store.connection()
    with pytest.raises(tlo_embed.NotFoundError, match="nope"):
        branches.lineage(conn, "nope")
    with pytest.raises(tlo_embed.NotFoundError):
        branches.head(conn, "nope")


def test_head_follows_the_newest_turn(db: tlo_embed.Database) -> None:
    """head() is 0 for an empty branch and the newest seq after appends."""
    conn = db.journal.store.connection()
    assert branches.head(conn, "main") == 0
    db.append("s", tlo_embed.Event("E"))
    db.append("s", tlo_embed.Event("E"))
    assert branches.head(conn, "main") == 2 == db.last_seq


def test_opening_an_unknown_branch_raises_not_found(db: tlo_embed.Database, db_path: Path) -> None:
    """open(branch=...) of a branch that does not exist raises NotFoundError."""
    with pytest.raises(tlo_embed.NotFoundError):
        tlo_embed.open(db_path, branch="nope")


def test_reads_on_a_fork_see_the_parent_up_to_the_fork_point(
    db: tlo_embed.Database, db_path: Path, raw: Raw
) -> None:
    """A handle on a child branch reads the parent's turns up to fork_seq, not later ones."""
    for i in range(4):
        db.append(f"s-{i}", tlo_embed.Event("E", i))
    raw.execute("INSERT INTO branches (name, parent, fork_seq) VALUES ('what-if', 'main', 2)")
    with tlo_embed.open(db_path, branch="what-if") as child:
        assert [e.data for e in child.read_all()] == [0, 1]
        assert [e.data for e in child.read("s-1")] == [1]
        assert list(child.read("s-3")) == []
        assert child.last_seq == 2
