"""The fold law: whatever sequence of operations ran, the journal folds to the projections.

A hypothesis-generated program of appends (ANY, right, wrong, NO_STREAM, STREAM_EXISTS
expected versions; encodable and unencodable data), multi-stream turns, idempotent repeats (by
key and by event id), subscription batches building a projection table, and reopenings runs
against a fresh file and against a plain-Python model of the journal. Afterwards:

- `check()` is ok (every projection table equals the fold of the journal);
- each stream's version in `streams` equals the number of events read back, and versions run
  1..n;
- `read_all` returns every event in strictly increasing (seq, index) order, each turn whole,
  exactly as the model says (types, data, ids, stream versions);
- every subscription's projection table holds exactly the events it should, once each.
"""

from __future__ import annotations

import tempfile
import uuid
from collections import Counter as Tally
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tlo_embed
from tlo_embed import ANY, NO_STREAM, STREAM_EXISTS, Event

STREAMS = ["a-1", "a-2", "b-1"]
TYPES = ["T1", "T1x", "T2"]
KEYS = ["k1", "k2", "k3"]
#: Expected-version modes, weighted toward appends that succeed.
MODES = ["any", "right", "any", "right", "right", "wrong", "no_stream", "exists"]

#: name -> (types, stream_prefix): what each subscription delivers.
SUBSCRIPTIONS: dict[str, tuple[str | None, str | None]] = {
    "all": (None, None),
    "only-a": (None, "a-"),
    "typed": ("T1*", None),
}

UNENCODABLE = object()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.binary(max_size=12)
)
cbor_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=4),
    max_leaves=8,
)
# Now and then a payload above the compression threshold (2048 bytes).
payloads = cbor_values | st.integers(0, 3).map(lambda k: {"big": "compress me " * (200 + k)})
events = st.lists(st.tuples(st.sampled_from(TYPES), payloads), min_size=1, max_size=4)
unencodable = st.integers(0, 9).map(lambda n: n == 0)
sub_appends = st.tuples(
    st.sampled_from(STREAMS), events, st.sampled_from(MODES), st.integers(1, 3), unencodable
)

ops = st.one_of(
    st.tuples(st.just("append"), sub_appends),
    st.tuples(st.just("append"), sub_appends),
    st.tuples(st.just("turn"), st.lists(sub_appends, max_size=3)),
    st.tuples(st.just("turn"), st.lists(sub_appends, min_size=2, max_size=3)),
    st.tuples(st.just("key"), st.sampled_from(KEYS), sub_appends),
    st.tuples(st.just("ids"), st.sampled_from(["fresh", "repeat", "elsewhere", "partly"]),
              st.integers(0, 1 << 16), sub_appends),
    st.tuples(st.just("nested"), st.lists(st.tuples(st.sampled_from(STREAMS), events),
                                          max_size=1),
              st.sampled_from(STREAMS), events, st.integers(1, 3),
              st.tuples(st.sampled_from(STREAMS), events)),
    st.tuples(st.just("process"), st.sampled_from(sorted(SUBSCRIPTIONS)),
              st.sampled_from([1, 2, 256])),
    st.tuples(st.just("reopen")),
)


@dataclass
class ModelEvent:
    stream: str
    version: int
    type: str
    data: Any
    id: uuid.UUID | None


@dataclass
class Model:
    """The journal as plain Python: committed turns and stream versions."""

    turns: list[list[ModelEvent]] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)  # the seq each turn's append reported
    versions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    keys: dict[str, tuple[str, Any, tlo_embed.AppendResult]] = field(default_factory=dict)
    id_appends: list[tuple[list[uuid.UUID], str, Any, tlo_embed.AppendResult]] = field(
        default_factory=list
    )
    next_id: int = 1

    def fresh_id(self) -> uuid.UUID:
        self.next_id += 1
        return uuid.UUID(int=self.next_id)


def expected_for(mode: str, current: int, delta: int) -> int:
    """The expected_version an append in `mode` passes, given the stream's version."""
    if mode == "any":
        return ANY
    if mode == "right":
        return current
    if mode == "no_stream":
        return NO_STREAM
    if mode == "exists":
        return STREAM_EXISTS
    wrong = current + delta if current - delta < 0 or delta % 2 else current - delta
    assert wrong != current
    return wrong


def satisfied(expected: int, current: int) -> bool:
    """Whether a stream at `current` accepts `expected` (the documented rule)."""
    if expected == ANY:
        return True
    if expected == STREAM_EXISTS:
        return current > 0
    return expected == current


class Runner:
    """Runs one generated program against a fresh file and the model."""

    def __init__(self, directory: str) -> None:
        self.path = Path(directory) / "law.tlo"
        self.clock = tlo_embed.FixedClock(step_us=1000)
        self.model = Model()
        self.db = tlo_embed.open(self.path, clock=self.clock)
        with self.db.turn() as t:
            t.sql("CREATE TABLE seen (sub TEXT, seq INTEGER, idx INTEGER, stream TEXT,"
                  " version INTEGER, PRIMARY KEY (sub, seq, idx)) STRICT")
            t.sql("CREATE TABLE totals (sub TEXT, stream TEXT, n INTEGER,"
                  " PRIMARY KEY (sub, stream)) STRICT")
        assert self.db.last_seq == 0, "a turn that appended nothing is no turn"
        self.subs = self.open_subscriptions()

    def open_subscriptions(self) -> dict[str, tlo_embed.Subscription]:
        return {
            name: self.db.subscribe(name, types=types, stream_prefix=prefix)
            for name, (types, prefix) in SUBSCRIPTIONS.items()
        }

    # -- operations ----------------------------------------------------------------------------

    def batch(self, items: list[tuple[str, Any]], bad: bool,
              ids: list[uuid.UUID] | None = None) -> list[Event]:
        out = [Event(t, d, id=None if ids is None else ids[i]) for i, (t, d) in enumerate(items)]
        if bad:
            out[-1] = Event(out[-1].type, {"not cbor": UNENCODABLE})
        return out

    def plan(self, sub: Any, versions: dict[str, int]) -> tuple[int, tuple[type[Exception], ...]]:
        """The expected_version of a sub-append and the errors it may raise (none: it succeeds).

        A stale version with unencodable data may report either problem: which is found
        first is not part of the contract.
        """
        stream, items, mode, delta, bad = sub
        expected = expected_for(mode, versions[stream], delta)
        errors: tuple[type[Exception], ...] = ()
        if not satisfied(expected, versions[stream]):
            errors += (tlo_embed.ConcurrencyError,)
        if bad:
            errors += (tlo_embed.CodecError,)
        return expected, errors

    def commit(self, appended: list[tuple[Any, tlo_embed.AppendResult,
                                          list[uuid.UUID] | None]]) -> None:
        """Record a committed turn in the model and check what the appends returned."""
        model = self.model
        turn: list[ModelEvent] = []
        seqs = {result.seq for _, result, _ in appended}
        assert len(seqs) == 1, "one turn, one seq"
        seq = seqs.pop()
        assert not model.seqs or seq > model.seqs[-1], "seqs grow"
        for sub, result, ids in appended:
            stream, items, _, _, _ = sub
            start = model.versions[stream]
            assert (result.stream, result.version, result.count, result.duplicate) == (
                stream, start + len(items), len(items), False
            )
            for i, (event_type, data) in enumerate(items):
                turn.append(ModelEvent(stream, start + i + 1, event_type, data,
                                       None if ids is None else ids[i]))
            model.versions[stream] = start + len(items)
        model.turns.append(turn)
        model.seqs.append(seq)

    def append(self, sub: Any, *, key: str | None = None,
               ids: list[uuid.UUID] | None = None) -> tlo_embed.AppendResult | None:
        stream, items, _, _, bad = sub
        expected, errors = self.plan(sub, self.model.versions)
        batch = self.batch(items, bad, ids)
        if errors:
            with pytest.raises(errors) as caught:
                self.db.append(stream, batch, expected_version=expected, idempotency_key=key)
            if isinstance(caught.value, tlo_embed.ConcurrencyError):
                e = caught.value
                assert (e.stream, e.expected, e.actual) == (
                    stream, expected, self.model.versions[stream]
                )
            return None
        result = self.db.append(stream, batch, expected_version=expected, idempotency_key=key)
        self.commit([(sub, result, ids)])
        return result

    def turn(self, subs: list[Any]) -> None:
        versions = dict(self.model.versions)
        failure: tuple[type[Exception], ...] = ()
        for sub in subs:
            _, errors = self.plan(sub, versions)
            if errors:
                failure = errors
                break
            versions[sub[0]] += len(sub[1])
        appended: list[Any] = []

        def run() -> None:
            versions = dict(self.model.versions)
            with self.db.turn() as t:
                for sub in subs:
                    stream, items, mode, delta, bad = sub
                    expected = expected_for(mode, versions[stream], delta)
                    result = t.append(stream, self.batch(items, bad), expected_version=expected)
                    versions[stream] = result.version
                    appended.append((sub, result, None))

        if failure:
            with pytest.raises(failure):
                run()
        else:
            run()
            if appended:
                self.commit(appended)

    def nested(self, before: list[tuple[str, Any]], stream: str, items: Any, delta: int,
               after: tuple[str, Any]) -> None:
        """A db.append that fails inside an open turn, caught there, leaves the turn intact."""
        versions = dict(self.model.versions)
        appended: list[Any] = []

        def ok(sub_stream: str, sub_items: Any, t: tlo_embed.TurnContext) -> None:
            sub = (sub_stream, sub_items, "any", 1, False)
            result = t.append(sub_stream, self.batch(sub_items, False))
            versions[sub_stream] = result.version
            appended.append((sub, result, None))

        with self.db.turn() as t:
            for sub_stream, sub_items in before:
                ok(sub_stream, sub_items, t)
            wrong = expected_for("wrong", versions[stream], delta)
            with pytest.raises(tlo_embed.ConcurrencyError):
                self.db.append(stream, self.batch(items, False), expected_version=wrong)
            ok(*after, t)
        self.commit(appended)

    def keyed(self, key: str, sub: Any) -> None:
        stream = sub[0]
        known = self.model.keys.get(key)
        if known is None:
            result = self.append(sub, key=key)
            if result is not None:
                self.model.keys[key] = (stream, sub[1], result)
            return
        first_stream, first_items, first = known
        if first_stream != stream:
            with pytest.raises(tlo_embed.IdempotencyConflictError):
                self.db.append(stream, self.batch(sub[1], False), idempotency_key=key)
            return
        # An exact retry returns the first append's position whatever it expects, and
        # writes nothing.
        expected = expected_for(sub[2], self.model.versions[stream], sub[3])
        again = self.db.append(stream, self.batch(first_items, False),
                               expected_version=expected, idempotency_key=key)
        assert (again.seq, again.version, again.count, again.duplicate) == (
            first.seq, first.version, first.count, True
        )

    def with_ids(self, how: str, pick: int, sub: Any) -> None:
        model = self.model
        stream, items, mode, delta, _ = sub
        if how == "fresh" or not model.id_appends:
            ids = [model.fresh_id() for _ in items]
            result = self.append(sub, ids=ids)
            if result is not None:
                model.id_appends.append((ids, stream, items, result))
            return
        old_ids, old_stream, old_items, first = model.id_appends[pick % len(model.id_appends)]
        expected = expected_for(mode, model.versions[stream], delta)
        if how == "repeat":
            again = self.db.append(old_stream, self.batch(old_items, False, old_ids),
                                   expected_version=expected)
            assert (again.seq, again.version, again.count, again.duplicate) == (
                first.seq, first.version, first.count, True
            )
            return
        if how == "elsewhere":
            others = [s for s in STREAMS if s != old_stream]
            batch = self.batch(old_items, False, old_ids)
            target = others[pick % len(others)]
        else:  # "partly": one id seen before, one new
            batch = [Event("Again", None, id=old_ids[0]), Event("Again", None,
                                                                id=model.fresh_id())]
            target = old_stream
        with pytest.raises(tlo_embed.IdempotencyConflictError):
            self.db.append(target, batch, expected_version=ANY)

    def process(self, name: str, limit: int) -> None:
        sub = self.subs[name]
        before = sub.position

        def project(turn: tlo_embed.TurnContext, event: tlo_embed.RecordedEvent) -> None:
            turn.sql("INSERT INTO seen (sub, seq, idx, stream, version) VALUES (?, ?, ?, ?, ?)",
                     (name, event.seq, event.index, event.stream, event.version))
            turn.sql("INSERT INTO totals (sub, stream, n) VALUES (?, ?, 1)"
                     " ON CONFLICT (sub, stream) DO UPDATE SET n = n + 1", (name, event.stream))

        delivered = sub.process(project, limit=limit)
        after = sub.position
        assert after >= before
        if delivered < limit:
            assert after == self.db.last_seq, "a batch short of the limit reaches the head"

    def reopen(self) -> None:
        self.db.close()
        self.db = tlo_embed.open(self.path, clock=self.clock)
        self.subs = self.open_subscriptions()

    def run(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "append":
            self.append(op[1])
        elif kind == "turn":
            self.turn(op[1])
        elif kind == "key":
            self.keyed(op[1], op[2])
        elif kind == "ids":
            self.with_ids(op[1], op[2], op[3])
        elif kind == "nested":
            self.nested(*op[1:])
        elif kind == "process":
            self.process(op[1], op[2])
        else:
            self.reopen()

    # -- the law -------------------------------------------------------------------------------

    def verify(self) -> None:
        db, model = self.db, self.model
        report = db.check()
        assert report.ok, report.problems
        assert report.turns == len(model.turns)

        for stream in STREAMS:
            versions = [e.version for e in db.read(stream)]
            assert versions == list(range(1, len(versions) + 1)), stream
            assert db.stream_version(stream) == len(versions) == model.versions[stream], stream

        everything = list(db.read_all())
        positions = [(e.seq, e.index) for e in everything]
        assert all(a < b for a, b in zip(positions, positions[1:])), positions
        turns: list[list[tlo_embed.RecordedEvent]] = []
        for e in everything:
            if turns and turns[-1][0].seq == e.seq:
                turns[-1].append(e)
            else:
                turns.append([e])
        assert [t[0].seq for t in turns] == model.seqs
        assert db.last_seq == (model.seqs[-1] if model.seqs else 0)
        for got, want in zip(turns, model.turns, strict=True):
            assert [e.index for e in got] == list(range(len(want)))
            assert [(e.stream, e.version, e.type, e.data) for e in got] == [
                (m.stream, m.version, m.type, m.data) for m in want
            ]
            for e, m in zip(got, want):
                if m.id is not None:
                    assert e.id == m.id

        with db.turn() as t:
            seen = t.sql("SELECT sub, seq, idx, stream, version FROM seen ORDER BY sub, seq, idx")
            totals = t.sql("SELECT sub, stream, n FROM totals")
        for name, (types, prefix) in SUBSCRIPTIONS.items():
            position = self.subs[name].position
            wanted = [
                e for e in everything
                if e.seq <= position
                and (prefix is None or e.stream.startswith(prefix))
                and (types is None or e.type.startswith("T1"))
            ]
            assert [row[1:] for row in seen if row[0] == name] == [
                (e.seq, e.index, e.stream, e.version) for e in wanted
            ], name
            assert {row[1]: row[2] for row in totals if row[0] == name} == dict(
                Tally(e.stream for e in wanted)
            ), name


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(ops, min_size=8, max_size=40))
def test_journal_folds_to_its_projections(program: list[tuple[Any, ...]]) -> None:
    """After any program of writes and subscription batches, check() is ok; reads match a model."""
    with tempfile.TemporaryDirectory(prefix="tlo-fold-law-") as directory:
        runner = Runner(directory)
        try:
            for op in program:
                runner.run(op)
            runner.verify()
            runner.reopen()
            runner.verify()
        finally:
            runner.db.close()


def test_repeat_of_an_append_made_inside_a_turn_returns_that_appends_position(
    tmp_path: Path,
) -> None:
    """Retrying an append that shared its turn and stream with another returns its own position."""
    with tlo_embed.open(tmp_path / "repeat.tlo") as db:
        first_id = uuid.UUID(int=1)
        with db.turn() as t:
            first = t.append("s", Event("A", 1, id=first_id))
            t.append("s", [Event("B", 2), Event("C", 3)])
        again = db.append("s", Event("A", 1, id=first_id))
        assert again.duplicate
        assert (again.seq, again.version, again.count) == (first.seq, first.version, first.count)
        assert db.stream_version("s") == 3
