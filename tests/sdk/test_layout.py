"""Canonical ABI layout (tlo_sdk/layout.py) matches SPEC 3.5's rules and validated examples."""

from __future__ import annotations

from tlo_sdk import types as T
from tlo_sdk.diagnostics import Reporter
from tlo_sdk.layout import Layout
from tlo_sdk.lexer import lex
from tlo_sdk.parser import parse
from tlo_sdk.resolve import resolve


def layout(src: str) -> Layout:
    rep = Reporter("t.lm")
    g = resolve(parse(lex(src, rep), rep, src.split("\n")), rep)
    assert not rep.items
    return Layout(g)


def test_scalars_strings_lists() -> None:
    """s64/f64 are 8/8, bool 1/1, string and list 8/4; flattening per SPEC 3.5."""
    lay = layout("")
    assert lay.size_align(T.INT) == (8, 8)
    assert lay.size_align(T.BOOL) == (1, 1)
    assert lay.size_align(T.STRING) == (8, 4)
    assert lay.size_align(T.ListTy(T.FLOAT)) == (8, 4)
    assert lay.flat(T.STRING) == ["i32", "i32"]


def test_option_string_is_12_bytes_with_payload_at_4() -> None:
    """Validated in SPEC 3.5: option<string> is 12 bytes, align 4, string at offset 4."""
    lay = layout("")
    t = T.OptTy(T.STRING)
    assert lay.size_align(t) == (12, 4)
    assert lay.payload_offset(t) == 4
    assert lay.flat(t) == ["i32", "i32", "i32"]


def test_variant_join_and_offsets() -> None:
    """variant { created, updated(string), deleted(s64) }: payload at 8, size 16, flat [i32, i64, i32]."""
    lay = layout("enum Kind\n  Created\n  Updated(String)\n  Deleted(Int)\nend\n")
    t = T.EnumTy("Kind")
    assert lay.payload_offset(t) == 8
    assert lay.size_align(t) == (16, 8)
    assert lay.flat(t) == ["i32", "i64", "i32"]
    assert lay.is_ptr(t)


def test_record_field_offsets_and_payloadless_enum() -> None:
    """Fields are aligned in declaration order; a payload-less enum is one byte and an i32 value."""
    lay = layout("enum P\n  Low\n  High\nend\nrecord R\n  a: Bool\n  b: Int\n  c: P\n  d: String\nend\n")
    assert lay.field_offsets("R") == [0, 8, 16, 20]
    assert lay.size_align(T.RecordTy("R")) == (32, 8)
    assert lay.size_align(T.EnumTy("P")) == (1, 1)
    assert not lay.is_ptr(T.EnumTy("P"))
    assert lay.flat(T.RecordTy("R")) == ["i32", "i64", "i32", "i32", "i32"]


def test_result_with_null_sides() -> None:
    """result[Null, String] has no ok payload; result[Int, Float] joins to [i32, i64]."""
    lay = layout("")
    assert lay.flat(T.ResultTy(T.NULL, T.STRING)) == ["i32", "i32", "i32"]
    assert lay.flat(T.ResultTy(T.INT, T.FLOAT)) == ["i32", "i64"]
    assert lay.size_align(T.ResultTy(T.NULL, T.NULL)) == (1, 1)
