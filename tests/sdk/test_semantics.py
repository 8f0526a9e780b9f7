"""Runtime semantics of SPEC section 2 that the ten examples do not reach, compiled and run.

Lists and patterns (2.9, 2.12), results and optionals (2.7), traps (2.14), string escapes,
raw strings and interpolation (2.2, 2.10), float formatting of rounding builtins, enums with
payloads, record defaults and constraints at construction (2.11), loops and implicit returns
(2.8), Int-to-Float conversion (2.6), and the canonical ABI's harder shapes (3.5): more than
16 flat parameters, lists of bools and of records with mixed alignment, no result,
`result<_, string>`. Each expected value is derived from the SPEC's text, not from a run.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest

from tlo_embed import PluginTrap
from tlo_sdk import LumenCompileError, compile_lumen
from tlo_sdk.harness import Harness, HostCall, JournalEvent, LumenTrap

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
    "shapes": '''type Name = String

record Wide
  a: Int
  b: Int
  c: Int
  d: Int
  e: Int
  f: Int
  g: Int
  h: Int
  i: Int
  j: Int
  k: Int
  l: Int
  m: Int
  n: Int
  o: Int
  p: Int
  q: Int
end

record Mixed
  flag: Bool
  x: Float
  tag: Name
  keep: Bool
  inner: Wide?
end

const BASE: Int = 2 ** 10 + 3 * 7

pub cell sum_wide(w: Wide) -> Int
  return w.a + w.b + w.c + w.d + w.e + w.f + w.g + w.h + w.i
    + w.j + w.k + w.l + w.m + w.n + w.o + w.p
    + w.q
end

pub cell many(a: Int, b: Int, c: Int, d: Int, e: Int, f: Int, g: Int, h: Int, i: Int,
              j: Int, k: Int, l: Int, m: Int, n: Int, o: Int, p: Int,
              q: String) -> String = "{a + p}{q}"

pub cell flags(xs: list[Bool]) -> list[Bool] = [not x for x in xs]

pub cell mixed(ms: list[Mixed]) -> list[Mixed]
  let mut out: list[Mixed] = []
  for m in ms if m.keep
    out = append(out, Mixed(flag: not m.flag, x: m.x * 2, tag: m.tag ++ "!",
                            keep: m.keep, inner: m.inner))
  end
  return out
end

pub cell nothing(x: Int)
  if x > 0
    return null
  end
end

pub cell check(x: Int) -> result[Null, String]
  if x < 0
    return err("negative")
  end
  return ok(null)
end

pub cell loops(n: Int) -> Int
  let mut total = 0
  let mut i = 0
  while i < n
    i += 1
    if i % 3 == 0
      continue
    end
    for j in 0..i
      if j > 2
        break
      end
      total += j
    end
  end
  let mut k = 0
  loop
    k += 1
    if k >= 5
      break
    end
  end
  return total * 100 + k + BASE
end

pub cell even(n: Int) -> Bool
  if n == 0
    return true
  end
  return odd(n - 1)
end

cell odd(n: Int) -> Bool
  if n == 0
    return false
  end
  return even(n - 1)
end

pub cell sign(n: Int) -> String
  if n > 0
    "positive"
  else if n < 0
    "negative"
  else
    "zero"
  end
end

pub cell aliases(s: String, xs: list[Int]) -> Int
  return len(s) * 100 + count(xs) * 10 + (if is_empty(s) then 1 else 0)
end

pub cell fmt(xs: list[Float]) -> String
  let mut out = ""
  for x in xs
    out += "{x};"
  end
  return out
end
''',
    "convert": '''pub cell conv(n: Int) -> Float
  let f: Float = n
  let o: Int? = n
  let p: Float = o ?? 0
  return f + p
end
''',
    "boundary": '''record Pos
  n: Int where n > 0
end

enum Wrap
  One(Pos)
  Many(list[Pos])
  Empty
end

record Holder
  first: Pos?
  all: list[Wrap]
end

pub cell total(h: Holder, extra: result[Pos, String]) -> Int
  let mut t = 0
  match h.first
    p: Pos -> t += p.n
    _ -> t += 0
  end
  for w in h.all
    match w
      One(p) -> t += p.n
      Many(ps) ->
        for p in ps
          t += p.n
        end
      Empty -> t += 0
    end
  end
  match extra
    ok(p) -> t += p.n
    err(_) -> t += 0
  end
  return t
end
''',
    "precedence": '''pub cell coalesce(a: Int?, b: Int, c: Int) -> Int = a ?? b + c
pub cell pipe_cmp(x: String, y: String) -> Bool = x |> trim() == y
pub cell pipe_sum(a: Int, b: Int) -> String = a + b |> to_string()
pub cell concat_pipe(a: String, b: String) -> String = a ++ b |> upper()
pub cell and_or(a: Bool, b: Bool, c: Bool) -> Bool = a or b and c
pub cell neg_pow(x: Int) -> Int = -x ** 2
pub cell not_in(x: Int, xs: list[Int]) -> Bool = not (x in xs)
pub cell continued(a: Int, b: Int) -> String
  let total = a
    + b
    * 2
  let text = " {total} "
    |> trim()
  return text
end
''',
    "aliasing": '''pub cell alias(base: list[Int]) -> list[list[Int]]
  let a = append(base, 1)
  let b = append(base, 2)
  let c = append(a, 3)
  let d = append(a, 4)
  let e = base ++ [5]
  let f = a ++ [6]
  return [base, a, b, c, d, e, f]
end

pub cell grow_alias(n: Int) -> list[list[Int]]
  let mut xs: list[Int] = []
  let mut snapshots: list[list[Int]] = []
  for i in 0..n
    xs = append(xs, i)
    snapshots = append(snapshots, xs)
  end
  let other = append(slice(xs, 0, 2), 99)
  return append(snapshots, other)
end

pub cell str_alias(s: String) -> list[String]
  let a = s ++ "x"
  let b = s ++ "y"
  let mut t = s
  t += "!"
  return [s, a, b, t]
end
''',
}


class Trap:
    """The call must trap with exactly this message."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Trap({self.message!r})"


WIDE = {k: i for i, k in enumerate("abcdefghijklmnopq", 1)}
MIXED_A = {"flag": True, "x": 1.5, "tag": "a", "keep": True, "inner": None}
MIXED_B = {"flag": False, "x": -1.0, "tag": "c", "keep": True, "inner": WIDE}

GOOD = {"first": {"n": 1}, "all": [{"one": {"n": 2}}, {"many": [{"n": 3}, {"n": 4}]}, "empty"]}
BAD_POS = ("Constraint failed for field 'n' of record 'Pos': n > 0 (argument '{}' of exported"
           " cell 'total')")

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
    ("shapes", "sum-wide", (WIDE,), 153),                      # 17 flat values: by pointer
    ("shapes", "many", (*range(1, 17), "z"), "17z"),           # 17 parameters: by pointer
    ("shapes", "flags", ([True, False, True],), [False, True, False]),
    ("shapes", "mixed", ([MIXED_A, dict(MIXED_A, keep=False), MIXED_B],),
     [dict(MIXED_A, flag=False, x=3.0, tag="a!"), dict(MIXED_B, flag=True, x=-2.0, tag="c!")]),
    ("shapes", "nothing", (1,), None),
    ("shapes", "nothing", (-1,), None),
    ("shapes", "check", (1,), {"ok": None}),
    ("shapes", "check", (-1,), {"err": "negative"}),
    ("shapes", "loops", (10,), 16 * 100 + 5 + 1045),
    # the SPEC's precedence consequences (2.7) and operator-led continuation lines (2.3)
    ("precedence", "coalesce", (None, 2, 3), 5),
    ("precedence", "coalesce", (1, 2, 3), 1),                 # a ?? (b + c)
    ("precedence", "pipe-cmp", (" x ", "x"), True),            # trim(x) == y
    ("precedence", "pipe-sum", (1, 2), "3"),                   # to_string(a + b)
    ("precedence", "concat-pipe", ("a", "b"), "AB"),           # upper(a ++ b)
    ("precedence", "and-or", (True, False, False), True),      # a or (b and c)
    ("precedence", "neg-pow", (3,), 9),                        # (-x) ** 2
    ("precedence", "not-in", (2, [1, 2]), False),
    ("precedence", "continued", (1, 3), "7"),                  # a + b * 2 over three lines
    # lists and strings are values: appending to one never changes another (3.6 in-place append)
    ("aliasing", "alias", ([],), [[], [1], [2], [1, 3], [1, 4], [5], [1, 6]]),
    ("aliasing", "alias", ([7, 8],),
     [[7, 8], [7, 8, 1], [7, 8, 2], [7, 8, 1, 3], [7, 8, 1, 4], [7, 8, 5], [7, 8, 1, 6]]),
    ("aliasing", "grow-alias", (4,), [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 99]]),
    ("aliasing", "str-alias", ("ab",), ["ab", "abx", "aby", "ab!"]),
    ("convert", "conv", (3,), 6.0),                            # Int -> Float, also after ??
    # where checks at the boundary reach records inside options, lists, payloads, results
    ("boundary", "total", (GOOD, {"ok": {"n": 5}}), 15),
    ("boundary", "total", (GOOD, {"err": "x"}), 10),
    ("boundary", "total", (dict(GOOD, first={"n": 0}), {"ok": {"n": 5}}),
     Trap(BAD_POS.format("h"))),
    ("boundary", "total", (dict(GOOD, all=[{"many": [{"n": 3}, {"n": -4}]}]), {"ok": {"n": 5}}),
     Trap(BAD_POS.format("h"))),
    ("boundary", "total", (GOOD, {"ok": {"n": 0}}), Trap(BAD_POS.format("extra"))),
    ("shapes", "even", (10,), True),
    ("shapes", "even", (7,), False),
    ("shapes", "sign", (5,), "positive"),
    ("shapes", "sign", (-5,), "negative"),
    ("shapes", "sign", (0,), "zero"),
    ("shapes", "aliases", ("héllo", [1, 2]), 520),
    ("shapes", "aliases", ("", []), 1),
    ("shapes", "fmt", ([1.0, 0.1, 1e21, -0.0, float("inf"), float("nan"), 1.5e-7],),
     "1.0;0.1;1000000000000000000000;-0.0;inf;NaN;0.00000015;"),
]


@functools.cache
def harness(program: str) -> Harness:
    """The program compiled once (a program that fails to compile fails only its cases)."""
    return Harness(compile_lumen(PROGRAMS[program], filename=f"{program}.lm"))


@pytest.mark.parametrize(("program", "export", "args", "expected"), CASES,
                         ids=[f"{p}:{e}{a!r}"[:80] for p, e, a, _ in CASES])
def test_semantics(program: str, export: str, args: tuple[Any, ...], expected: Any) -> None:
    """The export returns the SPEC's value, or traps with the SPEC's message and position."""
    h = harness(program)
    if isinstance(expected, Trap):
        with pytest.raises(LumenTrap) as info:
            h.call(export, *args)
        assert info.value.message == expected.message
    else:
        got = h.call(export, *args)
        assert got == expected and type(got) is type(expected)


GROW = """\
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


def test_running_out_of_memory_is_a_trap_with_a_position() -> None:
    """A program allocation the store refuses traps "out of memory (at ...)" (2.14, 3.6)."""
    h = Harness(compile_lumen(GROW, filename="grow.lm"), memory_limit=1 << 20)
    assert h.call("grow", "ab", 10) == 2048
    with pytest.raises(LumenTrap) as info:
        h.call("grow", "ab", 20)
    assert info.value.message.startswith("out of memory (at grow.lm:5:"), info.value.message
    assert h.call("grow", "ab", 3) == 16


CAPS = '''\
use tool log.info as Info
use tool log.warn as Warn
use tool journal.append as Emit
use tool random.below as Roll
use tool kv.delete as Forget
use tool kv.get as Get
use tool clock.now_ms as Now
bind effect log to Info
bind effect log to Warn
bind effect journal to Emit
bind effect random to Roll
bind effect kv to Forget
bind effect kv to Get
bind effect clock to Now
grant Info
grant Warn
grant Emit
  max_calls 3
grant Roll
grant Forget
  key_prefix "tmp/"
grant Get
grant Now

cell note(message: String) / {log}
  Info(message)
end

pub cell record_event(stream: String, kind: String) -> Int / {journal, log, random, clock}
  let roll = Roll(bound: 6)
  note("rolled {roll}")
  let payload = "\\{\\"roll\\": {roll}, \\"at\\": {Now()}}"
  let version = Emit(payload: payload, event_type: kind, stream)
  if version > 1
    Warn(message: "stream {stream} has {version} events")
  end
  return version
end

pub cell forget(key: String) -> Bool / {kv}
  let had = Get(key: key) != null
  return Forget(key: key) and had
end
'''


def test_capabilities_are_called_in_order_with_named_arguments() -> None:
    """Tool calls (2.13): named arguments in any order, the shorthand, effects through a
    helper cell, one import per interface, host calls in evaluation order."""
    plugin = compile_lumen(CAPS, filename="caps.lm")
    assert plugin.manifest["effects_by_export"] == {
        "forget": ["kv"], "record-event": ["clock", "journal", "log", "random"],
    }
    h = Harness(plugin, seed=3, now_ms=42)
    assert h.imports == [
        "lumen:runtime/rt@0.1.0", "tlo:host/clock@0.1.0", "tlo:host/journal@0.1.0",
        "tlo:host/kv@0.1.0", "tlo:host/log@0.1.0", "tlo:host/random@0.1.0",
    ]
    rolls = random.Random(3)
    first, second = rolls.randrange(6), rolls.randrange(6)
    assert h.call("record-event", "s1", "Rolled") == 1
    assert h.call("record-event", "s1", "Rolled") == 2
    payloads = [f'{{"roll": {first}, "at": 42}}', f'{{"roll": {second}, "at": 42}}']
    assert h.journal == [JournalEvent("s1", "Rolled", payloads[0], 1),
                         JournalEvent("s1", "Rolled", payloads[1], 2)]
    assert h.log == [("info", f"rolled {first}"), ("info", f"rolled {second}"),
                     ("warn", "stream s1 has 2 events")]
    assert h.host_calls[:4] == [
        HostCall("random", "below", (6,)),
        HostCall("log", "info", (f"rolled {first}",)),
        HostCall("clock", "now-ms", ()),
        HostCall("journal", "append", ("s1", "Rolled", payloads[0])),
    ]
    h.kv["tmp/a"] = "1"
    assert h.call("forget", "tmp/a") is True
    assert h.call("forget", "tmp/a") is False
    assert h.kv == {}


def test_a_host_refusal_stops_the_call() -> None:
    """An error raised by a host function aborts the call; the grant's key_prefix is
    enforced by the harness itself (as by the engine) before the host function runs."""

    class Refused(Exception):
        pass

    def guarded_delete(key: str) -> bool:
        if key == "tmp/locked":
            raise Refused(key)
        return False

    h = Harness(compile_lumen(CAPS, filename="caps.lm"), host={("kv", "delete"): guarded_delete})
    with pytest.raises(PluginTrap, match="key 'etc/passwd' is outside the plugin's grant"
                       " key_prefix 'tmp/'") as info:
        h.call("forget", "etc/passwd")
    assert info.value.kind == "host"
    with pytest.raises(Refused):
        h.call("forget", "tmp/locked")
    assert h.call("forget", "tmp/x") is False


MARKDOWN = """\
@strict true
# Doc

````markdown
Example inside a markdown fence:
```lumen
pub cell one() -> Int = 1
```
````

```LM
pub cell two() -> Int = 2
```

```python
this is not code
```
"""


def test_markdown_extraction_follows_lumen() -> None:
    """2.1: `lumen`/`lm` fences (any case) are code, even inside a ````markdown fence; other
    fences are prose; a directive outside fences is accepted; positions are the file's."""
    plugin = compile_lumen(MARKDOWN, filename="doc.lm.md")
    assert plugin.diagnostics == []
    h = Harness(plugin)
    assert (h.exports, h.call("one"), h.call("two")) == (["one", "two"], 1, 2)
    broken = MARKDOWN.replace("```LM\n", "```LM\n  oops $\n")
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(broken, filename="doc.lm.md")
    assert [(d.line, d.column, d.code) for d in info.value.diagnostics] == [(12, 8, "E001")]


def test_raw_files_skip_triple_backtick_doc_blocks() -> None:
    """2.1: in a .lm file a ``` block is documentation, skipped like a comment."""
    source = (
        "@deterministic true\n```\nnot code: cell nonsense(\n```\npub cell three() -> Int = 3\n"
    )
    plugin = compile_lumen(source, filename="doc.lm")
    assert plugin.diagnostics == []
    assert Harness(plugin).call("three") == 3
