"""Resolution, type checking and effects (resolve.py, check*.py, calls.py, effects.py, patterns.py)."""

from __future__ import annotations

import pytest
from tlo_sdk import LumenCompileError, compile_lumen
from tlo_sdk.resolve import CATALOG


def diags(src: str) -> list[tuple[str, int, int]]:
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(src, filename="t.lm")
    return [(d.code, d.line, d.column) for d in info.value.diagnostics]


def warnings(src: str) -> list[str]:
    return [d.code for d in compile_lumen(src, filename="t.lm").diagnostics]


def test_catalog_is_generated_from_the_host_wit() -> None:
    """Every host function except journal.read (tuples, u32) is a tool; names are snake_case."""
    assert "clock.now_ms" in CATALOG and "kv.keys" in CATALOG and "journal.read" not in CATALOG
    cap = CATALOG["journal.append"]
    assert [p[0] for p in cap.params] == ["stream", "event_type", "payload"]
    assert cap.import_name == "tlo:host/journal@0.1.0"


def test_spec_example_a_bad_types() -> None:
    """SPEC 5 example A: W100, E100 with a suggestion, E200 in position order."""
    src = ("record Order\n  id: String\n  amount: Int where amount > 0\nend\n\n"
           "pub cell total(order: Order, extra: Int) -> Int\n  let sum = order.amount + extr\n  return \"sum\"\nend\n")
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(src, filename="bad_types.lm")
    out = str(info.value)
    assert [(d.code, d.line, d.column) for d in info.value.diagnostics] == [
        ("W100", 7, 7), ("E100", 7, 28), ("E200", 8, 10)]
    assert "help: did you mean 'extra'?" in out
    assert "bad_types.lm:8:10: error[E200]: type mismatch: expected Int, found String" in out


def test_spec_example_b_match_without_e206() -> None:
    """SPEC 5 example B: E205 lists the missing variants, E115 the typo, and no E206."""
    src = ("enum Direction\n  North\n  South\n  East\n  West\nend\n\ncell label(d: Direction) -> String\n"
           "  match d\n    North -> return \"up\"\n    South -> return \"down\"\n    Eest -> return \"right\"\n  end\nend\n")
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(src, filename="bad_match.lm")
    ds = info.value.diagnostics
    assert [(d.code, d.line, d.column) for d in ds] == [("E205", 9, 3), ("E115", 12, 5)]
    assert ds[0].message == "incomplete match: missing variants East, West"


def test_spec_example_c_capabilities() -> None:
    """SPEC 5 example C: E111, then E300 and E301 at the KvPut call (shorthand argument accepted)."""
    src = ("use tool kv.get as KvGet\nuse tool kv.put as KvPut\nuse tool kv.incr as KvIncr\n"
           "bind effect kv to KvGet\nbind effect kv to KvPut\ngrant KvGet timeout_ms 50\n\n"
           "pub cell remember(key: String, value: String) -> String?\n  KvPut(key: key, value: value)\n"
           "  return KvGet(key)\nend\n")
    assert diags(src) == [("E111", 3, 10), ("E300", 9, 3), ("E301", 9, 3)]


def test_exhaustiveness_over_results_options_lists_and_bools() -> None:
    """Usefulness covers result, optional, list-length and Bool constructors; guards do not count."""
    assert diags("cell f(r: result[Int, String]) -> Int\n  match r\n    ok(n) -> n\n  end\nend\n") == [("E205", 2, 3)]
    assert diags("cell f(x: Int?) -> Int\n  match x\n    n: Int -> n\n  end\nend\n") == [("E205", 2, 3)]
    assert diags("cell f(x: list[Int]) -> Int\n  match x\n    [] -> 0\n    [a] -> a\n  end\nend\n") == [("E205", 2, 3)]
    assert diags("cell f(b: Bool) -> Int\n  match b\n    true -> 1\n    false if b -> 0\n  end\nend\n") == [("E205", 2, 3)]
    ok = "cell f(x: list[Int]) -> Int\n  match x\n    [] -> 0\n    [a, ..] -> a\n  end\nend\npub cell g() -> Int = f([1])\n"
    assert warnings(ok) == []


def test_unreachable_arm_and_code_warnings() -> None:
    """W102 for an arm covered by earlier arms, W101 for code after return."""
    src = "pub cell f(b: Bool) -> Int\n  match b\n    _ -> 1\n    true -> 2\n  end\nend\n"
    assert warnings(src) == ["W102"]
    src = "pub cell f(b: Bool) -> Int\n  return 1\n  let x = 2\nend\n"
    assert warnings(src) == ["W101", "W100"]


def test_scoping_rules() -> None:
    """No shadowing across scopes (E105), same-scope rebinding ok, immutable assignment E106."""
    assert diags("cell f(x: Int) -> Int\n  for i in 0..3\n    let x = i\n  end\n  return x\nend\n")[0] == ("E105", 3, 9)
    assert diags("cell f(x: Int) -> Int\n  x = 2\n  return x\nend\n") == [("E106", 2, 3)]
    assert warnings("pub cell f(x: Int) -> Int\n  let y = x\n  let y = y + 1\n  return y\nend\n") == []
    assert ("E100", 5, 10) in diags("cell f() -> Int\n  if true\n    let z = 1\n  end\n  return z\nend\n")


def test_inference_and_joins() -> None:
    """`[]` needs a type (E204); incompatible branches are E222; Int joins Float."""
    assert ("E204", 2, 12) in diags("cell f() -> Int\n  let xs = []\n  return 0\nend\n")
    assert "E222" in [c for c, _, _ in diags("cell f(b: Bool) -> Int\n  let v = if b then 1 else \"x\"\n  return 0\nend\n")]
    assert warnings("pub cell f(b: Bool) -> Float\n  let v = if b then 1 else 2.5\n  return v\nend\n") == []


def test_try_needs_a_compatible_result() -> None:
    """`try`/`?` in a cell that does not return result[_, E] with the same E is E207."""
    src = "cell g() -> result[Int, String] = ok(1)\ncell f() -> Int\n  let v = try g()\n  return v\nend\n"
    assert diags(src) == [("E207", 3, 11)]


def test_where_constraints() -> None:
    """A where clause may use only its own field (E210); a bad default is E211."""
    src = "record A\n  a: Int\n  b: Int where b > a\nend\n"
    assert diags(src) == [("E210", 3, 20)]
    src = "record A\n  age: Int = 0 where age > 18\nend\n"
    assert diags(src) == [("E211", 2, 14)]
    src = "record A\n  email: String where contains(email, \"@\")\nend\n"
    assert diags(src)[0][0] == "E210"


def test_effect_rows() -> None:
    """Inherited effects missing from a row are E302; unused declared effects W300; unknown W303."""
    src = ("use tool clock.now_ms as Now\nbind effect clock to Now\ngrant Now\n\ncell t() -> Int / {clock} = Now()\n"
           "pub cell f() -> Int = t()\n")
    assert diags(src) == [("E302", 6, 23)]
    src = ("use tool clock.now_ms as Now\nbind effect clock to Now\ngrant Now\n\n"
           "pub cell f() -> Int / {clock, http} = 1\n")
    assert warnings(src) == ["W302", "W300", "W303"]


def test_constants_are_evaluated_at_compile_time() -> None:
    """A constant that would trap is E219; constants may reference each other."""
    assert diags("const A: Int = 9223372036854775807 * 2\n") == [("E219", 1, 36)]
    assert warnings("const A = 2\nconst B = A ** 3\npub cell f() -> Int = B\n") == []
