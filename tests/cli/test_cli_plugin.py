"""`tlo plugin install|list|show|call|grant|revoke|remove|build` on real .tlo files.

The component is wasm/examples/adder.wat, a hand-written WAT component that imports
tlo:host/clock and exports add, since and greet; it installs in milliseconds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tlo_embed

#: The `tlo` fixture of conftest.py: runs `tlo ARGS...` in-process, returns (code, out, err).
Tlo = Callable[..., Any]

EXAMPLES = Path(__file__).resolve().parents[2] / "wasm" / "examples"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A new .tlo file, and adder.wat beside it."""
    shutil.copy(EXAMPLES / "adder.wat", tmp_path / "adder.wat")
    path = tmp_path / "app.tlo"
    tlo_embed.open(path).close()
    return path


@pytest.fixture
def installed(tlo: Tlo, app: Path) -> Path:
    """app.tlo with adder.wat installed as plugin `adder`, granted clock."""
    ran = tlo("plugin", "install", app, app.parent / "adder.wat", "--grant", "clock")
    assert ran.code == 0, ran.err
    return app


def _turns(path: Path) -> int:
    with tlo_embed.open(path, readonly=True) as db:
        return db.status().turns


def test_install_reports_the_plugin(tlo: Tlo, app: Path) -> None:
    """install assembles WAT, stores the component, names it after the file."""
    ran = tlo("plugin", "install", app, app.parent / "adder.wat", "--grant", "clock",
              "--fuel", "1000000", "--memory", "1MiB", "--timeout", "0.5")
    assert ran.code == 0, ran.err
    assert ran.out == "installed plugin adder version 1 (3 exports, grants: clock)\n"
    with tlo_embed.open(app, readonly=True) as db:
        info = db.plugins.info("adder")
    assert (info.grants, info.fuel, info.memory, info.timeout) == (
        ("clock",), 1_000_000, 1024 * 1024, 0.5)


def test_install_upgrade_and_name(tlo: Tlo, installed: Path) -> None:
    """--name names the plugin; installing over one needs --upgrade and makes version 2."""
    wat = installed.parent / "adder.wat"
    again = tlo("plugin", "install", installed, wat, "--grant", "clock")
    assert again.code != 0
    assert "adder" in again.err
    tlo("plugin", "grant", installed, "adder", "log")
    upgraded = tlo("plugin", "install", installed, wat, "--upgrade", "--fuel", "5000")
    assert upgraded.code == 0, upgraded.err
    assert upgraded.out == ("upgraded plugin adder version 2 (3 exports, grants: clock, "
                            "log)\n")  # kept from version 1
    with tlo_embed.open(installed, readonly=True) as db:
        assert db.plugins.info("adder").fuel == 5000
    other = tlo("plugin", "install", installed, wat, "--name", "sum", "--grant", "clock")
    assert other.code == 0, other.err
    assert other.out.startswith("installed plugin sum version 1")


def test_install_refuses_an_ungranted_import(tlo: Tlo, app: Path) -> None:
    """Without --grant clock the component is refused (exit 53), naming the import."""
    before = _turns(app)
    ran = tlo("plugin", "install", app, app.parent / "adder.wat")
    assert ran.code == tlo_embed.CapabilityDenied.code
    assert "tlo:host/clock@0.1.0" in ran.err and ran.err.startswith("tlo: error: ")
    assert _turns(app) == before
    # The advice is the command line's, not the Python API's.
    assert f"install it with `--grant clock` (or grant it later with `tlo plugin grant {app}" \
        " adder clock`)" in ran.err
    assert "grants=[" not in ran.err and "plugins.grant(" not in ran.err


def test_install_refuses_what_is_not_a_component(tlo: Tlo, app: Path) -> None:
    """Text, a core module, bad WAT and a missing file are clear errors; nothing installed."""
    notes = app.parent / "notes.wasm"
    notes.write_text("not wasm at all\n")
    ran = tlo("plugin", "install", app, notes)
    assert ran.code == tlo_embed.InvalidPlugin.code
    assert "not a WebAssembly binary" in ran.err
    module = app.parent / "module.wasm"
    module.write_bytes(b"\0asm\x01\0\0\0")
    ran = tlo("plugin", "install", app, module)
    assert ran.code == tlo_embed.InvalidPlugin.code
    assert "core WebAssembly module, not a component" in ran.err
    bad = app.parent / "bad.wat"
    bad.write_text("(component (func")
    ran = tlo("plugin", "install", app, bad)
    # Like an invalid .wasm (status 1 is `build`'s); wasmtime's parse error names the file.
    assert ran.code == tlo_embed.InvalidPlugin.code
    assert ran.err.startswith(f"tlo: error: {bad} is not valid WAT: expected `(`\n")
    assert f"--> {bad}:1:17" in ran.err and "<anon>" not in ran.err
    latin = app.parent / "latin.wat"
    latin.write_bytes(b"(component \xe9)")
    ran = tlo("plugin", "install", app, latin)
    assert ran.code == tlo_embed.InvalidPlugin.code and "not UTF-8 text" in ran.err
    ran = tlo("plugin", "install", app, app.parent / "missing.wasm")
    assert ran.code == 1 and "cannot read" in ran.err and "missing.wasm" in ran.err
    assert tlo("plugin", "list", app).out == "(no plugins)\n"


def test_list_and_show(tlo: Tlo, installed: Path) -> None:
    """list names the plugins; show prints exports as WIT, requests, grants and limits."""
    listed = tlo("plugin", "list", installed)
    assert listed.code == 0
    header, row = listed.out.splitlines()
    assert header.split() == ["name", "version", "grants", "installed", "exports"]
    assert row.startswith("adder") and row.endswith("add, greet, since")
    shown = tlo("plugin", "show", installed, "adder")
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[0].split() == ["plugin", "adder"]
    assert lines[lines.index("exports:") + 1:] == [
        "  add: func(a: u32, b: u32) -> u32",
        "  greet: func(name: string) -> string",
        "  since: func(ms: s64) -> s64",
    ]
    fields = dict(line.split(None, 1) for line in lines[:lines.index("exports:")])
    assert (fields["requests"], fields["grants"]) == ("clock", "clock")
    assert fields["provided"] == "none"
    assert fields["limits"].startswith("fuel ")


def test_list_and_show_json(tlo: Tlo, installed: Path) -> None:
    """--json prints the same facts as objects: one line per plugin."""
    line = tlo("plugin", "list", installed, "--json").out
    shown = json.loads(tlo("plugin", "show", installed, "adder", "--json").out)
    assert json.loads(line) == shown
    assert shown["exports"][0] == {"name": "add", "signature": "func(a: u32, b: u32) -> u32"}
    assert (shown["name"], shown["version"], shown["grants"], shown["requests"]) == (
        "adder", 1, ["clock"], ["clock"])
    assert shown["provided"] == []
    assert set(shown["limits"]) == {"fuel", "memory", "timeout"}
    assert len(shown["sha256"]) == 64 and shown["installed_at"].endswith("Z")


def test_call_prints_json(tlo: Tlo, installed: Path) -> None:
    """call parses each argument as JSON and prints the result as JSON."""
    assert tlo("plugin", "call", installed, "adder", "add", "2", "40").out == "42\n"
    assert tlo("plugin", "call", installed, "adder", "greet", '"Ada"').out == '"hello, Ada"\n'
    since = tlo("plugin", "call", installed, "adder", "since", "0")
    assert since.code == 0 and int(since.out) > 1_600_000_000_000


def test_call_errors_are_clear(tlo: Tlo, installed: Path) -> None:
    """Bad JSON is a usage error; a wrong type, a missing plugin or export are typed errors."""
    ran = tlo("plugin", "call", installed, "adder", "add", "2", "{oops")
    assert ran.code == 2
    assert "'{oops' is not JSON" in ran.err
    ran = tlo("plugin", "call", installed, "adder", "add", "2", '"forty"')
    assert ran.code == tlo_embed.PluginArgumentError.code
    assert "u32" in ran.err
    ran = tlo("plugin", "call", installed, "adder", "add", "2")
    assert ran.code == tlo_embed.PluginArgumentError.code
    ran = tlo("plugin", "call", installed, "nobody", "add", "1", "2")
    assert ran.code == tlo_embed.PluginNotFound.code and "nobody" in ran.err
    ran = tlo("plugin", "call", installed, "adder", "subtract", "1", "2")
    assert ran.code == tlo_embed.PluginNotFound.code and "subtract" in ran.err


def test_grant_revoke_remove(tlo: Tlo, installed: Path) -> None:
    """revoke takes a capability away (its calls fail), grant gives it back, remove removes."""
    ran = tlo("plugin", "revoke", installed, "adder", "clock")
    assert (ran.code, ran.out) == (0, "revoked clock; plugin adder now has: no grants\n")
    ran = tlo("plugin", "call", installed, "adder", "since", "0")
    assert ran.code == tlo_embed.CapabilityDenied.code
    assert ran.err == ("tlo: error: plugin 'adder' called tlo:host/clock@0.1.0#now-ms but is not"
                       f" granted 'clock' (grant it with `tlo plugin grant {installed} adder"
                       " clock`)\n")
    assert tlo("plugin", "call", installed, "adder", "add", "1", "1").out == "2\n"
    ran = tlo("plugin", "grant", installed, "adder", "clock", "log")
    assert (ran.code, ran.out) == (0, "granted clock, log; plugin adder now has: clock, log\n")
    assert tlo("plugin", "call", installed, "adder", "since", "0").code == 0
    ran = tlo("plugin", "grant", installed, "adder", "telepathy")
    assert ran.code == tlo_embed.InvalidArgumentError.code and "telepathy" in ran.err
    ran = tlo("plugin", "remove", installed, "adder")
    assert (ran.code, ran.out) == (0, "removed plugin adder\n")
    assert tlo("plugin", "list", installed).out == "(no plugins)\n"
    assert tlo("plugin", "show", installed, "adder").code == tlo_embed.PluginNotFound.code


#: A component that logs one line through tlo:host/log.
HELLO_WAT = """(component
  (import "tlo:host/log@0.1.0" (instance $log (export "info" (func (param "message" string)))))
  (core module $data (memory (export "memory") 1) (data (i32.const 0) "hello from wat"))
  (core instance $d (instantiate $data))
  (alias core export $d "memory" (core memory $memory))
  (alias export $log "info" (func $info))
  (core func $info-core (canon lower (func $info) (memory $memory)))
  (core module $m
    (import "host" "info" (func $info (param i32 i32)))
    (func (export "hello") (call $info (i32.const 0) (i32.const 14))))
  (core instance $i (instantiate $m (with "host" (instance (export "info" (func $info-core))))))
  (func (export "hello") (canon lift (core func $i "hello"))))
"""


def test_call_prints_the_plugin_log_on_stderr(tlo: Tlo, app: Path) -> None:
    """What the plugin logged during the call is shown on stderr; stdout stays the result."""
    (app.parent / "hello.wat").write_text(HELLO_WAT)
    assert tlo("plugin", "install", app, app.parent / "hello.wat", "--grant", "log").code == 0
    ran = tlo("plugin", "call", app, "hello", "hello")
    assert (ran.code, ran.out, ran.err) == (0, "null\n", "hello: [info] hello from wat\n")


def test_show_log_prints_what_recorded_calls_logged(tlo: Tlo, app: Path) -> None:
    """`show --log` reads the log lines journaled with recorded calls (another process's)."""
    (app.parent / "hello.wat").write_text(HELLO_WAT)
    assert tlo("plugin", "install", app, app.parent / "hello.wat", "--grant", "log").code == 0
    ran = tlo("plugin", "show", app, "hello", "--log")
    assert ran.code == 0 and ran.out.endswith("log of recorded calls:\n  (none)\n")
    with tlo_embed.open(app) as db:
        db.plugins.call("hello", "hello", record=True)
        seq = db.last_seq
    ran = tlo("plugin", "show", app, "hello", "--log")
    assert ran.code == 0
    assert ran.out.splitlines()[-1].endswith(f"seq {seq} hello: [info] hello from wat")
    shown = json.loads(tlo("plugin", "show", app, "hello", "--log", "--json").out)
    assert [(e["seq"], e["level"], e["message"]) for e in shown["log"]] == [
        (seq, "info", "hello from wat")]


def test_show_separates_what_the_host_provides_from_grants(tlo: Tlo, app: Path) -> None:
    """lumen:runtime (and WASI) imports are listed as provided by the host, not as requests
    missing a grant; --json has them in `provided`."""
    shutil.copy(EXAMPLES / "kv_counter.lm.md", app.parent / "kv_counter.lm.md")
    assert tlo("plugin", "build", app.parent / "kv_counter.lm.md").code == 0
    ran = tlo("plugin", "install", app, app.parent / "kv_counter.wasm", "--name", "counter",
              "--grant", "kv")
    assert ran.code == 0, ran.err
    lines = tlo("plugin", "show", app, "counter").out.splitlines()
    fields = dict(line.split(None, 1) for line in lines[:lines.index("exports:")])
    assert fields["requests"] == "kv" and fields["grants"] == "kv"
    assert fields["provided"] == "lumen:runtime (by the host, no grant needed)"
    shown = json.loads(tlo("plugin", "show", app, "counter", "--json").out)
    assert (shown["requests"], shown["provided"], shown["grants"]) == (
        ["kv"], ["lumen:runtime"], ["kv"])
    assert tlo("plugin", "revoke", app, "counter", "kv").code == 0
    lines = tlo("plugin", "show", app, "counter").out.splitlines()
    fields = dict(line.split(None, 1) for line in lines[:lines.index("exports:")])
    assert fields["grants"] == "none  (requested but not granted: kv)"


def test_error_message_rewords_capability_denied_without_a_file() -> None:
    """error_message formats the engine's CapabilityDenied for the command line; other
    errors are printed as the engine wrote them."""
    from tlo_embed.cli import error_message

    denied = tlo_embed.CapabilityDenied(
        "python advice", plugin="p", import_name="tlo:host/kv@0.1.0", capability="kv")
    assert error_message(denied) == (
        "plugin 'p' imports tlo:host/kv@0.1.0 but is not granted 'kv'; install it with"
        " `--grant kv` (or grant it later with `tlo plugin grant FILE p kv`)")
    assert error_message(tlo_embed.InvalidPlugin("as is")) == "as is"


def test_build_compiles_lumen_and_the_component_installs(tlo: Tlo, app: Path) -> None:
    """build writes a component the host installs and calls; --wit and --wat print text."""
    shutil.copy(EXAMPLES / "kv_counter.lm.md", app.parent / "kv_counter.lm.md")
    source = app.parent / "kv_counter.lm.md"
    ran = tlo("plugin", "build", source)
    assert ran.code == 0, ran.err
    built = app.parent / "kv_counter.wasm"
    assert ran.out.startswith(f"wrote {built} (") and ran.out.endswith("exports: count-event)\n")
    assert built.read_bytes()[:4] == b"\0asm"
    ran = tlo("plugin", "install", app, built, "--name", "counter", "--grant", "kv")
    assert ran.code == 0, ran.err
    assert tlo("plugin", "call", app, "counter", "count-event", '"a"').out == "1\n"
    assert tlo("plugin", "call", app, "counter", "count-event", '"a"').out == "2\n"
    wit = tlo("plugin", "build", source, "--wit")
    assert wit.code == 0 and "export count-event: func(source: string) -> s64;" in wit.out
    wat = tlo("plugin", "build", source, "--wat")
    assert wat.code == 0 and wat.out.startswith("(component")
    out = tlo("plugin", "build", source, "-o", app.parent / "other.wasm")
    assert out.code == 0 and (app.parent / "other.wasm").read_bytes() == built.read_bytes()


def test_build_reports_diagnostics(tlo: Tlo, tmp_path: Path) -> None:
    """A Lumen error prints file:line:col diagnostics with a caret on stderr; exit 1."""
    bad = tmp_path / "bad.lm"
    bad.write_text("fn broken( -> Int\n")
    ran = tlo("plugin", "build", bad)
    assert ran.code == 1 and ran.out == ""
    first = ran.err.splitlines()[0]
    assert first.startswith(f"{bad}:2:1: error[E012]: unclosed")
    assert "^" in ran.err
    assert not (tmp_path / "bad.wasm").exists()
    missing = tlo("plugin", "build", tmp_path / "nothing.lm")
    assert missing.code == 1 and "no such Lumen source" in missing.err


def test_build_prints_warnings_and_still_writes_the_component(tlo: Tlo, tmp_path: Path) -> None:
    """A warning (an unused binding) is shown on stderr with its caret; the build succeeds."""
    source = tmp_path / "warn.lm"
    source.write_text("pub cell f(x: Int) -> Int\n  let sum = x + 1\n  return x\nend\n")
    ran = tlo("plugin", "build", source)
    assert ran.code == 0, ran.err
    assert ran.err.splitlines()[0].startswith(f"{source}:2:7: warning[W100]: ")
    assert "^" in ran.err
    assert (tmp_path / "warn.wasm").read_bytes()[:4] == b"\0asm"


def test_a_trap_is_an_exit_status_in_a_real_process(tlo_process: Tlo, tmp_path: Path) -> None:
    """In a subprocess: a call that outgrows its memory limit exits 55 with a one-line error,
    and the next call in the next process works."""
    shutil.copy(EXAMPLES / "adder.wat", tmp_path / "adder.wat")
    assert tlo_process("init", "app.tlo").code == 0
    ran = tlo_process("plugin", "install", "app.tlo", "adder.wat", "--grant", "clock",
                      "--memory", "64KiB")
    assert ran.code == 0, ran.err
    big = json.dumps("x" * 100_000)  # cannot fit in one 64 KiB page of memory
    ran = tlo_process("plugin", "call", "app.tlo", "adder", "greet", big)
    assert ran.code == tlo_embed.PluginTrap.code
    assert ran.err.startswith("tlo: error: plugin 'adder' trapped in 'greet': ")
    assert "Traceback" not in ran.err
    ran = tlo_process("plugin", "call", "app.tlo", "adder", "greet", '"again"')
    assert (ran.code, ran.out) == (0, '"hello, again"\n')
