"""Plugins in the engine: tasks implemented by exports, and subscriptions feeding exports."""

from __future__ import annotations

from pathlib import Path

import pytest
from .plugin_wat import ADD_WAT, TYPES_WAT, host_wat, wasm

import tlo_embed
from tlo_embed import Event, PluginArgumentError, PluginNotFound, TaskNotFoundError

ALL_HOST = ["log", "kv", "journal", "clock", "random"]


def test_a_plugin_export_runs_as_a_task(db: tlo_embed.Database) -> None:
    """plugin_task records "plugin:<name>#<export>"; the inline worker runs the jobs."""
    db.plugins.install(wasm(ADD_WAT), name="adder")
    db.plugins.install(wasm(TYPES_WAT), name="t")
    assert db.plugin_task("add", plugin="adder", export="add") == "add"
    db.plugin_task("order", plugin="t", export="echo-order")
    [task] = [t for t in db.tasks() if t.name == "add"]
    assert task.import_path == "plugin:adder#add"
    by_list = db.enqueue("add", [2, 3])
    by_name = db.enqueue("add", {"a": 4, "b": 5})
    record = db.enqueue("order", {"kind": "x", "unit_count": 2})
    bad = db.enqueue("add", [-1, 3])
    stats = db.worker(executor="inline").run(until_idle=True, idle_horizon=0.0)
    assert stats.claimed >= 4
    assert db.job(by_list.id).result == 5
    assert db.job(by_name.id).result == 9
    assert db.job(record.id).result == {"kind": "x", "unit_count": 2}
    failed = db.job(bad.id)
    assert failed.state in ("retrying", "failed")
    assert "out of range for u32" in (failed.error or "")


def test_a_plugin_task_is_found_by_another_handle(db_path: Path) -> None:
    """Another handle (process) resolves the recorded plugin target without registering it."""
    with tlo_embed.open(db_path) as db:
        db.plugins.install(wasm(ADD_WAT), name="adder")
        db.plugin_task("add", plugin="adder", export="add")
        job = db.enqueue("add", [20, 22])
    with tlo_embed.open(db_path) as other:
        other.worker(executor="thread", concurrency=2).run(until_idle=True, idle_horizon=0.0)
        assert other.job(job.id).result == 42
        with pytest.raises(TaskNotFoundError, match="inline or thread worker"):
            other._registry.import_path("main", "add")  # type: ignore[attr-defined]


def test_plugin_task_needs_an_existing_export(db: tlo_embed.Database) -> None:
    """Registering a task for a missing plugin or export fails and records nothing."""
    with pytest.raises(PluginNotFound):
        db.plugin_task("x", plugin="nope", export="add")
    db.plugins.install(wasm(ADD_WAT), name="adder")
    seq = db.last_seq
    with pytest.raises(PluginNotFound):
        db.plugin_task("x", plugin="adder", export="nope")
    assert db.last_seq == seq


def test_a_plugin_subscribes_and_emits_events_exactly_once(db: tlo_embed.Database) -> None:
    """route(stream, payload) appends Routed events; its effects commit with the cursor."""
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    sub = db.plugins.subscribe("h", "route", types="Placed")
    db.append("order-1", Event("Placed", {"total": 5}))
    db.append("order-2", Event("Placed", {"total": 7}))
    db.append("order-2", Event("Other", {}))
    assert sub.process() == 2
    routed = list(db.read("routed"))
    assert [(e.type, e.data) for e in routed] == [("Routed", {"total": 5}), ("Routed", {"total": 7})]
    assert sub.process() == 0  # delivered once
    assert routed[0].seq == routed[1].seq == sub.position or routed[1].seq <= sub.position
    db.append("order-3", Event("Placed", {"total": 1}))
    again = db.plugins.subscribe("h", "route", types="Placed")  # resumed by name
    assert again.process() == 1
    assert len(list(db.read("routed"))) == 3
    assert db.check().ok


def test_a_failing_subscriber_keeps_its_position(db: tlo_embed.Database) -> None:
    """A revoked capability fails the batch; nothing is kept and the events come again."""
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    sub = db.plugins.subscribe("h", "route", types="Placed")
    db.append("order-1", Event("Placed", {"n": 1}))
    db.plugins.revoke("h", "journal")
    position = sub.position
    with pytest.raises(tlo_embed.CapabilityDenied):
        sub.process()
    assert sub.position == position and db.stream_version("routed") == 0
    db.plugins.grant("h", "journal")
    assert sub.process() == 1
    assert db.stream_version("routed") == 1


def test_a_subscriber_export_must_take_event_fields(db: tlo_embed.Database) -> None:
    """Parameters that are not event fields are refused when subscribing."""
    db.plugins.install(wasm(ADD_WAT), name="adder")
    with pytest.raises(PluginArgumentError, match="not event fields"):
        db.plugins.subscribe("adder", "add")
