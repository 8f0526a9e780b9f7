"""The determinism law: reading the journal is a pure function of the file.

For a hypothesis-generated history (appends, multi-stream turns, handler commands, reopenings):
reading everything twice, through another handle, and after reopening gives equal
`RecordedEvent`s; stream reads, paged reads and id lookups agree with the whole-journal read;
and a handler's state from `db.state()` (snapshot plus tail) equals folding `read()` by hand,
now and as of every earlier turn.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tlo_embed
from tlo_embed import Event, RecordedEvent

STREAMS = ["acct-1", "acct-2", "notes"]

scalars = (
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False)
    | st.text(max_size=10) | st.binary(max_size=10)
)
cbor_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                               max_size=3),
    max_leaves=6,
)
plain_events = st.lists(st.tuples(st.sampled_from(["Noted", "Other"]), cbor_values),
                        min_size=1, max_size=3)
ops = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(STREAMS), plain_events),
    st.tuples(st.just("turn"), st.lists(st.tuples(st.sampled_from(STREAMS), plain_events),
                                        min_size=1, max_size=3)),
    st.tuples(st.just("execute"), st.sampled_from(STREAMS[:2]), st.integers(-50, 100)),
    st.tuples(st.just("execute"), st.sampled_from(STREAMS[:2]), st.integers(-50, 100)),
    st.tuples(st.just("reopen")),
)


class Ledger:
    """A balance that refuses to go negative; other events on its stream are counted as gaps."""

    name = "Ledger"
    snapshot_every = 3

    def initial(self) -> dict[str, Any]:
        return {"balance": 0, "moves": []}

    def fold(self, state: dict[str, Any], event: RecordedEvent) -> dict[str, Any]:
        if event.type == "Moved":
            amount = int(event.data["amount"])
            return {"balance": state["balance"] + amount, "moves": [*state["moves"], amount]}
        return {"balance": state["balance"], "moves": [*state["moves"], None]}

    def process(self, state: dict[str, Any], amount: int) -> Event:
        if state["balance"] + amount < 0:
            raise ValueError(f"balance {state['balance']} cannot pay {-amount}")
        return Event("Moved", {"amount": amount})


def fold_by_hand(events: list[RecordedEvent]) -> dict[str, Any]:
    ledger = Ledger()
    state = ledger.initial()
    for event in events:
        state = ledger.fold(state, event)
    return state


def run(db: tlo_embed.Database, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "append":
        db.append(op[1], [Event(t, d) for t, d in op[2]])
    elif kind == "turn":
        with db.turn() as t:
            for stream, items in op[1]:
                t.append(stream, [Event(name, d) for name, d in items])
    else:
        stream, amount = op[1], op[2]
        before = db.state(Ledger, stream)
        if before["balance"] + amount < 0:
            last = db.last_seq
            with pytest.raises(ValueError, match="cannot pay"):
                db.execute(Ledger, stream, amount)
            assert db.last_seq == last, "a refused command writes nothing"
            return
        done = db.execute(Ledger, stream, amount)
        assert done.state == db.state(Ledger, stream)
        assert [e.type for e in done.events] == ["Moved"]


def assert_same_reads(db: tlo_embed.Database, everything: list[RecordedEvent]) -> None:
    """Every way of reading agrees with `everything` (one whole-journal read)."""
    assert list(db.read_all()) == everything
    for stream in STREAMS:
        mine = [e for e in everything if e.stream == stream]
        assert list(db.read(stream)) == mine
        assert list(db.read(stream, backward=True)) == mine[::-1]
        assert list(db.read(stream, from_version=2, limit=2)) == mine[1:3]
    seqs = sorted({e.seq for e in everything})
    for seq in seqs[:: max(1, len(seqs) // 4)]:
        assert list(db.read_all(seq)) == [e for e in everything if e.seq >= seq]
        assert list(db.read_all(to_seq=seq)) == [e for e in everything if e.seq <= seq]
    assert list(db.read_all(limit=3)) == everything[:3]
    for event in everything[::7]:
        assert db.get_event(event.id) == event


def assert_states_fold(db: tlo_embed.Database, everything: list[RecordedEvent]) -> None:
    """db.state() (snapshots plus tail) equals folding the stream by hand, at every turn."""
    seqs = sorted({e.seq for e in everything})
    for stream in STREAMS[:2]:
        mine = list(db.read(stream))
        assert db.state(Ledger, stream) == fold_by_hand(mine)
        for seq in seqs:
            assert db.state(Ledger, stream, at_seq=seq) == fold_by_hand(
                [e for e in mine if e.seq <= seq]
            ), (stream, seq)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(ops, min_size=5, max_size=30))
def test_reads_and_replays_are_deterministic(program: list[tuple[Any, ...]]) -> None:
    """Every read gives equal events, before and after reopening; db.state() == fold of read()."""
    clock = tlo_embed.FixedClock(step_us=1000)
    with tempfile.TemporaryDirectory(prefix="tlo-determinism-law-") as directory:
        path = Path(directory) / "law.tlo"
        db = tlo_embed.open(path, clock=clock)
        try:
            for op in program:
                if op[0] == "reopen":
                    db.close()
                    db = tlo_embed.open(path, clock=clock)
                else:
                    run(db, op)
            first = list(db.read_all())
            assert list(db.read_all()) == first
            assert_same_reads(db, first)
            assert_states_fold(db, first)
            with tlo_embed.open(path) as other:
                assert list(other.read_all()) == first
            report = db.check(handlers=[Ledger])
            assert report.ok, report.problems
            db.close()
            db = tlo_embed.open(path, clock=clock)
            assert list(db.read_all()) == first
            assert_same_reads(db, first)
            assert_states_fold(db, first)
        finally:
            db.close()
