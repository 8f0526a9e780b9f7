"""Hostile plugins are contained: a typed error, the database unchanged, other plugins working.

(Reading the host filesystem and opening a socket need a WASI guest: the componentize-py
guest tests cover them. The host side: no preopens without an "fs:" grant, no network.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import wasmtime
from .plugin_wat import ADD_WAT, host_wat, wasm

import tlo_embed
from tlo_embed import PluginTrap
from tlo_embed.plugins import runtime
from tlo_embed.plugins.model import PluginInfo

ALL_HOST = ["log", "kv", "journal", "clock", "random"]


@pytest.fixture
def xdb(db: tlo_embed.Database) -> Iterator[tlo_embed.Database]:
    """`bad` (the hostile pure guest, small limits) and `h` (host calls) installed."""
    db.plugins.install(wasm(ADD_WAT), name="bad", fuel=2_000_000, memory="2MiB", timeout=5.0)
    db.plugins.install(wasm(host_wat()), name="h", grants=ALL_HOST)
    db.plugins.call("h", "put", "k", "v")
    yield db


def _still_fine(db: tlo_embed.Database, seq: int) -> None:
    assert db.last_seq == seq
    assert db.plugins.call("bad", "add", 1, 2) == 3  # the same plugin, a fresh instance
    assert db.plugins.call("h", "get", "k") == "v"  # another plugin
    assert db.check().ok


def test_an_infinite_loop_runs_out_of_fuel(xdb: tlo_embed.Database) -> None:
    """spin with 2M fuel: kind "fuel"."""
    seq = xdb.last_seq
    with pytest.raises(PluginTrap) as caught:
        xdb.plugins.call("bad", "spin")
    assert (caught.value.kind, caught.value.plugin, caught.value.export) == ("fuel", "bad", "spin")
    assert "fuel" in str(caught.value)
    _still_fine(xdb, seq)


def test_an_infinite_loop_hits_the_timeout(xdb: tlo_embed.Database) -> None:
    """spin with ample fuel and a 0.1 s timeout: kind "timeout"."""
    xdb.plugins.install(wasm(ADD_WAT), name="slow", fuel=2**62, timeout=0.1)
    seq = xdb.last_seq
    with pytest.raises(PluginTrap) as caught:
        xdb.plugins.call("slow", "spin")
    assert caught.value.kind == "timeout"
    assert "0.1s timeout" in str(caught.value)
    _still_fine(xdb, seq)


def test_memory_is_capped(xdb: tlo_embed.Database) -> None:
    """memory.grow fails at the limit (2 MiB = 32 pages); a bomb that then traps is contained.

    A guest that traps silently after memory.grow failed is "unreachable": wasmtime gives no
    sign that the store hit its limit, so the host does not guess."""
    seq = xdb.last_seq
    assert xdb.plugins.call("bad", "grow") == 32
    with pytest.raises(PluginTrap) as caught:
        xdb.plugins.call("bad", "bomb")
    assert caught.value.kind == "unreachable"
    _still_fine(xdb, seq)


GROW_LM = """\
pub cell grow(s: String, n: Int) -> Int
  let mut t = s
  let mut i = 0
  while i < n
    t = t ++ t
    i += 1
  end
  return length(t)
end
"""


def test_a_guest_that_reports_running_out_of_memory_is_kind_memory(
    db: tlo_embed.Database,
) -> None:
    """A Lumen allocator aborts "out of memory" when memory.grow fails: kind "memory", with
    the limit named; nothing is written and the plugin keeps serving."""
    from tlo_sdk import compile_lumen

    db.plugins.install(compile_lumen(GROW_LM, filename="grow.lm").wasm, name="grow",
                       memory="1MiB")
    seq = db.last_seq
    assert db.plugins.call("grow", "grow", "ab", 10) == 2048
    with pytest.raises(PluginTrap) as caught:
        db.plugins.call("grow", "grow", "ab", 20)
    assert caught.value.kind == "memory"
    assert "out of memory (at grow.lm:5:" in str(caught.value)
    assert "memory limit is 1048576 bytes" in str(caught.value)
    assert db.last_seq == seq
    assert db.plugins.call("grow", "grow", "ab", 3) == 16


def test_an_out_of_memory_report_on_stderr_makes_an_unreachable_trap_kind_memory(
    db: tlo_embed.Database,
) -> None:
    """CPython's MemoryError (componentize-py guests) or Rust's alloc failure message on the
    guest's stderr, then a trap: kind "memory". Without such a line it stays unreachable."""
    info = PluginInfo(
        name="p", version=1, sha256="0" * 64, exports=(), requested=(), grants=(), fuel=1,
        memory=65536, timeout=1.0, installed_at_us=0,
    )
    trap = wasmtime.WasmtimeError("error while executing\nwasm trap: wasm `unreachable` instruction executed")
    for line, kind in (("MemoryError", "memory"),
                       ("memory allocation of 1048576 bytes failed", "memory"),
                       ("ValueError: nope", "unreachable")):
        ctx = runtime.CallContext(
            journal=db.journal, info=info, export="f", branch="main",
            time_us=0, seed=0, track_reads=False,
        )
        ctx.log("stderr", line)
        found = runtime.classify(trap, ctx)
        assert isinstance(found, PluginTrap) and found.kind == kind, (line, found)
        if kind == "memory":
            assert "memory limit is 65536 bytes" in str(found)


def test_deep_recursion_overflows_the_stack(xdb: tlo_embed.Database) -> None:
    """Unbounded recursion: kind "stack" (or fuel, whichever comes first: here the stack)."""
    xdb.plugins.install(wasm(ADD_WAT), name="deep", fuel=2**62)
    seq = xdb.last_seq
    with pytest.raises(PluginTrap) as caught:
        xdb.plugins.call("deep", "recurse", 0)
    assert caught.value.kind == "stack"
    _still_fine(xdb, seq)


def test_unreachable_and_a_huge_result(xdb: tlo_embed.Database) -> None:
    """An explicit trap and a result string pointing past memory are typed traps."""
    seq = xdb.last_seq
    with pytest.raises(PluginTrap) as boom:
        xdb.plugins.call("bad", "boom")
    assert boom.value.kind == "unreachable"
    with pytest.raises(PluginTrap) as huge:
        xdb.plugins.call("bad", "huge")
    assert huge.value.kind == "result"
    assert huge.value.detail  # wasmtime's full message is kept
    _still_fine(xdb, seq)


def test_a_trap_inside_a_host_call_writes_nothing(xdb: tlo_embed.Database) -> None:
    """The guest traps after kv.put returned: the put is discarded with the call."""
    seq = xdb.last_seq
    with pytest.raises(PluginTrap):
        xdb.plugins.call("h", "put-then-trap", "k", "changed")
    _still_fine(xdb, seq)


def test_host_errors_reach_the_right_caller_across_threads(xdb: tlo_embed.Database) -> None:
    """8 threads mixing good calls and host errors: every error names its own thread's stream."""
    seq = xdb.last_seq
    wrong: list[str] = []
    done: list[int] = []

    def work(n: int) -> None:
        for i in range(40):
            if i % 2:
                assert xdb.plugins.call("h", "get", "k") == "v"
                assert xdb.plugins.call("bad", "add", n, i) == n + i
                continue
            tag = f"$thread-{n}-{i}"
            try:
                xdb.plugins.call("h", "append", tag, "X", "{}")
            except PluginTrap as e:
                if tag + "'" not in str(e) or e.kind != "host":
                    wrong.append(f"{tag}: {e.kind} {e}")
            else:
                wrong.append(f"{tag}: no error")
        done.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) == list(range(8))
    assert wrong == []
    _still_fine(xdb, seq)


def _bare_context(db: tlo_embed.Database) -> runtime.CallContext:
    """A call context for plugin "p" export "f" on main, as the host builds one."""
    info = PluginInfo(
        name="p", version=1, sha256="0" * 64, exports=(), requested=(), grants=(), fuel=1,
        memory=65536, timeout=1.0, installed_at_us=0,
    )
    return runtime.CallContext(
        journal=db.journal, info=info, export="f", branch="main", time_us=0, seed=0,
        track_reads=False,
    )


def test_a_base_exception_in_a_host_function_is_recorded_not_raised_into_ctypes(
    db: tlo_embed.Database,
) -> None:
    """KeyboardInterrupt inside host code becomes a wasmtime trap + the caller's exception."""

    def interrupted(ctx: runtime.CallContext, args: tuple[object, ...]) -> object:
        raise KeyboardInterrupt

    wrapped = runtime._host_func("kv.get", interrupted)
    ctx = _bare_context(db)
    runtime._current.ctx = ctx
    try:
        with pytest.raises(wasmtime.WasmtimeError):
            wrapped(("key",))
    finally:
        runtime._current.ctx = None
    assert isinstance(ctx.error, KeyboardInterrupt)
    assert isinstance(runtime.classify(wasmtime.WasmtimeError("trap"), ctx), KeyboardInterrupt)


def test_the_host_call_trampoline_lets_nothing_cross_into_ctypes(db: tlo_embed.Database) -> None:
    """Whatever a host function raises (Ctrl-C included), the trampoline wasmtime calls
    returns an error pointer and records the exception in the call's context."""
    import ctypes

    from wasmtime import _ffi

    def interrupted(args: tuple[object, ...]) -> object:
        raise KeyboardInterrupt

    entry = runtime.HostEntry("kv.get", interrupted)
    entry.ready = True  # no parameters, no result: no type needed
    runtime._entries[-7] = entry
    ctx = _bare_context(db)
    runtime._current.ctx = ctx
    try:
        address = runtime._trampoline(-7, None, None, None, 0, None, 0)
        unknown = runtime._trampoline(-8, None, None, None, 0, None, 0)
    finally:
        runtime._current.ctx = None
        del runtime._entries[-7]
    assert address and unknown
    for found in (address, unknown):  # take ownership so the errors are freed
        error = wasmtime.WasmtimeError._from_ptr(
            ctypes.cast(found, ctypes.POINTER(_ffi.wasmtime_error_t))
        )
        assert isinstance(error, wasmtime.WasmtimeError)
    assert isinstance(ctx.error, KeyboardInterrupt)
    assert ctx.error_label == "kv.get"


def test_no_filesystem_without_an_fs_grant_and_no_network(db: tlo_embed.Database) -> None:
    """The WASI configuration preopens nothing unless granted; fs grants are read-only."""
    calls: list[tuple[str, str, bool]] = []

    class Recorder:
        def preopen_dir(self, path: str, guest: str, fs_mutable: bool = True) -> None:
            calls.append((path, guest, fs_mutable))

    runtime._preopen(Recorder(), ("kv", "log"))
    assert calls == []
    runtime._preopen(Recorder(), ("fs:/srv/in", "fs-rw:/srv/out"))
    assert calls == [("/srv/in", "/srv/in", False), ("/srv/out", "/srv/out", True)]
