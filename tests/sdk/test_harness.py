"""tlo_sdk.harness runs a hand-written component: values, host fakes, traps and fresh stores.

The component (harness_probe.wat) is written by hand, so a failure here is a harness bug,
never a compiler bug.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import wasmtime
from wasmtime.component import Record

import tlo_embed
from tlo_embed import CapabilityDenied, PluginTrap
from tlo_embed.plugins._wit import HOST_FUNCTIONS, RUNTIME_FUNCTIONS
from tlo_sdk.harness import (
    RUNTIME_FAKES,
    Harness,
    HostCall,
    JournalEvent,
    LumenTrap,
    err,
    format_f64,
    ok,
    parse_f64,
    read_custom_sections,
)

PROBE = Path(__file__).with_name("harness_probe.wat")


@pytest.fixture(scope="module")
def probe_wasm() -> bytes:
    return bytes(wasmtime.wat2wasm(PROBE.read_text(encoding="utf-8")))


@pytest.fixture
def h(probe_wasm: bytes) -> Harness:
    return Harness(probe_wasm)


def test_the_harness_fakes_every_function_of_wasm_wit(h: Harness) -> None:
    """Every host function and every Lumen runtime function of wasm/wit/ has a fake, and no
    fake is for a function the WIT does not have."""
    assert h.provided == {(i, f) for i, funcs in HOST_FUNCTIONS.items() for f in funcs}
    assert set(RUNTIME_FAKES) == set(RUNTIME_FUNCTIONS["rt"])


def test_loads_bytes_wat_path_and_objects_with_wasm(probe_wasm: bytes, tmp_path: Path) -> None:
    """A component loads from bytes, a .wat path, a .wasm path and a CompiledPlugin-like object."""
    wasm_file = tmp_path / "probe.wasm"
    wasm_file.write_bytes(probe_wasm)

    class Compiled:
        wasm = probe_wasm

    for source in (probe_wasm, PROBE, wasm_file, str(wasm_file), Compiled()):
        assert Harness(source).call("add", 2, 3) == 5
    with pytest.raises(TypeError, match="cannot load a component"):
        Harness(12345)


def test_introspection(h: Harness) -> None:
    """imports, exports, signature and the manifest custom section are visible."""
    assert h.imports == [
        "lumen:runtime/rt@0.1.0",
        "tlo:host/clock@0.1.0",
        "tlo:host/journal@0.1.0",
        "tlo:host/kv@0.1.0",
        "tlo:host/log@0.1.0",
        "tlo:host/random@0.1.0",
    ]
    assert "bump-order" in h.exports and "spin" in h.exports
    params, result = h.signature("bump-order")
    assert [name for name, _ in params] == ["o"]
    assert result is not None
    assert h.manifest == {"subset": "0.1"}
    assert read_custom_sections(h.wasm)["lumen:manifest"] == b'{"subset":"0.1"}'


def test_scalars_lists_and_options(h: Harness) -> None:
    """s64, f64 (ints accepted), enums, lists and options convert both ways."""
    assert h.call("add", -4, 10) == 6
    assert h.call("total", [1, 2.5, 0.25]) == 3.75
    assert h.call("total", []) == 0.0
    assert h.call("rank", "low") == 0
    assert h.call("rank", "high") == 2
    assert h.call("first-or-none", []) is None
    assert h.call("first-or-none", ["héllo", "b"]) == "héllo"


def test_records_are_dicts(h: Harness) -> None:
    """A record goes in as a dict (kebab or snake keys) or a Record, and comes back as a dict."""
    assert h.call("bump-order", {"id": "o-1", "qty": 2}) == {"id": "o-1", "qty": 3}

    order = Record()
    order.id, order.qty = "o-2", -1
    assert h.call("bump-order", order) == {"id": "o-2", "qty": 0}
    with pytest.raises(TypeError, match="argument o: missing field 'qty'"):
        h.call("bump-order", {"id": "x"})
    with pytest.raises(TypeError, match="unknown field 'extra'"):
        h.call("bump-order", {"id": "x", "qty": 1, "extra": 2})
    with pytest.raises(TypeError, match=r"argument o\.qty: "):
        h.call("bump-order", {"id": "x", "qty": 2**63})


def test_variants_and_results_have_one_shape(h: Harness) -> None:
    """Untagged (decision, result<s64,string>) and tagged (task-kind) types read alike."""
    assert h.call("decide", 5) == {"retry-after": 5}
    assert h.call("decide", -1) == {"give-up": "no"}
    assert h.call("parity", 4) == ok(4) == {"ok": 4}
    assert h.call("parity", 3) == err("odd") == {"err": "odd"}
    assert h.call("classify", {"tool-call": "x"}) == {"clarification": "x"}
    assert h.call("classify", {"tool_call": "x"}) == {"clarification": "x"}
    assert h.call("classify", {"clarification": "y"}) == {"processing": None}
    assert h.call("classify", "processing") == {"tool-call": "fetch"}


def test_bad_arguments_are_refused_before_the_call(h: Harness) -> None:
    """Type errors are raised by the harness; the instance is not poisoned by them."""
    with pytest.raises(TypeError, match="expected one of low, normal, high"):
        h.call("rank", "purple")
    with pytest.raises(TypeError, match="argument k: expected {case: payload}"):
        h.call("classify", {"nope": "x"})
    with pytest.raises(TypeError, match="argument b: "):
        h.call("add", 1, 2.0)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        h.call("add", 1, 2, 3)
    with pytest.raises(LookupError, match="no function 'missing'"):
        h.call("missing")
    assert h.traps == 0
    assert h.call("add", a=1, b=2) == 3


def test_abort_raises_lumen_trap_and_the_next_call_gets_a_fresh_store(h: Harness) -> None:
    """rt.abort raises LumenTrap with the message; the following call works."""
    with pytest.raises(LumenTrap) as info:
        h.call("add", 2**63 - 1, 1)
    assert info.value.message == "integer overflow in addition"
    assert h.traps == 1
    assert h.call("add", 1, 1) == 2


def test_fuel_bounds_a_call(probe_wasm: bytes) -> None:
    """An endless loop runs out of fuel (a wasmtime trap); the harness then recovers."""
    h = Harness(probe_wasm, fuel=100_000)
    with pytest.raises(wasmtime.WasmtimeError, match="all fuel consumed"):
        h.call("spin")
    assert h.fuel_used == 100_000
    assert h.call("add", 1, 1) == 2
    assert 0 < h.fuel_used < 100_000


def test_kv_log_and_journal_fakes_record_calls_in_order(probe_wasm: bytes) -> None:
    """kv is the given dict; log lines, journal events and host calls are collected in order."""
    state = {"a": "A"}
    h = Harness(probe_wasm, kv=state)
    assert h.call("lookup", "a") == "A"
    assert h.call("lookup", "zz") == "zz"
    assert h.call("remember", "k", "v") is None
    assert h.call("remember", "k2", "v2") is None
    assert state == {"a": "A", "k": "v", "k2": "v2"}
    assert h.log == [("info", "noted"), ("info", "noted")]
    assert h.journal == [
        JournalEvent("events", "k", "v", 1),
        JournalEvent("events", "k2", "v2", 2),
    ]
    assert h.host_calls[:4] == [
        HostCall("kv", "get", ("a",)),
        HostCall("kv", "get", ("zz",)),
        HostCall("kv", "put", ("k", "v")),
        HostCall("log", "info", ("noted",)),
    ]


def test_clock_is_fixed_and_random_is_seeded(probe_wasm: bytes) -> None:
    """now-ms returns now_ms; random.below draws from random.Random(seed)."""
    h = Harness(probe_wasm, now_ms=1_000, seed=7)
    expected = random.Random(7)
    first = [h.call("stamp", 100) for _ in range(5)]
    assert first == [1_000 + expected.randrange(100) for _ in range(5)]
    again = Harness(probe_wasm, now_ms=1_000, seed=7)
    assert [again.call("stamp", 100) for _ in range(5)] == first


def test_random_below_rejects_a_non_positive_bound(h: Harness) -> None:
    """below(0) is a host error that aborts the call, like a grant violation would."""
    with pytest.raises(ValueError, match="bound must be positive"):
        h.call("stamp", 0)
    assert h.call("add", 1, 1) == 2


def test_runtime_float_functions_follow_appendix_b(h: Harness) -> None:
    """format-f64 and parse-f64 give the SPEC's checks, directly and through the component."""
    cases = {
        1.0: "1.0", -0.0: "-0.0", 0.1: "0.1", 1e15: "1000000000000000",
        1e21: "1000000000000000000000", 1.5e-7: "0.00000015",
        0.15000000000000002: "0.15000000000000002", float("nan"): "NaN",
        float("inf"): "inf", float("-inf"): "-inf", 123456789012345.0: "123456789012345.0",
    }
    for value, text in cases.items():
        assert format_f64(value) == text
        assert h.call("show", value) == text
    for text, value in {"1.": 1.0, ".5": 0.5, "-2e3": -2000.0, "INF": float("inf")}.items():
        assert parse_f64(text) == value
        assert h.call("read-float", text) == value
    for text in (" 1", "1_0", "", ".", "e5", "1e"):
        assert parse_f64(text) is None
        assert h.call("read-float", text) is None


def test_capabilities_limit_the_linker(probe_wasm: bytes) -> None:
    """With capabilities={"kv"} a call of clock is refused with CapabilityDenied, as the
    engine refuses a call of a revoked interface; exports that do not use it still work."""
    h = Harness(probe_wasm, capabilities={"kv"})
    assert h.call("add", 1, 1) == 2
    with pytest.raises(CapabilityDenied, match=r"called tlo:host/clock@0\.1\.0#now-ms but is"
                       r" not granted 'clock' \(the harness grants capabilities=\['kv'\]") as info:
        h.call("stamp", 10)
    assert (info.value.capability, info.value.import_name) == (
        "clock", "tlo:host/clock@0.1.0#now-ms")
    with pytest.raises(CapabilityDenied, match="#info but is not granted 'log'"):
        h.call("remember", "k", "v")  # kv.put, then log.info
    assert h.kv == {}  # the failed call's put is undone
    with pytest.raises(ValueError, match="unknown capabilities \\['kvv'\\]"):
        Harness(probe_wasm, capabilities={"kvv"})


#: A Lumen plugin with a grant policy (/tmp/author/lumen/prefix.lm of the bug report).
PREFIX_LM = """use tool kv.put as KvPut
bind effect kv to KvPut
grant KvPut
  key_prefix "points/"
  max_calls 1

pub cell put(key: String, times: Int) -> Int / {kv}
  for i in 0..times
    KvPut(key: key, value: "v")
  end
  return times
end
"""


@pytest.fixture(scope="module")
def prefix_wasm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from tlo_sdk import compile_lumen

    source = tmp_path_factory.mktemp("lumen") / "prefix.lm"
    source.write_text(PREFIX_LM, encoding="utf-8")
    return bytes(compile_lumen(str(source)).wasm)


def test_lumen_grants_are_enforced_like_the_engine(prefix_wasm: bytes, tmp_path: Path) -> None:
    """key_prefix and max_calls: the harness raises the engine's PluginTrap (kind "host",
    same message), and the failed call writes nothing, as in the engine."""
    h = Harness(prefix_wasm)
    assert h.call("put", "points/a", 1) == 1 and h.kv == {"points/a": "v"}
    errors: list[PluginTrap] = []
    with pytest.raises(PluginTrap) as info:
        h.call("put", "other", 1)
    errors.append(info.value)
    with pytest.raises(PluginTrap) as info:
        h.call("put", "points/b", 2)  # the second put exceeds max_calls 1
    errors.append(info.value)
    assert h.kv == {"points/a": "v"}  # the refused call's first put was put back
    assert [HostCall("kv", "put", ("points/b", "v"))] * 2 == h.host_calls[-2:]
    assert h.call("put", "points/c", 1) == 1  # the budget is per call

    db = tlo_embed.open(tmp_path / "app.tlo")
    try:
        db.plugins.install(prefix_wasm, name="plugin", grants=["kv"])
        engine: list[PluginTrap] = []
        for args in (("other", 1), ("points/b", 2)):
            with pytest.raises(PluginTrap) as info:
                db.plugins.call("plugin", "put", *args)
            engine.append(info.value)
        assert db.plugins.kv("plugin") == {}
    finally:
        db.close()
    assert [(e.kind, str(e)) for e in errors] == [(e.kind, str(e)) for e in engine]
    assert errors[0].kind == "host"
    assert str(errors[0]).endswith(
        "host function kv.put refused the call: key 'other' is outside the plugin's grant"
        " key_prefix 'points/'")
    assert "kv.put may be called at most 1 time(s) per call" in str(errors[1])


def test_a_failed_call_puts_kv_and_journal_back(probe_wasm: bytes) -> None:
    """Whatever a call wrote before it failed is undone (the engine keeps nothing of it)."""
    def fail(message: str) -> None:
        raise RuntimeError(message)

    h = Harness(probe_wasm, kv={"k": "0"}, host={("log", "info"): fail})
    kv = h.kv
    with pytest.raises(RuntimeError, match="noted"):
        h.call("remember", "k", "1")  # kv.put, then log.info fails
    assert [c.function for c in h.host_calls] == ["put", "info"]
    assert h.kv is kv and kv == {"k": "0"} and h.journal == []


def test_custom_host_functions_replace_fakes_and_their_errors_propagate(probe_wasm: bytes) -> None:
    """host={(iface, fn): impl} overrides a fake; its exception reaches the caller unchanged."""

    class Denied(Exception):
        pass

    def deny(key: str, value: str) -> None:
        raise Denied(f"key {key!r} is outside the granted prefix")

    h = Harness(probe_wasm, host={("kv", "put"): deny})
    with pytest.raises(Denied, match="outside the granted prefix"):
        h.call("remember", "k", "v")
    assert h.host_calls == [HostCall("kv", "put", ("k", "v"))]
    assert h.kv == {}
    assert h.call("add", 1, 1) == 2


def test_base_exceptions_from_host_functions_are_re_raised(probe_wasm: bytes) -> None:
    """A KeyboardInterrupt in a host function comes out as itself (not a crash)."""

    def interrupt() -> int:
        raise KeyboardInterrupt

    h = Harness(probe_wasm, host={("clock", "now-ms"): interrupt})
    with pytest.raises(KeyboardInterrupt):
        h.call("stamp", 10)
    assert h.call("add", 1, 1) == 2


def test_every_wit_function_has_a_fake(h: Harness, probe_wasm: bytes) -> None:
    """The linker is built from tlo_embed.plugins._wit: each host function there is provided."""
    assert h.provided == {(iface, name) for iface, fns in HOST_FUNCTIONS.items() for name in fns}
    assert Harness(probe_wasm, capabilities={"kv"}).provided == {
        ("kv", name) for name in HOST_FUNCTIONS["kv"]
    }


@pytest.mark.parametrize(("wat", "example"), [
    ("order_validation.wat", "order_validation.lm.md"),
    ("retry_backoff.wat", "retry_backoff.lm"),
])
def test_bench_components_pass_their_examples_vectors(wat: str, example: str) -> None:
    """bench/wat/*.wat (the call-time baselines) do what their SPEC example does."""
    from .vectors import VECTORS

    h = Harness(Path(__file__).resolve().parents[2] / "bench" / "wat" / wat)
    vectors = [v for v in VECTORS if v.file == example]
    assert len(vectors) >= 5
    for vector in vectors:
        if vector.trap is not None:
            with pytest.raises(LumenTrap) as info:
                h.call(vector.export, *vector.args)
            assert info.value.message.startswith(vector.trap)
        else:
            assert h.call(vector.export, *vector.args) == vector.expect


WHICH_WAT = """
(component
  (core module $m
    (func (export "which") (param $disc i32) (param $payload i64) (result i32) (local.get $disc)))
  (core instance $i (instantiate $m))
  (type $num' (variant (case "i" s64) (case "b" bool)))
  (export $num "num" (type $num'))
  (func (export "which") (param "v" $num) (result u32) (canon lift (core func $i "which"))))
"""


def test_a_bool_case_after_an_int_case_reaches_the_component() -> None:
    """variant { i(s64), b(bool) } is untagged in wasmtime-py, where True is also an int:
    {"b": True} must still arrive as case b (discriminant 1), or be refused, never sent as i."""
    h = Harness(bytes(wasmtime.wat2wasm(WHICH_WAT)))
    assert h.call("which", {"i": 5}) == 0
    try:
        got = h.call("which", {"b": True})
    except TypeError:
        return  # refused with a clear error: acceptable
    assert got == 1
