"""tlo_embed/plugins/runtime.py: host calls (kv, journal, log, clock, random) and turn semantics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from .plugin_wat import LUMEN_WAT, WASI_WAT, host_wat, wasm

import tlo_embed
from tlo_embed import Event, PluginTrap
from tlo_embed.plugins import runtime
from tlo_embed.plugins.host import PluginHost

ALL_HOST = ["log", "kv", "journal", "clock", "random"]


@pytest.fixture
def hdb(db: tlo_embed.Database) -> Iterator[tlo_embed.Database]:
    """A database with the host-calling plugin `h` installed with every grant."""
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    yield db


def test_kv_writes_are_events_of_one_turn_with_the_call(hdb: tlo_embed.Database) -> None:
    """A put records KvPut and PluginCalled in one turn; the kv table is their projection."""
    before = hdb.last_seq
    hdb.plugins.call("h", "put", "color", "blue")
    assert hdb.last_seq == before + 1
    events = list(hdb.read("$plugin-h"))
    assert [e.type for e in events] == ["KvPut", "PluginCalled"]
    assert {e.seq for e in events} == {hdb.last_seq}
    assert events[0].data == {"key": "color", "value": "blue"}
    called = events[1].data
    assert (called["plugin"], called["version"], called["export"]) == ("h", 1, "put")
    assert called["args"] == ["color", "blue"] and called["result"] is None
    assert hdb.plugins.kv("h") == {"color": "blue"}
    assert hdb.plugins.call("h", "get", "color") == "blue"
    assert hdb.check().ok


def test_a_call_without_effects_writes_nothing(hdb: tlo_embed.Database) -> None:
    """Reads, clock and random change nothing, so no turn is written."""
    hdb.plugins.call("h", "put", "k", "v")
    seq = hdb.last_seq
    for _ in range(3):
        assert hdb.plugins.call("h", "get", "k") == "v"
        hdb.plugins.call("h", "now")
        hdb.plugins.call("h", "keys", "")
    assert hdb.last_seq == seq


def test_reads_see_the_calls_own_writes_and_earlier_state(hdb: tlo_embed.Database) -> None:
    """swap returns the value before its put; put-get sees its own put; delete and keys."""
    assert hdb.plugins.call("h", "swap", "a", "1") is None
    assert hdb.plugins.call("h", "swap", "a", "2") == "1"
    assert hdb.plugins.call("h", "put-get", "b", "x") == "x"
    hdb.plugins.call("h", "put", "c", "y")
    assert hdb.plugins.call("h", "keys", "") == ["a", "b", "c"]
    assert hdb.plugins.call("h", "delete", "b") is True
    assert hdb.plugins.call("h", "delete", "b") is False
    assert hdb.plugins.call("h", "keys", "") == ["a", "c"]
    assert hdb.plugins.kv("h") == {"a": "2", "c": "y"}


def test_a_trapped_call_leaves_the_database_unchanged(hdb: tlo_embed.Database) -> None:
    """put-then-trap: the put never happened; the next call runs on a fresh instance."""
    hdb.plugins.call("h", "put", "k", "old")
    seq = hdb.last_seq
    with pytest.raises(PluginTrap) as caught:
        hdb.plugins.call("h", "put-then-trap", "k", "new")
    assert caught.value.kind == "unreachable"
    with pytest.raises(PluginTrap):
        hdb.plugins.call("h", "append-then-trap", "orders", "Placed", "{}")
    assert hdb.last_seq == seq
    assert hdb.stream_version("orders") == 0
    assert hdb.plugins.call("h", "get", "k") == "old"


def test_journal_append_and_read(hdb: tlo_embed.Database) -> None:
    """Appends become events of the call's turn (JSON payload as data); reads return JSON."""
    hdb.append("orders", Event("Placed", {"id": 1}))
    assert hdb.plugins.call("h", "append", "orders", "Shipped", '{"id": 1, "by": "van"}') == 2
    shipped = list(hdb.read("orders"))[-1]
    assert (shipped.type, shipped.data, shipped.version) == ("Shipped", {"id": 1, "by": "van"}, 2)
    assert shipped.metadata == {"plugin": "h", "export": "append"}
    rows = hdb.plugins.call("h", "read", "orders")
    assert [(v, t, json.loads(p)) for v, t, p in rows] == [
        (1, "Placed", {"id": 1}), (2, "Shipped", {"id": 1, "by": "van"}),
    ]
    called = list(hdb.read("$plugin-h"))[-1]
    assert called.seq == shipped.seq  # one turn


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("$plugins", "X", "{}"), "engine's own"),
        (("", "X", "{}"), "stream name is empty"),
        (("s", "", "{}"), "non-empty event type"),
        (("s", "X", "{not json"), "not JSON"),
    ],
)
def test_host_functions_refuse_bad_arguments(
    hdb: tlo_embed.Database, args: tuple[str, str, str], words: str
) -> None:
    """A host function called with bad arguments traps the call with kind "host"."""
    seq = hdb.last_seq
    with pytest.raises(PluginTrap, match=words) as caught:
        hdb.plugins.call("h", "append", *args)
    assert caught.value.kind == "host"
    assert hdb.last_seq == seq
    with pytest.raises(PluginTrap, match="a kv key must have") as empty_key:
        hdb.plugins.call("h", "put", "", "v")
    assert empty_key.value.kind == "host"
    assert hdb.plugins.call("h", "now") > 0


def test_log_lines_are_captured(hdb: tlo_embed.Database) -> None:
    """The log interface's lines are kept per plugin, in order."""
    hdb.plugins.call("h", "log", "first")
    hdb.plugins.call("h", "log", "second")
    lines = hdb.plugins.log("h")
    assert [(line.level, line.message) for line in lines] == [("info", "first"), ("info", "second")]
    assert str(lines[0]) == "[info] first"
    assert hdb.plugins.log("other") == []


def test_a_recorded_call_keeps_its_log_lines_in_the_file(
    hdb: tlo_embed.Database, db_path: Path
) -> None:
    """A recorded call journals its log lines in its PluginCalled event, which another
    process reads; an unrecorded call's lines stay in memory; a failed call writes nothing."""
    hdb.plugins.call("h", "log", "not recorded")  # wrote nothing: not recorded
    with hdb.turn():
        hdb.plugins.call("h", "log", "in a turn")
    hdb.plugins.call("h", "log", "asked", record=True)
    seq = hdb.last_seq
    with pytest.raises(PluginTrap):
        hdb.plugins.call("h", "put", "", "bad key")  # traps: nothing kept
    assert hdb.last_seq == seq
    assert [line.message for line in hdb.plugins.log("h")] == [
        "not recorded", "in a turn", "asked"]
    with tlo_embed.open(db_path, readonly=True) as other:
        calls = other.plugins.calls("h")
        assert [[(line.level, line.message) for line in call.log] for call in calls] == [
            [("info", "in a turn")], [("info", "asked")]]
        assert calls[0].log[0].at_us == calls[0].time_us and calls[0].log_dropped == 0
        assert other.plugins.log("h") == []  # the in-memory log is per process


def test_the_recorded_log_is_bounded() -> None:
    """At most RECORDED_LOG_LINES lines and RECORDED_LOG_CHARS characters are journaled."""
    from tlo_embed.plugins import host, model

    lines = [("info", "x" * 10)] * (model.RECORDED_LOG_LINES + 5)
    kept, dropped = host._recorded_log(lines)
    assert (len(kept), dropped) == (model.RECORDED_LOG_LINES, 5)
    kept, dropped = host._recorded_log([("info", "y" * (model.RECORDED_LOG_CHARS + 10))] * 2)
    assert len(kept) == 1 and len(kept[0][1]) == model.RECORDED_LOG_CHARS and dropped == 1


def test_clock_and_random_come_from_the_turn(hdb: tlo_embed.Database) -> None:
    """now-ms is the turn's time; stamp's (kv write + clock + random) is replayed exactly."""
    value = hdb.plugins.call("h", "stamp", "s")
    [record] = hdb.plugins.calls("h")
    turn_time_ms = list(hdb.read("$plugin-h"))[-1].recorded_at_us // 1000
    assert record.time_us // 1000 == turn_time_ms
    assert turn_time_ms <= value < turn_time_ms + 1000
    check = hdb.plugins.verify(record)
    assert check.same, check.differences
    assert check.result == value


def test_verify_reports_a_changed_plugin(hdb: tlo_embed.Database) -> None:
    """After an upgrade that changes `rand`, verify(using="current") differs; "recorded" not."""
    hdb.plugins.call("h", "rand", 1000, record=True)
    hdb.plugins.call("h", "swap", "k", "v")
    rand_call, swap_call = hdb.plugins.calls("h")
    assert hdb.plugins.verify(rand_call).same
    assert hdb.plugins.verify(swap_call).same  # sees the kv state before the call
    hdb.plugins.install(wasm(host_wat(rand_offset=7)), name="h", grants=ALL_HOST, upgrade=True)
    changed = hdb.plugins.verify(rand_call)
    assert not changed.same and changed.version == 2
    assert changed.result == rand_call.result + 7
    assert "result" in changed.differences[0]
    assert hdb.plugins.verify(rand_call, using="recorded").same


def test_calls_inside_a_turn_see_and_join_it(hdb: tlo_embed.Database) -> None:
    """Inside db.turn(), a call sees the turn's writes and commits (or rolls back) with it."""
    with hdb.turn() as turn:
        turn.append("orders", Event("Placed", {"id": 1}))
        hdb.plugins.call("h", "put", "k", "v", turn=turn)
        assert hdb.plugins.call("h", "get", "k", turn=turn) == "v"
        assert [v for v, _, _ in hdb.plugins.call("h", "read", "orders", turn=turn)] == [1]
        seq = turn.seq
    assert {e.seq for e in hdb.read("$plugin-h")} == {seq}
    assert [e.type for e in hdb.read("$plugin-h")] == ["KvPut", "PluginCalled", "PluginCalled", "PluginCalled"]
    with pytest.raises(RuntimeError):
        with hdb.turn() as turn:
            hdb.plugins.call("h", "put", "k", "rolled back")
            raise RuntimeError("abandon the turn")
    assert hdb.plugins.kv("h") == {"k": "v"}
    assert hdb.check().ok


def test_a_failed_call_inside_a_turn_keeps_the_turn_going(hdb: tlo_embed.Database) -> None:
    """A trap inside a turn writes nothing of its own; the turn's other writes commit."""
    with hdb.turn() as turn:
        turn.append("orders", Event("Placed", {}))
        with pytest.raises(PluginTrap):
            hdb.plugins.call("h", "put-then-trap", "k", "v", turn=turn)
        hdb.plugins.call("h", "put", "k2", "v2", turn=turn)
    assert hdb.plugins.kv("h") == {"k2": "v2"}
    assert hdb.stream_version("orders") == 1


def test_a_changed_read_is_rerun_under_the_write_lock(hdb: tlo_embed.Database, db_path: Path) -> None:
    """If what a call read changed before it committed, it runs again inside the turn."""
    hdb.plugins.call("h", "put", "k", "first")
    host: PluginHost = hdb.plugins._host  # type: ignore[attr-defined]
    loaded = host.load("main", "h")
    plan = host.export(loaded, "swap")
    lowered = host.lower(loaded, plan, ["k", "mine"])
    ctx = runtime.CallContext(
        journal=hdb.journal, info=loaded.info, export="swap", branch="main",
        time_us=hdb.journal.now_us(), seed=1, track_reads=True,
    )
    raw = runtime.run(loaded, plan, lowered, ctx, None)
    assert raw == "first"
    with tlo_embed.open(db_path) as other:  # another writer changes the key meanwhile
        other.plugins.call("h", "put", "k", "theirs")
    result = host._commit("main", loaded, plan, lowered, "first", ctx, False)
    assert result == "theirs"  # re-run saw the other writer's value
    assert hdb.plugins.kv("h") == {"k": "mine"}
    assert hdb.plugins.calls("h")[-1].result == "theirs"
    assert hdb.check().ok


def test_wasi_clock_random_and_environment_are_deterministic(db: tlo_embed.Database) -> None:
    """WASI random comes from the recorded seed, the monotonic clock from zero, no args."""
    db.plugins.install(wasm(WASI_WAT), name="w")
    assert db.plugins.call("w", "nargs") == 0
    assert db.plugins.call("w", "mono") == 2000
    first = db.plugins.call("w", "rand", record=True)
    second = db.plugins.call("w", "rand", record=True)
    assert first != second  # each call gets its own seed
    for record in db.plugins.calls("w"):
        assert db.plugins.verify(record).same


def test_lumen_runtime_is_provided_without_a_grant(db: tlo_embed.Database) -> None:
    """lumen:runtime/rt: abort traps with the plugin's own message; format-f64 is Lumen's."""
    db.plugins.install(wasm(LUMEN_WAT), name="l")
    with pytest.raises(PluginTrap) as caught:
        db.plugins.call("l", "fail")
    assert caught.value.kind == "abort"
    assert "price must be positive (at x.lm:3:7)" in str(caught.value)
    assert db.plugins.call("l", "show", 1.0) == "1.0"
    assert db.plugins.call("l", "show", 0.1) == "0.1"
    assert db.plugins.call("l", "show", 1e21) == "1000000000000000000000"


def _with_manifest(wat: str, manifest: dict[str, object]) -> str:
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return wat.replace("(component", f'(component (@custom "lumen:manifest" "{escaped}")', 1)


def test_lumen_manifest_names_the_plugin_and_its_grants_are_enforced(db: tlo_embed.Database) -> None:
    """The manifest's name is the default name; kv key_prefix and max_calls are enforced."""
    manifest = {
        "name": "counter", "subset": "0.1",
        "tools": [
            {"alias": "KvGet", "capability": "kv.get", "function": "get",
             "import": "tlo:host/kv", "grants": {"key_prefix": ["counter/"]}},
            {"alias": "KvPut", "capability": "kv.put", "function": "put",
             "import": "tlo:host/kv", "grants": {"key_prefix": ["counter/", "c2/"]}},
            {"alias": "KvDel", "capability": "kv.delete", "function": "delete",
             "import": "tlo:host/kv", "grants": {"max_calls": [0]}},
        ],
    }
    info = db.plugins.install(wasm(_with_manifest(host_wat(), manifest)), grants=ALL_HOST)
    assert info.name == "counter"
    assert info.manifest is not None and info.manifest["subset"] == "0.1"
    assert db.plugins.call("counter", "swap", "counter/a", "1") is None
    db.plugins.call("counter", "put", "c2/b", "2")
    with pytest.raises(PluginTrap, match="outside the plugin's grant key_prefix") as caught:
        db.plugins.call("counter", "put", "secrets", "x")
    assert caught.value.kind == "host"
    with pytest.raises(PluginTrap, match="at most 0 time"):
        db.plugins.call("counter", "delete", "counter/a")
    assert db.plugins.kv("counter") == {"c2/b": "2", "counter/a": "1"}


def test_a_replayed_append_sees_the_stream_as_the_call_did(hdb: tlo_embed.Database) -> None:
    """verify returns the same versions for appends, also for a call made mid-turn."""
    assert hdb.plugins.call("h", "append", "notes", "N", "{}") == 1
    with hdb.turn() as turn:
        turn.append("notes", Event("Before", {}))
        assert hdb.plugins.call("h", "append", "notes", "N", "{}", turn=turn) == 3
        assert len(hdb.plugins.call("h", "read", "notes", turn=turn)) == 3
        turn.append("notes", Event("After", {}))
    hdb.append("notes", Event("Later", {}))
    calls = hdb.plugins.calls("h")
    assert [c.result for c in calls] == [1, 3, [[1, "N", "{}"], [2, "Before", "{}"], [3, "N", "{}"]]]
    for call in calls:
        check = hdb.plugins.verify(call)
        assert check.same, check.differences
