"""Runtime semantics of SPEC section 2 that the ten examples do not reach, compiled and run.

Lists and patterns (2.9, 2.12), results and optionals (2.7), traps (2.14), string escapes,
raw strings and interpolation (2.2, 2.10), float formatting of rounding builtins, enums with
payloads, record defaults and constraints at construction (2.11). Each expected value is
derived from the SPEC's text, not from a run.
"""

from __future__ import annotations

from typing import Any

import pytest

from tlo_sdk import compile_lumen
from tlo_sdk.harness import Harness, LumenTrap

PROGRAMS = {
    "lists": '''pub cell list_ops(xs: list[Int]) -> list[Int]
  let ys = append(xs, 99)
  return reverse(slice(ys, 1, 0))
end

pub cell firsts(xs: list[Int]) -> Int
  return (first(xs) ?? -1) * 1000 + (last(xs) ?? -1)
end

pub cell has(xs: list[Int], x: Int) -> Bool = x in xs and contains(xs, x)

pub cell concat(xs: list[Int], ys: list[Int]) -> list[Int] = xs ++ ys

pub cell rest(xs: list[Int]) -> Int
  match xs
    [] -> return 0
    [a] -> return a
    [a, b, ...others] -> return a + b + length(others)
  end
end

pub cell squares(n: Int) -> list[Int] = [i * i for i in 0..n if i % 2 == 0]

pub cell upto_max(n: Int) -> Int
  let mut count = 0
  for i in 9223372036854775805..=9223372036854775807
    count += 1
  end
  return count + n
end
''',
    "results": '''pub cell unwrap_it(x: Int) -> Int
  let r: result[Int, String] = if x > 0 then ok(x) else err("neg {x}")
  return unwrap(r)
end

pub cell bang(x: Int) -> Int
  let r: result[Int, String] = if x > 0 then ok(x) else err("neg")
  return r!
end

pub cell null_bang(s: String) -> Int = to_int(s)!

pub cell or_default(x: Int) -> Int
  let r: result[Int, String] = if x > 0 then ok(x) else err("neg")
  return unwrap_or(r, 7)
end

pub cell stop(x: Int) -> Int
  if x > 10
    halt("too big: {x}")
  end
  return x
end

pub cell oks(x: Int) -> Bool
  let r: result[Int, String] = if x > 0 then ok(x) else err("neg")
  return is_ok(r) and not is_err(r)
end
''',
    "strings": r'''pub cell escapes() -> String = "a\tb\n\x41\u{1F600}\\\"\{x}{}"

pub cell raw() -> String = r"no {interp} \n here"

pub cell nested(xs: list[String]) -> String = "[{join(xs, ", ")}]"

pub cell floats(x: Float) -> String = "{x} {round(x)} {floor(x)} {ceil(x)} {sqrt(16)} {abs(-x)}"

pub cell bools(b: Bool) -> String = "{b}/{not b}"

pub cell pipe(s: String) -> String = s |> trim() |> upper()
''',
    "records": '''enum Shape
  Circle(Float)
  Square(Float)
  Dot
end

record Box
  label: String = "box"
  size: Int = 1 where size > 0
end

pub cell area(s: Shape) -> Float
  return match s
    Circle(r) -> 3.0 * r * r
    Square(w) -> w * w
    Dot -> 0.0
  end
end

pub cell make(n: Int) -> Box = Box(size: n)

pub cell same(a: Box, b: Box) -> Bool = a == b

pub cell grade(n: Int) -> String
  match n
    0 -> return "zero"
    1..=9 -> return "small"
    10..100 -> return "medium"
    _ -> return "large"
  end
end

pub cell maybe(x: Int?) -> Int
  match x
    v: Int -> return v
    _ -> return -1
  end
end
''',
}


class Trap:
    """The call must trap with exactly this message."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Trap({self.message!r})"


CASES: list[tuple[str, str, tuple[Any, ...], Any]] = [
    ("lists", "list-ops", ([1, 2, 3],), [99, 3, 2]),          # slice end 0 = "to the end"
    ("lists", "firsts", ([],), -1001),
    ("lists", "firsts", ([4, 5, 6],), 4006),
    ("lists", "has", ([1, 2], 2), True),
    ("lists", "has", ([1, 2], 3), False),
    ("lists", "concat", ([1], [2, 3]), [1, 2, 3]),
    ("lists", "rest", ([],), 0),
    ("lists", "rest", ([5],), 5),
    ("lists", "rest", ([1, 2, 3, 4],), 5),
    ("lists", "squares", (7,), [0, 4, 16, 36]),
    ("lists", "upto-max", (0,), 3),                            # ..= MAX terminates
    ("results", "unwrap-it", (3,), 3),
    ("results", "unwrap-it", (-2,), Trap("unwrap on err: neg -2 (at results.lm:3:10)")),
    ("results", "bang", (-1,), Trap("result unwrap failed: value is err (at results.lm:8:10)")),
    ("results", "null-bang", ("x",), Trap("null assertion failed (at results.lm:11:40)")),
    ("results", "null-bang", ("12",), 12),
    ("results", "or-default", (-1,), 7),
    ("results", "or-default", (5,), 5),
    ("results", "stop", (11,), Trap("halt: too big: 11 (at results.lm:20:5)")),
    ("results", "stop", (10,), 10),
    ("results", "oks", (1,), True),
    ("results", "oks", (0,), False),
    ("strings", "escapes", (), "a\tb\nA\U0001F600\\\"{x}{}"),
    ("strings", "raw", (), "no {interp} \\n here"),
    ("strings", "nested", (["a", "b"],), "[a, b]"),
    ("strings", "floats", (2.5,), "2.5 3.0 2.0 3.0 4.0 2.5"),
    ("strings", "floats", (-0.5,), "-0.5 -1.0 -1.0 -0.0 4.0 0.5"),
    ("strings", "bools", (True,), "true/false"),
    ("strings", "pipe", ("  hi ",), "HI"),
    ("records", "area", ({"circle": 1.0},), 3.0),
    ("records", "area", ({"square": 2.0},), 4.0),
    ("records", "area", ("dot",), 0.0),
    ("records", "make", (3,), {"label": "box", "size": 3}),    # default filled in
    ("records", "make", (0,),
     Trap("Constraint failed for field 'size' of record 'Box': size > 0 (at records.lm:20:32)")),
    ("records", "same", ({"label": "a", "size": 1}, {"label": "a", "size": 1}), True),
    ("records", "same", ({"label": "a", "size": 1}, {"label": "b", "size": 1}), False),
    ("records", "grade", (0,), "zero"),
    ("records", "grade", (5,), "small"),
    ("records", "grade", (9,), "small"),
    ("records", "grade", (10,), "medium"),
    ("records", "grade", (100,), "large"),
    ("records", "maybe", (None,), -1),
    ("records", "maybe", (4,), 4),
]


@pytest.fixture(scope="module")
def harnesses() -> dict[str, Harness]:
    return {name: Harness(compile_lumen(src, filename=f"{name}.lm"))
            for name, src in PROGRAMS.items()}


@pytest.mark.parametrize(("program", "export", "args", "expected"), CASES,
                         ids=[f"{p}:{e}{a!r}" for p, e, a, _ in CASES])
def test_semantics(harnesses: dict[str, Harness], program: str, export: str,
                   args: tuple[Any, ...], expected: Any) -> None:
    """The export returns the SPEC's value, or traps with the SPEC's message and position."""
    h = harnesses[program]
    if isinstance(expected, Trap):
        with pytest.raises(LumenTrap) as info:
            h.call(export, *args)
        assert info.value.message == expected.message
    else:
        got = h.call(export, *args)
        assert got == expected and type(got) is type(expected)
