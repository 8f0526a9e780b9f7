"""tlo_embed/database.py: the public facade (open options, status, lifecycle)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import tlo_embed
from tlo_embed import Event
from tlo_embed.store.migrate import SCHEMA_VERSION


@pytest.mark.parametrize(
    "options",
    [
        {"durability": "sometimes"},
        {"busy_timeout": 0},
        {"busy_timeout": -1.0},
        {"compress_threshold": -1},
        {"snapshot_every": -5},
    ],
    ids=["durability", "busy-zero", "busy-negative", "threshold", "snapshot-every"],
)
def test_bad_open_options_are_refused_before_touching_the_file(
    db_path: Path, options: dict[str, object]
) -> None:
    """Invalid options raise InvalidArgumentError and no file is created."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        tlo_embed.open(db_path, **options)  # type: ignore[arg-type]
    assert not db_path.exists()


def test_open_accepts_str_and_pathlike(db_path: Path) -> None:
    """open() takes a str or a PathLike; db.path is the str form."""
    with tlo_embed.open(str(db_path)) as db:
        assert db.path == str(db_path)
    with tlo_embed.open(db_path) as db:
        assert db.path == str(db_path)


def test_status_reports_the_file(db: tlo_embed.Database, db_path: Path,
                                 clock: tlo_embed.FixedClock) -> None:
    """status() counts turns, events, streams, subscriptions and snapshots and lists branches."""
    db.append("a", [Event("E"), Event("E")])
    db.append("b", Event("E"))
    db.subscribe("sub")
    status = db.status()
    assert status.path == str(db_path.resolve())
    assert status.size_bytes > 0
    assert status.schema_version == SCHEMA_VERSION
    assert (status.durability, status.branch, status.last_seq) == ("normal", "main", 2)
    assert (status.turns, status.events, status.streams) == (2, 3, 2)
    assert (status.subscriptions, status.snapshots) == (1, 0)
    assert [(b.name, b.parent, b.fork_seq, b.head_seq) for b in status.branches] == [
        ("main", None, 0, 2)
    ]
    assert status.created_by == tlo_embed.__version__
    assert isinstance(status.created_at_us, int)


def test_repr_names_the_file_and_branch(db: tlo_embed.Database, db_path: Path) -> None:
    """repr shows the path and the branch, or that the handle is closed."""
    assert repr(db) == f"<tlo_embed.Database {str(db_path)!r} branch='main'>"


def test_two_handles_on_one_file_see_each_others_commits(db: tlo_embed.Database,
                                                          db_path: Path) -> None:
    """A second handle on the same file reads what the first committed, and vice versa."""
    with tlo_embed.open(db_path) as other:
        db.append("s", Event("A"))
        assert [e.type for e in other.read("s")] == ["A"]
        other.append("s", Event("B"), expected_version=1)
        assert [e.type for e in db.read("s")] == ["A", "B"]


def test_wait_returns_when_a_newer_turn_commits(db: tlo_embed.Database) -> None:
    """db.wait(after_seq) returns True once a turn after after_seq exists, False on timeout."""
    db.append("s", Event("E"))
    assert db.wait(0, timeout=0) is True
    assert db.wait(1, timeout=0.05) is False
    writer = threading.Thread(target=lambda: db.append("s", Event("E")))
    writer.start()
    try:
        assert db.wait(1, timeout=10) is True
    finally:
        writer.join(10)


def test_a_handle_is_usable_from_many_threads(db: tlo_embed.Database) -> None:
    """Reads from several threads at once all see the committed events."""
    db.append("s", [Event("E", i) for i in range(50)])
    results: list[int] = []
    lock = threading.Lock()

    def read() -> None:
        total = sum(e.data for e in db.read("s"))
        with lock:
            results.append(total)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [sum(range(50))] * 4
