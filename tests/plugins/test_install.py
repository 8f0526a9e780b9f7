"""tlo_embed/plugins/host.py: install, upgrade, grant, revoke, remove; storage in the .tlo file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest
from .plugin_wat import (
    ADD_PLUS_ONE_WAT,
    ADD_WAT,
    CORE_MODULE_WAT,
    FOREIGN_IMPORT_WAT,
    LUMEN_WAT,
    WASI_WAT,
    host_wat,
    wasm,
)

import tlo_embed
from tlo_embed import (
    CapabilityDenied,
    InvalidArgumentError,
    InvalidPlugin,
    PluginInfo,
    PluginNotFound,
)
from tlo_embed.plugins import engine as eng
from tlo_embed.plugins import runtime
from tlo_embed.plugins.host import REVALIDATE
from tlo_embed.plugins.model import parse_memory

ALL_HOST = ["log", "kv", "journal", "clock", "random"]


def _count(db: tlo_embed.Database, sql: str) -> int:
    conn = apsw.Connection(db.path)
    try:
        return int(conn.execute(sql).fetchall()[0][0])
    finally:
        conn.close()


def test_install_from_path_reports_exports_and_requests(db: tlo_embed.Database, tmp_path: Path) -> None:
    """A component installed from a file takes the file's stem as name; its exports are WIT."""
    path = tmp_path / "adder.wasm"
    path.write_bytes(wasm(ADD_WAT))
    info = db.plugins.install(path, fuel=1_000_000, memory="1MiB", timeout=1.5)
    assert isinstance(info, PluginInfo)
    assert (info.name, info.version, info.grants, info.requested) == ("adder", 1, (), ())
    assert (info.fuel, info.memory, info.timeout) == (1_000_000, 1024 * 1024, 1.5)
    assert info.export("add") is not None
    assert info.export("add").signature == "func(a: u32, b: u32) -> u32"  # type: ignore[union-attr]
    assert [e.name for e in info.exports] == [
        "add", "bomb", "boom", "grow", "huge", "recurse", "spin",
    ]
    assert db.plugins.call("adder", "add", 40, 2) == 42
    assert db.plugins.info("adder") == info
    assert [p.name for p in db.plugins.list()] == ["adder"]


def test_requested_capabilities_name_host_and_wasi_pieces(db: tlo_embed.Database) -> None:
    """`requested` lists the host interfaces, lumen:runtime and the WASI packages imported."""
    host = db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    assert host.requested == ("clock", "journal", "kv", "log", "random")
    wasi = db.plugins.install(wasm(WASI_WAT), name="w")
    assert wasi.requested == ("wasi:cli", "wasi:clocks", "wasi:random")
    lumen = db.plugins.install(wasm(LUMEN_WAT), name="l")
    assert lumen.requested == ("lumen:runtime",)


def test_ungranted_import_is_refused_and_nothing_is_written(db: tlo_embed.Database) -> None:
    """CapabilityDenied names the import and the grant that would allow it; no turn."""
    before = db.last_seq
    with pytest.raises(CapabilityDenied) as caught:
        db.plugins.install(wasm(host_wat()), name="h", grants=["log", "kv", "clock", "random"])
    assert caught.value.import_name == "tlo:host/journal@0.1.0"
    assert caught.value.capability == "journal"
    assert caught.value.plugin == "h"
    assert "grants=" in str(caught.value)
    assert db.last_seq == before
    assert db.plugins.list() == []
    assert _count(db, "SELECT count(*) FROM plugin_blobs") == 0


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (lambda: wasm(FOREIGN_IMPORT_WAT), "evil:net/raw@1.0.0"),
        (lambda: wasm(CORE_MODULE_WAT), "core WebAssembly module"),
        (lambda: b"\0asm\x0d\0\x01\0garbage", "wasmtime refused"),
        (lambda: b"hello", "not a WebAssembly binary"),
    ],
)
def test_invalid_components_are_refused(db: tlo_embed.Database, source: object, words: str) -> None:
    """Bad bytes, core modules and unknown imports raise InvalidPlugin; nothing is written."""
    with pytest.raises(InvalidPlugin, match=words.replace("(", r"\(")):
        db.plugins.install(source(), name="bad")  # type: ignore[operator]
    assert db.last_seq == 0


def test_bad_options_are_refused(db: tlo_embed.Database) -> None:
    """Unknown grants, bad limits and bad names are InvalidArgumentError before any write."""
    add = wasm(ADD_WAT)
    for kwargs in (
        {"grants": ["network"]}, {"grants": "kv"}, {"fuel": 0}, {"timeout": -1.0},
        {"memory": "lots"}, {"memory": 100}, {"name": "no spaces"}, {"name": "$x"},
    ):
        with pytest.raises(InvalidArgumentError):
            db.plugins.install(add, **{"name": "a", **kwargs})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        db.plugins.install("/nonexistent/x.wasm")
    assert db.last_seq == 0


def test_parse_memory_units() -> None:
    """Sizes take binary and decimal units."""
    assert parse_memory("32MiB") == 32 * 1024 * 1024
    assert parse_memory("512 KiB") == 512 * 1024
    assert parse_memory("1GB") == 10**9
    assert parse_memory(65536) == 65536


def test_upgrade_makes_a_new_version_and_keeps_kv(db: tlo_embed.Database) -> None:
    """Installing a taken name needs upgrade=True; the version goes up by one."""
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    db.plugins.call("h", "put", "k", "v")
    with pytest.raises(InvalidArgumentError, match="upgrade=True"):
        db.plugins.install(wasm(host_wat(1)), name="h", grants=ALL_HOST)
    info = db.plugins.install(wasm(host_wat(1)), name="h", grants=ALL_HOST, upgrade=True)
    assert info.version == 2
    assert info.sha256 != db.plugins.calls("h")[0].sha256
    assert db.plugins.call("h", "get", "k") == "v"
    types = [e.type for e in db.read("$plugins")]
    assert types == ["PluginInstalled", "PluginUpgraded"]


def test_grant_and_revoke_are_turns_and_revoked_calls_are_denied(db: tlo_embed.Database) -> None:
    """Revoking kv keeps the plugin running; a call reaching kv raises CapabilityDenied."""
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    info = db.plugins.revoke("h", "kv")
    assert "kv" not in info.grants
    with pytest.raises(CapabilityDenied) as caught:
        db.plugins.call("h", "get", "k")
    assert caught.value.import_name == "tlo:host/kv@0.1.0#get"
    assert caught.value.capability == "kv"
    assert db.plugins.call("h", "rand", 10) in range(10)  # other interfaces still work
    assert "kv" in db.plugins.grant("h", "kv").grants
    assert db.plugins.call("h", "get", "k") is None
    events = [(e.type, e.data["capability"]) for e in db.read("$plugins") if e.type != "PluginInstalled"]
    assert events == [("PluginRevoked", "kv"), ("PluginGranted", "kv")]
    seq = db.last_seq
    db.plugins.grant("h", "kv")  # already granted: no turn
    assert db.last_seq == seq


def test_remove_forgets_the_plugin_and_its_kv(db: tlo_embed.Database) -> None:
    """After remove, calls raise PluginNotFound; a reinstall starts at version 1, kv empty."""
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    db.plugins.call("h", "put", "k", "v")
    db.plugins.remove("h")
    with pytest.raises(PluginNotFound):
        db.plugins.call("h", "get", "k")
    with pytest.raises(PluginNotFound):
        db.plugins.info("h")
    with pytest.raises(PluginNotFound):
        db.plugins.remove("h")
    info = db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    assert info.version == 1
    assert db.plugins.call("h", "get", "k") is None
    assert db.check().ok


def test_unknown_export_is_plugin_not_found(db: tlo_embed.Database) -> None:
    """A missing export names the exports that exist."""
    db.plugins.install(wasm(ADD_WAT), name="a")
    with pytest.raises(PluginNotFound, match="exports: add") as caught:
        db.plugins.call("a", "nope")
    assert caught.value.export == "nope"


def test_blobs_are_stored_once_and_artifacts_keyed_by_engine(db: tlo_embed.Database) -> None:
    """Two plugins with the same bytes share one blob row and one artifact row."""
    db.plugins.install(wasm(ADD_WAT), name="a")
    db.plugins.install(wasm(ADD_WAT), name="b")
    assert _count(db, "SELECT count(*) FROM plugin_blobs") == 1
    assert _count(db, "SELECT count(*) FROM plugin_artifacts") == 1
    conn = apsw.Connection(db.path)
    try:
        (engine_key,) = conn.execute("SELECT engine FROM plugin_artifacts").fetchall()[0]
    finally:
        conn.close()
    assert engine_key == eng.engine_key()


def test_the_artifact_key_names_the_installed_wasmtime() -> None:
    """The cheap version read (the dist-info directory) agrees with importlib.metadata."""
    from importlib import metadata

    assert eng.wasmtime_version() == metadata.version("wasmtime")
    assert eng.engine_key().startswith(f"wasmtime {metadata.version('wasmtime')}; ")


def test_a_new_process_loads_the_precompiled_artifact(db_path: Path) -> None:
    """A fresh load deserializes the file's artifact: the wasm blob is not even needed."""
    with tlo_embed.open(db_path) as db:
        db.plugins.install(wasm(ADD_WAT), name="a")
    conn = apsw.Connection(str(db_path))
    conn.execute("DELETE FROM plugin_blobs")
    conn.close()
    with tlo_embed.open(db_path) as db:
        db.plugins.drop_caches()
        assert db.plugins.call("a", "add", 1, 2) == 3


def test_an_artifact_of_another_engine_is_compiled_again(db_path: Path) -> None:
    """An artifact for another wasmtime/config is ignored; the blob is compiled and cached."""
    with tlo_embed.open(db_path) as db:
        db.plugins.install(wasm(ADD_WAT), name="a")
    conn = apsw.Connection(str(db_path))
    conn.execute("UPDATE plugin_artifacts SET engine = 'wasmtime 0.0.1; other'")
    conn.close()
    with tlo_embed.open(db_path) as db:
        db.plugins.drop_caches()
        assert db.plugins.call("a", "add", 1, 2) == 3
        assert _count(db, "SELECT count(*) FROM plugin_artifacts") == 2
        assert db.check().ok


def test_check_covers_the_plugin_tables(db: tlo_embed.Database) -> None:
    """`check` replays the plugin events; a tampered plugins or plugin_kv row is reported."""
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    db.plugins.call("h", "put", "k", "v")
    report = db.check()
    assert report.ok, report.problems
    assert "plugins" in report.tables and "plugin_kv" in report.tables
    conn = apsw.Connection(db.path)
    conn.execute("UPDATE plugin_kv SET value = 'forged'")
    conn.execute("UPDATE plugins SET fuel = 1")
    conn.close()
    problems = db.check().problems
    assert any("plugin_kv" in p for p in problems)
    assert any(p.startswith("plugins:") for p in problems)


def test_every_wit_function_has_an_implementation() -> None:
    """The linker is built from wasm/wit/ data: each function there has a host implementation."""
    assert runtime.host_coverage() == []


def test_plugins_follow_the_handle_branch(db: tlo_embed.Database) -> None:
    """`db.plugins` acts on the handle's branch (plugins are per branch)."""
    db.plugins.install(wasm(ADD_WAT), name="a")
    assert db.plugins.branch == "main"
    assert db.plugins.call("a", "add", 1, 1) == 2


def test_installing_a_changed_component_records_its_sha(db: tlo_embed.Database) -> None:
    """The recorded sha256 is the content's: another component, another sha."""
    a = db.plugins.install(wasm(ADD_WAT), name="a")
    b = db.plugins.install(wasm(ADD_PLUS_ONE_WAT), name="b")
    assert a.sha256 != b.sha256 and len(a.sha256) == 64


def test_a_forked_child_loads_plugins_with_its_own_engine(db: tlo_embed.Database) -> None:
    """After fork(), the child gets a new Engine, ticker and instances; calls still work."""
    import os
    import time

    db.plugins.install(wasm(ADD_WAT), name="a", timeout=0.2, fuel=2**62)
    assert db.plugins.call("a", "add", 1, 2) == 3  # the parent has it loaded and warm
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if both the call and the timeout work
        code = 1
        try:
            ok = db.plugins.call("a", "add", 2, 3) == 5
            try:
                db.plugins.call("a", "spin")
            except tlo_embed.PluginTrap as e:
                ok = ok and e.kind == "timeout"
            code = 0 if ok else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "the forked child hung"
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    assert db.plugins.call("a", "add", 3, 4) == 7


def test_a_revoke_by_another_connection_applies_to_the_next_call(
    db: tlo_embed.Database, db_path: Path
) -> None:
    """A thread that only runs pure calls sees another process's revoke (within REVALIDATE
    seconds: the test waits that long) and another handle's remove (at once)."""
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    for _ in range(3):
        assert db.plugins.call("h", "now") > 0  # touches no table: nothing refreshes the cache
    revoke = f"import tlo_embed; tlo_embed.open({str(db_path)!r}).plugins.revoke('h', 'clock')"
    subprocess.run([sys.executable, "-c", revoke], check=True, env={**os.environ,
                   "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    time.sleep(REVALIDATE * 2)
    with pytest.raises(CapabilityDenied):
        db.plugins.call("h", "now")
    with tlo_embed.open(db_path) as other:
        other.plugins.remove("h")
    with pytest.raises(PluginNotFound):
        db.plugins.call("h", "now")
