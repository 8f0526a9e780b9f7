"""tlo_embed/journal/projections.py and the schema's triggers: projections move with the journal."""

from __future__ import annotations

import tlo_embed
from tlo_embed import Event
from tlo_embed.journal.projections import JOURNAL_TABLES

from .conftest import Raw


def test_the_journal_projections_are_branches_and_streams() -> None:
    """check compares the branches and streams tables as the journal's own projections."""
    assert JOURNAL_TABLES == ("branches", "streams")


def test_each_turn_becomes_its_branch_head(db: tlo_embed.Database, raw: Raw) -> None:
    """After every turn, branches.head_seq is that turn's seq."""
    for expected in (1, 2, 3):
        db.append("s", Event("E"))
        assert raw.value("SELECT head_seq FROM branches WHERE name = 'main'") == expected


def test_each_event_moves_its_stream(db: tlo_embed.Database, raw: Raw) -> None:
    """streams holds each stream's last version and the seq that wrote it, even within one turn."""
    with db.turn() as turn:
        turn.append("a", [Event("E"), Event("E")])
        turn.append("b", Event("E"))
        turn.append("a", Event("E"))
    assert raw.rows("SELECT stream, version, last_seq FROM streams ORDER BY stream") == [
        ("a", 3, 1), ("b", 1, 1),
    ]


def test_a_rolled_back_turn_leaves_the_projections_alone(db: tlo_embed.Database, raw: Raw) -> None:
    """A turn that fails moves neither the branch head nor any stream."""
    db.append("a", Event("E"))
    try:
        with db.turn() as turn:
            turn.append("a", Event("E"))
            turn.append("b", Event("E"))
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    assert raw.rows("SELECT name, head_seq FROM branches") == [("main", 1)]
    assert raw.rows("SELECT stream, version FROM streams") == [("a", 1)]
