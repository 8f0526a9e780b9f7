"""A component built by componentize-py (a toolchain we did not write) targets wasm/wit/.

The guest is tests/plugins/guests/router/: Python compiled to a component that imports every
tlo host interface, uses WASI (time, random, stdout) and exports typed functions (records, an
enum, an option, a result, lists). The first tests prove the guest in bare wasmtime with a
minimal linker (tests/plugins/guest_wasmtime.py); the rest run it through `db.plugins`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime
from wasmtime import Engine
from wasmtime.component import Component, ComponentInstanceType, FuncType, Record

from . import guest_build
from . import guest_wasmtime
import tlo_embed

ADDER = Path(__file__).resolve().parents[2] / "wasm" / "examples" / "adder.wat"

HOST_INTERFACES = [f"tlo:host/{name}@0.1.0" for name in ("log", "kv", "journal", "clock", "random")]
EXPORTS = ["route", "stamp", "bump", "recall", "parse-amount", "note", "steal-file", "dial"]


@pytest.fixture(scope="session")
def router_wasm() -> Path:
    """The router guest's component (built by componentize-py, or taken from the cache)."""
    return guest_build.build_guest("router")


@pytest.fixture(scope="session")
def bare(router_wasm: Path) -> guest_wasmtime.MiniHost:
    """The guest compiled for a default wasmtime engine, behind the minimal host."""
    engine = Engine()
    return guest_wasmtime.MiniHost(engine, guest_wasmtime.load(engine, router_wasm))


@pytest.fixture
def listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on 127.0.0.1: (its port, the connections it accepted)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in accepted:
            conn.close()


def order(kind: str, amount: int, tags: list[str], note: str | None) -> Record:
    r = Record()
    r.kind, r.amount, r.tags, r.note = kind, amount, tags, note
    return r


# -- the guest itself, in bare wasmtime ----------------------------------------------------


def test_build_is_cached_by_content(router_wasm: Path) -> None:
    """The component is cached under a key of its sources, wasm/wit/ and the toolchain."""
    assert router_wasm.parent == guest_build.CACHE
    assert router_wasm.name == f"router-{guest_build.cache_key('router')}.wasm"
    assert guest_build.build_guest("router") == router_wasm
    assert router_wasm.read_bytes()[:8] == b"\0asm\x0d\0\x01\0"  # a component, not a module


def test_guest_imports_the_host_interfaces_and_exports_typed_functions(
    bare: guest_wasmtime.MiniHost,
) -> None:
    """Introspection shows the five tlo:host imports, WASI, and the guest's typed exports."""
    engine, ct = bare.engine, bare.component.type
    imports = ct.imports(engine)
    assert [name for name in imports if name.startswith("tlo:")] == HOST_INTERFACES
    assert {name.split("/")[0] for name in imports if not name.startswith("tlo:")} >= {
        "wasi:clocks", "wasi:random", "wasi:cli", "wasi:filesystem", "wasi:sockets"}
    exports = ct.exports(engine)
    assert isinstance(exports["exports"].ty, ComponentInstanceType)  # componentize-py's init
    funcs = {n: e.ty for n, e in exports.items() if isinstance(e.ty, FuncType)}
    assert sorted(funcs) == sorted(EXPORTS)
    route = funcs["route"]
    assert [name for name, _ in route.params] == ["order"]
    assert type(route.result).__name__ == "RecordType"


def test_guest_runs_in_bare_wasmtime(bare: guest_wasmtime.MiniHost) -> None:
    """Records, an enum, lists, options and results cross; kv, log and journal are called."""
    decision, _, _ = bare.call("route", order("invoice", 1200, [], None))
    assert vars(decision) == {"queue": "billing", "priority": "high",
                              "reasons": ["kind invoice", "large amount"]}
    decision, _, _ = bare.call("route", order("misc", 5, ["later"], "by hand"))
    assert (decision.queue, decision.priority) == ("default", "low")
    assert decision.reasons == ["kind misc", "tagged later", "note: by hand"]
    assert ("info", "routed invoice to billing") in bare.logs
    first, second = bare.call("bump", "n")[0], bare.call("bump", "n")[0]
    assert second == first + 1
    assert bare.call("recall", "n")[0] == str(second)
    assert bare.call("recall", "no such key")[0] is None
    assert bare.call("parse-amount", "120")[0] == 120
    assert bare.call("parse-amount", "12x")[0] == "not an amount: '12x'"  # err, untagged
    version, _, _ = bare.call("note", "notes", "hello")
    assert (version, bare.events[-1]) == (
        sum(1 for e in bare.events if e[0] == "notes"), ("notes", "noted", '{"note": "hello"}'))


def test_guest_wasi_time_random_and_stdout_follow_the_host(
    bare: guest_wasmtime.MiniHost,
) -> None:
    """Shadowed WASI clock/random: same seed, same values; stdout reaches the host."""
    one, out, _ = bare.call("stamp", "a", seed=7)
    two, _, _ = bare.call("stamp", "a", seed=7)
    other, _, _ = bare.call("stamp", "a", seed=8)
    assert out == "stamp a\n"
    assert vars(one) == vars(two)
    assert getattr(one, "wall-ms") == getattr(one, "host-ms") == bare.now_ms
    assert getattr(one, "wasi-random") != getattr(other, "wasi-random")
    assert getattr(one, "host-random") != getattr(other, "host-random")


def test_hostile_guest_is_contained_by_plain_wasi(
    bare: guest_wasmtime.MiniHost, listener: tuple[int, list[socket.socket]],
) -> None:
    """With no preopens and default WASI, reading a host file and dialling TCP both fail."""
    hostname = Path("/etc/hostname")
    assert hostname.exists()
    with pytest.raises(wasmtime.WasmtimeError) as trap:
        bare.call("steal-file", str(hostname))
    assert "FileNotFoundError" in "".join(trap.value.__notes__)
    port, accepted = listener
    with pytest.raises(wasmtime.WasmtimeError) as trap:
        bare.call("dial", port)
    assert "network refused: ErrorCode.ACCESS_DENIED" in "".join(trap.value.__notes__)
    assert accepted == []


# -- through db.plugins ------------------------------------------------------------------------

GRANTS = ["log", "kv", "journal", "clock", "random"]
CLOCK_START_US = 1_700_000_000_000_000


@pytest.fixture(scope="session")
def template(router_wasm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .tlo file with the router installed (all five grants) and adder.wat as `adder`.

    Installing compiles the 18 MB component (seconds), so it happens once per session and
    each test works on a copy of this file.
    """
    path = tmp_path_factory.mktemp("template") / "plugins.tlo"
    with tlo_embed.open(path) as db:
        db.plugins.install(router_wasm, name="router", grants=GRANTS, memory="64MiB")
        db.plugins.install(wasmtime.wat2wasm(ADDER.read_text()), name="adder",
                           grants=["clock"])
    return path


@pytest.fixture
def plugged(template: Path, tmp_path: Path) -> Iterator[tlo_embed.Database]:
    """An open copy of the template file, with a fixed clock (1 ms per reading)."""
    path = tmp_path / "app.tlo"
    shutil.copy(template, path)
    db = tlo_embed.open(path, clock=tlo_embed.FixedClock(now_us=CLOCK_START_US, step_us=1000))
    try:
        yield db
    finally:
        db.close()


def snapshot(db: tlo_embed.Database) -> tuple[int, dict[str, str], int]:
    """What a failed call must leave alone: turns, the router's kv, its recorded calls."""
    return db.status().turns, db.plugins.kv("router"), len(db.plugins.calls("router"))


def still_serving(db: tlo_embed.Database) -> None:
    """Both plugins answer after a failure."""
    assert db.plugins.call("adder", "add", 2, 40) == 42
    assert db.plugins.call("router", "parse-amount", "7") == {"ok": 7}


def test_install_introspects_the_component(plugged: tlo_embed.Database) -> None:
    """install reads exports as WIT and the requested capabilities; toolchain internals hidden."""
    info = plugged.plugins.info("router")
    assert sorted(e.name for e in info.exports) == sorted(EXPORTS)  # no `exports#init`
    signatures = {e.name: e.signature for e in info.exports}
    assert signatures["parse-amount"] == "func(text: string) -> result<u32, string>"
    assert signatures["recall"] == "func(key: string) -> option<string>"
    assert signatures["route"] == (
        "func(order: record { kind: string, amount: u32, tags: list<string>,"
        " note: option<string> }) -> record { queue: string, priority: enum { low, normal,"
        " high }, reasons: list<string> }")
    assert set(GRANTS) <= set(info.requested)
    assert {"wasi:cli", "wasi:clocks", "wasi:random", "wasi:sockets"} <= set(info.requested)
    assert info.grants == tuple(sorted(GRANTS))
    assert len(info.sha256) == 64 and info.version == 1


def test_values_cross_as_plain_python(plugged: tlo_embed.Database) -> None:
    """Records (snake or kebab keys), an enum, lists, options and results convert both ways."""
    call = plugged.plugins.call
    assert call("router", "route", {"kind": "invoice", "amount": 1200, "tags": []}) == {
        "queue": "billing", "priority": "high", "reasons": ["kind invoice", "large amount"]}
    assert call("router", "route", {"kind": "x", "amount": 1, "tags": ["later"],
                                    "note": "by hand"}) == {
        "queue": "default", "priority": "low",
        "reasons": ["kind x", "tagged later", "note: by hand"]}
    assert call("router", "parse-amount", "120") == {"ok": 120}
    assert call("router", "parse-amount", "12x") == {"err": "not an amount: '12x'"}
    assert call("router", "recall", "nothing here") is None
    with pytest.raises(tlo_embed.PluginArgumentError) as bad:
        call("router", "route", {"kind": "invoice", "amount": -1, "tags": []})
    assert (bad.value.path, bad.value.expected) == ("order.amount", "u32")


def test_stdout_and_log_calls_reach_the_plugin_log(plugged: tlo_embed.Database) -> None:
    """WASI stdout lines and tlo:host/log messages are captured in the plugin's log."""
    plugged.plugins.call("router", "stamp", "first")
    plugged.plugins.call("router", "route", {"kind": "refund", "amount": 5, "tags": []})
    lines = [(line.level, line.message) for line in plugged.plugins.log("router")]
    assert lines[-2:] == [("stdout", "stamp first"), ("info", "routed refund to billing")]


def test_clock_and_random_come_from_the_turn(plugged: tlo_embed.Database) -> None:
    """In a turn, WASI time and tlo:host clock are the turn's time; randomness is seeded by
    the turn, so replaying a recorded call gives the same values."""
    with plugged.turn():
        one = plugged.plugins.call("router", "stamp", "a")
        two = plugged.plugins.call("router", "stamp", "b")
    recorded = plugged.plugins.calls("router")[-2:]
    assert [c.export for c in recorded] == ["stamp", "stamp"]
    turn_ms = recorded[0].time_us // 1000
    assert one["host_ms"] == one["wall_ms"] == two["host_ms"] == turn_ms
    assert one["wasi_random"] != two["wasi_random"]  # each call has its own seed
    for call in recorded:
        replay = plugged.plugins.verify(call)
        assert replay.same, replay.differences


def test_kv_goes_through_the_host(plugged: tlo_embed.Database) -> None:
    """kv writes are journaled per call, read back by later calls and survive reopening."""
    call = plugged.plugins.call
    assert [call("router", "bump", "n") for _ in range(3)] == [1, 2, 3]
    assert call("router", "recall", "n") == "3"
    assert plugged.plugins.kv("router") == {"n": "3"}
    puts = [e for e in plugged.read("$plugin-router") if e.type == "KvPut"]
    assert [e.data for e in puts] == [{"key": "n", "value": str(i)} for i in (1, 2, 3)]
    path = plugged.path
    plugged.close()
    with tlo_embed.open(path) as again:
        assert again.plugins.call("router", "bump", "n") == 4


def test_journal_append_goes_through_the_host(plugged: tlo_embed.Database) -> None:
    """journal.append becomes an event of the call's turn in the application's stream."""
    assert plugged.plugins.call("router", "note", "notes", "hello") == 1
    assert plugged.plugins.call("router", "note", "notes", "again") == 2
    events = plugged.read("notes")
    assert [(e.type, e.data) for e in events] == [
        ("noted", {"note": "hello"}), ("noted", {"note": "again"})]
    for call in plugged.plugins.calls("router"):  # a replay appends at the same versions
        replay = plugged.plugins.verify(call)
        assert replay.same, replay.differences


def test_ungranted_import_is_refused_at_install(plugged: tlo_embed.Database,
                                                router_wasm: Path) -> None:
    """Installing without a grant the component imports: CapabilityDenied, nothing written."""
    before = plugged.status().turns
    with pytest.raises(tlo_embed.CapabilityDenied) as denied:
        plugged.plugins.install(router_wasm, name="nosy", grants=["log", "kv"])
    assert denied.value.capability in {"clock", "journal", "random"}
    assert denied.value.import_name == f"tlo:host/{denied.value.capability}@0.1.0"
    assert denied.value.import_name in str(denied.value)
    assert plugged.status().turns == before
    assert [p.name for p in plugged.plugins.list()] == ["adder", "router"]


def test_revoked_capability_refuses_the_call(plugged: tlo_embed.Database) -> None:
    """After revoke("kv"), a call reaching kv fails and keeps nothing; others still work."""
    plugged.plugins.revoke("router", "kv")
    before = snapshot(plugged)
    with pytest.raises(tlo_embed.CapabilityDenied) as denied:
        plugged.plugins.call("router", "bump", "n")
    assert denied.value.capability == "kv"
    assert snapshot(plugged) == before
    assert plugged.plugins.call("router", "route", {"kind": "report", "amount": 1,
                                                    "tags": []})["queue"] == "reports"
    still_serving(plugged)


def test_reading_a_host_file_is_contained(plugged: tlo_embed.Database) -> None:
    """A plugin that opens a host file finds no filesystem: a typed trap, its kv write
    dropped, the database unchanged, both plugins still serving."""
    secret = Path(__file__).resolve()  # a file of this repository, by absolute path
    before = snapshot(plugged)
    for path in (secret, Path("/etc/hostname")):
        with pytest.raises(tlo_embed.PluginTrap) as trap:
            plugged.plugins.call("router", "steal-file", str(path))
        assert (trap.value.kind, trap.value.plugin, trap.value.export) == (
            "unreachable", "router", "steal-file")
        stderr = [line.message for line in plugged.plugins.log("router")
                  if line.level == "stderr"]
        assert any(m.startswith("FileNotFoundError") and str(path) in m for m in stderr)
    assert snapshot(plugged) == before
    still_serving(plugged)


def test_running_out_of_memory_is_kind_memory(plugged: tlo_embed.Database,
                                              router_wasm: Path) -> None:
    """Under a 20 MiB limit, routing an order with 16 MB of tags raises MemoryError in the
    guest's CPython, which then traps: kind "memory", naming the limit; nothing is kept."""
    plugged.plugins.install(router_wasm, name="router", grants=GRANTS, memory="20MiB",
                            upgrade=True)
    before = snapshot(plugged)
    order = {"kind": "invoice", "amount": 1, "tags": ["t" * 20_000] * 800}
    with pytest.raises(tlo_embed.PluginTrap) as trap:
        plugged.plugins.call("router", "route", order)
    assert trap.value.kind == "memory"
    assert "MemoryError" in str(trap.value) and "20971520 bytes" in str(trap.value)
    assert snapshot(plugged) == before
    still_serving(plugged)


def test_a_read_only_fs_grant_opens_one_directory(plugged: tlo_embed.Database,
                                                  tmp_path: Path) -> None:
    """The control: with grant "fs:<dir>" the same export reads a file in that directory."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note.txt").write_text("granted\n")
    plugged.plugins.grant("router", f"fs:{shared}")
    assert plugged.plugins.call("router", "steal-file", str(shared / "note.txt")) == "granted\n"
    with pytest.raises(tlo_embed.PluginTrap):
        plugged.plugins.call("router", "steal-file", str(Path(__file__).resolve()))


def test_opening_a_socket_is_contained(plugged: tlo_embed.Database,
                                       listener: tuple[int, list[socket.socket]]) -> None:
    """A plugin calling wasi:sockets gets access-denied: a typed trap, no connection made,
    its kv write dropped, the database unchanged, both plugins still serving."""
    port, accepted = listener
    before = snapshot(plugged)
    with pytest.raises(tlo_embed.PluginTrap) as trap:
        plugged.plugins.call("router", "dial", port)
    assert trap.value.kind == "unreachable"
    stderr = [line.message for line in plugged.plugins.log("router") if line.level == "stderr"]
    assert "RuntimeError: network refused: ErrorCode.ACCESS_DENIED" in stderr
    assert accepted == []
    assert snapshot(plugged) == before
    still_serving(plugged)


# -- WASI stdout/stderr capture -----------------------------------------------------------------


def test_wasi_output_is_captured_through_files_not_python_callbacks(
    plugged: tlo_embed.Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host never registers a stdout_custom/stderr_custom callback: those run on
    wasmtime's tokio threads and can abort the process at exit (research note §4)."""
    from wasmtime import _wasi

    def refuse(callback: object) -> int:
        raise AssertionError("a WASI output callback was registered")

    monkeypatch.setattr(_wasi.CUSTOM_OUTPUTS, "allocate", refuse)
    plugged.plugins.drop_caches()  # a new instance, made with the patch in place
    for label in ("one", "two", "three"):
        plugged.plugins.call("router", "stamp", label)
    stdout = [line.message for line in plugged.plugins.log("router") if line.level == "stdout"]
    assert stdout[-3:] == ["stamp one", "stamp two", "stamp three"]  # each line once


def test_capture_only_for_components_importing_wasi_cli_output() -> None:
    """A component without wasi:cli/stdout (or stderr) gets no capture file for it."""
    from tlo_embed.plugins.introspect import ImportPlan
    from tlo_embed.plugins.runtime import captured_streams

    def plan(name: str) -> ImportPlan:
        return ImportPlan(name, "wasi", name.split("/")[0], [])

    assert captured_streams([]) == ()
    assert captured_streams([plan("wasi:clocks/wall-clock@0.2.9")]) == ()
    assert captured_streams([plan("wasi:cli/stderr@0.2.9")]) == ("stderr",)
    assert captured_streams([plan("wasi:cli/stdout@0.2.9"), plan("wasi:cli/stderr@0.2.9"),
                             plan("wasi:cli/stdin@0.2.9")]) == ("stdout", "stderr")
    host = ImportPlan("tlo:host/log@0.1.0", "host", "log", ["info"])
    assert captured_streams([host]) == ()


def test_capture_returns_each_write_once_and_frees_the_file(tmp_path: Path) -> None:
    """Capture.take reads what was written since the last call, truncates the (unlinked)
    file while the writer keeps its offset, and drops what exceeds MAX_OUTPUT."""
    from tlo_embed.plugins.runtime import MAX_OUTPUT, Capture

    capture = Capture("stdout")
    # What wasmtime does with stdout_file: its own descriptor, created/truncated.
    writer = os.open(capture.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.unlink(capture.path)
    capture.linked = False
    try:
        assert capture.take() == (b"", 0)
        os.write(writer, b"hello\nworld\n")
        assert capture.take() == (b"hello\nworld\n", 0)
        assert capture.take() == (b"", 0)
        assert os.fstat(capture.file.fileno()).st_blocks == 0  # truncated: a hole remains
        os.write(writer, b"again\n")
        assert capture.take() == (b"again\n", 0)
        os.write(writer, b"x" * (MAX_OUTPUT + 10))
        data, dropped = capture.take()
        assert (len(data), dropped) == (MAX_OUTPUT, 10)
        os.write(writer, b"after\n")
        assert capture.take() == (b"after\n", 0)
    finally:
        os.close(writer)
        capture.close()
    assert capture.file.closed


def test_closing_instances_closes_their_capture_files(plugged: tlo_embed.Database) -> None:
    """Each warm instance holds two descriptors (stdout, stderr); dropping it frees them and
    no capture file is left in the temp directory."""
    fds = Path("/proc/self/fd")  # Linux, as CI and every supported machine
    plugged.plugins.drop_caches()
    before = len(list(fds.iterdir()))
    plugged.plugins.call("router", "stamp", "x")
    assert len(list(fds.iterdir())) >= before + 2
    plugged.plugins.drop_caches()
    assert len(list(fds.iterdir())) == before
    assert not list(Path(tempfile.gettempdir()).glob("tlo-wasi-*"))


EXIT_SCRIPT = """
import sys, tlo_embed
with tlo_embed.open(sys.argv[1]) as db:
    print(db.plugins.call("router", "stamp", "bye")["label"])
    print([line.message for line in db.plugins.log("router") if line.level == "stdout"])
"""


def test_a_process_that_called_a_printing_plugin_exits_cleanly(
    template: Path, tmp_path: Path,
) -> None:
    """The reported abort: after a call whose guest printed, the interpreter's exit printed a
    Rust panic ("panic in a function that cannot unwind") and sometimes aborted. Several
    processes in a row must all exit 0 with nothing on stderr."""
    path = tmp_path / "app.tlo"
    shutil.copy(template, path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(tlo_embed.__file__).resolve().parents[1])]
        + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(path)], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        assert done.stdout.splitlines() == ["bye", "['stamp bye']"]
