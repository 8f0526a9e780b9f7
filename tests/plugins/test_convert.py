"""tlo_embed/plugins/convert.py: Python values to component values and back, through real calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from .plugin_wat import TYPES_WAT, wasm

import tlo_embed
from tlo_embed import PluginArgumentError


@pytest.fixture
def tdb(db: tlo_embed.Database) -> Iterator[tlo_embed.Database]:
    """A database with the identity-function plugin `t` installed."""
    db.plugins.install(wasm(TYPES_WAT), name="t")
    yield db


def echo(db: tlo_embed.Database, export: str, value: object) -> Any:
    return db.plugins.call("t", export, value)


@pytest.mark.parametrize(
    ("export", "value", "expected"),
    [
        ("echo-bool", True, True),
        ("echo-s8", -128, -128),
        ("echo-u64", 2**64 - 1, 2**64 - 1),
        ("echo-s64", -(2**63), -(2**63)),
        ("echo-f64", 1.5, 1.5),
        ("echo-f64", 3, 3.0),  # an int is accepted for a float
        ("echo-char", "é", "é"),
        ("echo-str", "héllo\0", "héllo\0"),
        ("echo-bytes", b"\x00\xff", b"\x00\xff"),
        ("echo-bytes", bytearray(b"ab"), b"ab"),
        ("echo-list", [1, 2, 3], [1, 2, 3]),
        ("echo-list", (4, 5), [4, 5]),
        ("echo-tuple", (7, "x"), (7, "x")),
        ("echo-tuple", [7, "x"], (7, "x")),
        ("echo-order", {"kind": "invoice", "unit_count": 3}, {"kind": "invoice", "unit_count": 3}),
        ("echo-order", {"kind": "a", "unit-count": 1}, {"kind": "a", "unit_count": 1}),
        ("echo-opt-order", {"kind": "a"}, {"kind": "a", "note": None}),
        ("echo-opt-order", {"kind": "a", "note": 4}, {"kind": "a", "note": 4}),
        ("echo-orders", [{"kind": "a", "unit_count": 1}, {"kind": "b", "unit_count": 2}],
         [{"kind": "a", "unit_count": 1}, {"kind": "b", "unit_count": 2}]),
        ("echo-color", "dark-green", "dark-green"),
        ("echo-color", "dark_green", "dark-green"),
        ("echo-perm", {"read", "exec_all"}, ["read", "exec-all"]),
        ("echo-perm", [], []),
        ("echo-opt", None, None),
        ("echo-opt", 5, 5),
        ("echo-optopt", None, None),
        ("echo-optopt", {"some": None}, {"some": None}),
        ("echo-optopt", {"some": 5}, {"some": 5}),
        ("echo-res", {"ok": 5}, {"ok": 5}),
        ("echo-res", {"err": "bad"}, {"err": "bad"}),
        ("echo-res-str", {"ok": "fine"}, {"ok": "fine"}),
        ("echo-res-str", {"err": "bad"}, {"err": "bad"}),
        ("echo-shape", {"num": 3}, {"num": 3}),
        ("echo-shape", {"text": "t"}, {"text": "t"}),
        ("echo-shape", "nothing", {"nothing": None}),
        ("echo-shape", {"nothing": None}, {"nothing": None}),
        ("echo-pair", {"left": "l"}, {"left": "l"}),
        ("echo-pair", {"right": "r"}, {"right": "r"}),
    ],
)
def test_values_round_trip(tdb: tlo_embed.Database, export: str, value: object, expected: object) -> None:
    """Each WIT type accepts its documented Python forms and returns the plain form."""
    got = echo(tdb, export, value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("export", "value", "path", "words"),
    [
        ("echo-s8", 128, "x", "out of range for s8"),
        ("echo-s8", -129, "x", "out of range for s8"),
        ("echo-u64", -1, "x", "out of range for u64"),
        ("echo-u64", 2**64, "x", "out of range for u64"),
        ("echo-s64", 2**63, "x", "out of range for s64"),
        ("echo-s8", True, "x", "expected s8, got bool"),
        ("echo-s8", 1.0, "x", "expected s8, got float"),
        ("echo-bool", 1, "b", "expected bool"),
        ("echo-f64", "1.0", "x", "expected f64"),
        ("echo-char", "ab", "c", "expected char"),
        ("echo-str", "\ud800", "s", "lone surrogate"),
        ("echo-str", b"x", "s", "expected string"),
        ("echo-bytes", [1, 2], "b", "expected list<u8>"),
        ("echo-list", [1, -2], "l[1]", "out of range for u32"),
        ("echo-tuple", (1,), "t", "expected tuple<u32, string>"),
        ("echo-order", {"kind": "a"}, "o", "missing field 'unit_count'"),
        ("echo-order", {"kind": "a", "unit_count": 1, "extra": 2}, "o", "unknown field 'extra'"),
        ("echo-order", {"kind": 5, "unit_count": 1}, "o.kind", "expected string"),
        ("echo-order", "invoice", "o", "expected record"),
        ("echo-orders", [{"kind": "a", "unit_count": -1}], "l[0].unit_count", "out of range"),
        ("echo-color", "purple", "c", "expected one of red, dark-green"),
        ("echo-perm", {"bogus"}, "p", "unknown flag 'bogus'"),
        ("echo-perm", "read", "p", "expected flags"),
        ("echo-optopt", 5, "x", "{'some': value}"),
        ("echo-res", 5, "r", "expected {case: payload}"),
        ("echo-res", {"ok": "x"}, "r<ok>", "expected u32"),
        ("echo-shape", {"circle": 1.0}, "s", "a case of num, text, nothing"),
        ("echo-shape", {"nothing": 1}, "s", "takes no payload"),
    ],
)
def test_mismatches_are_argument_errors(
    tdb: tlo_embed.Database, export: str, value: object, path: str, words: str
) -> None:
    """A value that does not fit raises PluginArgumentError with its path, before any call."""
    before = tdb.last_seq
    with pytest.raises(PluginArgumentError) as caught:
        echo(tdb, export, value)
    assert caught.value.path == path
    assert caught.value.export == export
    assert words in str(caught.value)
    assert tdb.last_seq == before
    assert echo(tdb, "echo-s8", 1) == 1  # the plugin was not touched


def test_argument_count_and_names(tdb: tlo_embed.Database) -> None:
    """Wrong arity is an argument error; call_named maps snake or kebab parameter names."""
    with pytest.raises(PluginArgumentError, match=r"takes 1 argument\(s\) \(x: s8\), got 2"):
        tdb.plugins.call("t", "echo-s8", 1, 2)
    with pytest.raises(PluginArgumentError, match="got 0"):
        tdb.plugins.call("t", "echo-s8")
    assert tdb.plugins.call_named("t", "echo-s8", {"x": 3}) == 3
    with pytest.raises(PluginArgumentError, match="unexpected or repeated argument 'y'"):
        tdb.plugins.call_named("t", "echo-s8", {"y": 3})


def test_signatures_are_rendered_as_wit(tdb: tlo_embed.Database) -> None:
    """Exports are shown with their WIT signatures (records and variants inline)."""
    sigs = {e.name: e.signature for e in tdb.plugins.info("t").exports}
    assert sigs["echo-order"] == (
        "func(o: record { kind: string, unit-count: u32 }) -> record { kind: string, unit-count: u32 }"
    )
    assert sigs["echo-res"] == "func(r: result<u32, string>) -> result<u32, string>"
    assert sigs["echo-optopt"] == "func(x: option<option<u32>>) -> option<option<u32>>"
    assert sigs["echo-shape"].startswith("func(s: variant { num(u32), text(string), nothing })")
    assert sigs["echo-perm"].startswith("func(p: flags { read, write, exec-all })")
    assert sigs["echo-bytes"] == "func(b: list<u8>) -> list<u8>"


#: Echoes of variants whose cases wasmtime-py cannot tell apart by Python class alone: a bool
#: case after an int case (a bool is an int), an earlier case whose payload may be None (an
#: option), an int for a float case, and a result whose err is a bool after an int ok.
AMBIGUOUS_WAT = """(component
  (core module $m
    (memory (export "memory") 1)
    ;; flat (disc, i64): disc at 16, payload at 24
    (func (export "store-d-i64") (param i32 i64) (result i32)
      (i32.store8 (i32.const 16) (local.get 0)) (i64.store (i32.const 24) (local.get 1))
      (i32.const 16))
    ;; variant { a(option<s64>), b(bool) }: flat (disc, i32, i64)
    (func (export "store-opt-bool") (param i32 i32 i64) (result i32)
      (i32.store8 (i32.const 16) (local.get 0)) (i32.store8 (i32.const 24) (local.get 1))
      (i64.store (i32.const 32) (local.get 2)) (i32.const 16))
    ;; variant { a(option<bool>), b(s64) }: flat (disc, i64, i32)
    (func (export "store-optbool-int") (param $d i32) (param $p0 i64) (param $p1 i32) (result i32)
      (i32.store8 (i32.const 16) (local.get $d))
      (if (i32.eqz (local.get $d))
        (then (i32.store8 (i32.const 24) (i32.wrap_i64 (local.get $p0)))
              (i32.store8 (i32.const 25) (local.get $p1)))
        (else (i64.store (i32.const 24) (local.get $p0))))
      (i32.const 16))
    ;; result<u8, bool>: flat (disc, i32); disc at 16, payload at 17
    (func (export "store-d-i32") (param i32 i32) (result i32)
      (i32.store8 (i32.const 16) (local.get 0)) (i32.store8 (i32.const 17) (local.get 1))
      (i32.const 16)))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $mem))
  (type $ib' (variant (case "i" s64) (case "b" bool)))
  (export $ib "int-or-bool" (type $ib'))
  (type $ob' (variant (case "a" (option s64)) (case "b" bool)))
  (export $ob "opt-or-bool" (type $ob'))
  (type $oi' (variant (case "a" (option bool)) (case "b" s64)))
  (export $oi "optbool-or-int" (type $oi'))
  (type $fi' (variant (case "f" f64) (case "i" s64)))
  (export $fi "float-or-int" (type $fi'))
  (func (export "echo-ib") (param "v" $ib) (result $ib)
    (canon lift (core func $i "store-d-i64") (memory $mem)))
  (func (export "echo-ob") (param "v" $ob) (result $ob)
    (canon lift (core func $i "store-opt-bool") (memory $mem)))
  (func (export "echo-oi") (param "v" $oi) (result $oi)
    (canon lift (core func $i "store-optbool-int") (memory $mem)))
  (func (export "echo-fi") (param "v" $fi) (result $fi)
    (canon lift (core func $i "store-d-i64") (memory $mem)))
  (func (export "echo-rb") (param "r" (result u8 (error bool))) (result (result u8 (error bool)))
    (canon lift (core func $i "store-d-i32") (memory $mem)))
)"""


@pytest.mark.parametrize(
    ("export", "value", "expected"),
    [
        ("echo-ib", {"i": 5}, {"i": 5}),
        ("echo-ib", {"b": True}, {"b": True}),  # wasmtime-py alone would send i(1)
        ("echo-ib", {"b": False}, {"b": False}),
        ("echo-ib", {"i": 1}, {"i": 1}),
        ("echo-ob", {"b": True}, {"b": True}),  # would be a(some(1)): option<s64> takes any
        ("echo-ob", {"a": None}, {"a": None}),
        ("echo-ob", {"a": 7}, {"a": 7}),
        ("echo-oi", {"a": True}, {"a": True}),  # lifted by its tag, not guessed from True
        ("echo-oi", {"a": None}, {"a": None}),
        ("echo-oi", {"b": 9}, {"b": 9}),
        ("echo-fi", {"f": 2.5}, {"f": 2.5}),
        ("echo-fi", {"f": 3}, {"f": 3.0}),  # an int for the float case stays in that case
        ("echo-fi", {"i": 3}, {"i": 3}),
        ("echo-rb", {"ok": 1}, {"ok": 1}),
        ("echo-rb", {"err": True}, {"err": True}),  # would be ok(1)
    ],
)
def test_ambiguous_cases_reach_the_named_case(
    db: tlo_embed.Database, export: str, value: object, expected: object
) -> None:
    """A variant, option or result value arrives as the case the caller named, and comes back
    as the case the component returned, whatever Python classes their payloads share."""
    db.plugins.install(wasm(AMBIGUOUS_WAT), name="amb")
    got = db.plugins.call("amb", export, value)
    assert got == expected
    payload = next(iter(got.values()))
    assert type(payload) is type(next(iter(expected.values())))  # type: ignore[attr-defined]


def test_a_bool_is_not_an_int_case(db: tlo_embed.Database) -> None:
    """True for an int case is refused (the case is named, so there is nothing to guess)."""
    db.plugins.install(wasm(AMBIGUOUS_WAT), name="amb")
    with pytest.raises(PluginArgumentError) as caught:
        db.plugins.call("amb", "echo-ib", {"i": True})
    assert caught.value.path == "v<i>"
    assert db.plugins.call("amb", "echo-ib", {"b": True}) == {"b": True}


def test_a_host_function_returning_a_variant_writes_the_case_it_returned() -> None:
    """Host-function results go through the same converters: a host function returning
    {"b": True} for variant { i(s64), b(bool) } hands wasmtime case b with a bool payload."""
    import ctypes

    from wasmtime import component as wc

    from tlo_embed.plugins import convert, runtime

    ffi = convert.FFI
    conv = convert.CaseConv(
        "variant { i(s64), b(bool) }", "variant",
        [("i", convert.IntConv("s64", wc.S64())), ("b", convert.BoolConv("bool", wc.Bool()))],
    )
    for returned, case, kind, read in (
        ({"b": True}, "b", ffi.WASMTIME_COMPONENT_BOOL, lambda v: v.of.boolean),
        ({"i": 1}, "i", ffi.WASMTIME_COMPONENT_S64, lambda v: v.of.s64),
    ):
        entry = runtime.HostEntry("test.variant", lambda args, r=returned: r)
        entry.ready, entry.result = True, conv
        runtime._entries[-9] = entry
        space = ffi.wasmtime_component_val_t()
        try:
            assert runtime._trampoline(-9, None, None, None, 0, ctypes.pointer(space), 1) == 0
        finally:
            del runtime._entries[-9]
        assert space.kind == ffi.WASMTIME_COMPONENT_VARIANT.value
        assert ffi.to_str(space.of.variant.discriminant) == case
        payload = space.of.variant.val.contents
        assert payload.kind == kind.value and read(payload) == 1
        ffi.wasmtime_component_val_delete(ctypes.byref(space))
