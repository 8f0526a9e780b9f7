"""tlo_embed/journal/core.py: the Journal engine object shared by the layers above."""

from __future__ import annotations

from typing import Any

import pytest

import tlo_embed
from tlo_embed import Event
from tlo_embed.journal.core import as_event_list


def test_as_event_list_accepts_one_event_or_a_sequence() -> None:
    """One Event becomes a one-item list; a list or tuple of Events is passed through."""
    event = Event("E")
    assert list(as_event_list(event)) == [event]
    assert list(as_event_list([event, event])) == [event, event]
    assert list(as_event_list((event,))) == [event]


@pytest.mark.parametrize("given", ["E", b"E", {"type": "E"}], ids=["str", "bytes", "dict"])
def test_as_event_list_refuses_strings_bytes_and_dicts(given: Any) -> None:
    """A str, bytes or dict given as events raises InvalidArgumentError naming its type."""
    with pytest.raises(tlo_embed.InvalidArgumentError, match=type(given).__name__):
        as_event_list(given)


def test_last_seq_is_the_newest_turn_in_the_file(db: tlo_embed.Database) -> None:
    """Journal.last_seq is the newest seq on any branch; head(branch) the newest on that branch."""
    journal = db.journal
    assert journal.last_seq() == 0 and journal.head("main") == 0
    db.append("a", Event("E"))
    db.append("b", Event("E"))
    assert journal.last_seq() == 2 and journal.head("main") == 2


def test_journal_append_opens_its_own_turn(db: tlo_embed.Database) -> None:
    """Journal.append on a branch records one turn and returns where it landed."""
    result = db.journal.append("main", "s", [Event("A"), Event("B")], expected_version=0,
                               correlation_id="c")
    assert (result.seq, result.version, result.count) == (1, 2, 2)
    assert db.journal.stream_version("main", "s") == 2


def test_journal_append_to_an_unknown_branch_raises_not_found(db: tlo_embed.Database) -> None:
    """Appending on a branch that does not exist raises NotFoundError and writes nothing."""
    with pytest.raises(tlo_embed.NotFoundError):
        db.journal.append("nope", "s", Event("E"))
    assert db.journal.last_seq() == 0
