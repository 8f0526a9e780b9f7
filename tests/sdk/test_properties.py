"""Arithmetic, comparisons and the string and list builtins agree with a Python model of the
SPEC (2.7, 2.10, 2.12, Appendix B).

One small Lumen program exporting a cell per operation is compiled once for the module;
hypothesis feeds it inputs through tlo_sdk.harness and compares each result (or trap message)
with the reference functions below, written from the SPEC's text and Appendix B.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tlo_sdk import compile_lumen
from tlo_sdk.harness import Harness, LumenTrap, format_f64, parse_f64

MIN, MAX = -(2**63), 2**63 - 1

SOURCE = """\
pub cell add(a: Int, b: Int) -> Int = a + b
pub cell sub(a: Int, b: Int) -> Int = a - b
pub cell mul(a: Int, b: Int) -> Int = a * b
pub cell quot(a: Int, b: Int) -> Int = a / b
pub cell floor_div(a: Int, b: Int) -> Int = a // b
pub cell modulo(a: Int, b: Int) -> Int = a % b
pub cell power(a: Int, b: Int) -> Int = a ** b
pub cell negate(a: Int) -> Int = -a
pub cell absolute(a: Int) -> Int = abs(a)
pub cell int_text(a: Int) -> String = "{a}"
pub cell int_parse(s: String) -> Int? = to_int(s)
pub cell float_text(x: Float) -> String = to_string(x)
pub cell float_parse(s: String) -> Float? = to_float(s)
pub cell float_to_int(x: Float) -> Int = to_int(x)
pub cell round_float(x: Float) -> Float = round(x)
pub cell str_length(s: String) -> Int = length(s)
pub cell str_contains(s: String, t: String) -> Bool = s.contains(t)
pub cell str_starts(s: String, t: String) -> Bool = starts_with(s, t)
pub cell str_ends(s: String, t: String) -> Bool = ends_with(s, t)
pub cell str_index(s: String, t: String) -> Int = index_of(s, t)
pub cell str_slice(s: String, a: Int, b: Int) -> String = slice(s, a, b)
pub cell str_upper(s: String) -> String = upper(s)
pub cell str_lower(s: String) -> String = lower(s)
pub cell str_trim(s: String) -> String = trim(s)
pub cell str_split(s: String, sep: String) -> list[String] = split(s, sep)
pub cell str_join(xs: list[String], sep: String) -> String = join(xs, sep)
pub cell str_replace(s: String, a: String, b: String) -> String = replace(s, a, b)
pub cell str_concat(a: String, b: String) -> String = a ++ b
pub cell str_less(a: String, b: String) -> Bool = a < b
pub cell str_equal(a: String, b: String) -> Bool = a == b
pub cell str_in(a: String, b: String) -> Bool = a in b
pub cell sort_strings(xs: list[String]) -> list[String] = sort(xs)
pub cell sort_ints(xs: list[Int]) -> list[Int] = sort(xs)
pub cell reverse_strings(xs: list[String]) -> list[String] = reverse(xs)
pub cell at(xs: list[Int], i: Int) -> Int = xs[i]
pub cell imin(a: Int, b: Int) -> Int = min(a, b)
pub cell iclamp(x: Int, lo: Int, hi: Int) -> Int = clamp(x, lo, hi)
pub cell fadd(a: Float, b: Float) -> Float = a + b
pub cell fsub(a: Float, b: Float) -> Float = a - b
pub cell fmul(a: Float, b: Float) -> Float = a * b
pub cell fdiv(a: Float, b: Float) -> Float = a / b
pub cell ffloordiv(a: Float, b: Float) -> Float = a // b
pub cell fmin(a: Float, b: Float) -> Float = min(a, b)
pub cell fmax(a: Float, b: Float) -> Float = max(a, b)
pub cell feq(a: Float, b: Float) -> Bool = a == b
pub cell flt(a: Float, b: Float) -> Bool = a < b
pub cell mixed_lt(a: Int, b: Float) -> Bool = a < b
pub cell mixed_eq(a: Int, b: Float) -> Bool = a == b
pub cell mixed_add(a: Int, b: Float) -> Float = a + b
pub cell int_to_float(a: Int) -> Float = to_float(a)
"""


@pytest.fixture(scope="module")
def h() -> Harness:
    return Harness(compile_lumen(SOURCE, filename="props.lm"))


class Trap:
    """A reference result meaning "traps with a message starting with `prefix`"."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"Trap({self.prefix!r})"


def same(h: Harness, export: str, args: tuple[Any, ...], expected: Any) -> None:
    """The export gives `expected` (floats by bits), or traps as a Trap says."""
    if isinstance(expected, Trap):
        with pytest.raises(LumenTrap) as info:
            h.call(export, *args)
        assert info.value.message.startswith(expected.prefix), info.value.message
        return
    got = h.call(export, *args)
    if isinstance(expected, float) and isinstance(got, float):
        both_nan = math.isnan(got) and math.isnan(expected)
        assert both_nan or got.hex() == expected.hex(), (got, expected)
        assert math.isnan(got) or math.copysign(1, got) == math.copysign(1, expected)
    else:
        assert got == expected


# -- reference semantics (SPEC 2.7, 2.12, Appendix B) -------------------------------------------


def checked(value: int, operation: str) -> int | Trap:
    return value if MIN <= value <= MAX else Trap(f"integer overflow in {operation}")


def ref_quot(a: int, b: int) -> int | Trap:
    if b == 0:
        return Trap("division by zero")
    q = abs(a) // abs(b)
    return checked(q if (a < 0) == (b < 0) else -q, "division")


def ref_floor_div(a: int, b: int) -> int | Trap:
    if b == 0:
        return Trap("division by zero")
    r = a % abs(b)
    return checked((a - r) // b, "floor division")


def ref_modulo(a: int, b: int) -> int | Trap:
    if b == 0:
        return Trap("division by zero")
    return a % abs(b)


def ref_power(a: int, b: int) -> int | Trap:
    if b < 0:
        return Trap("integer overflow in exponentiation")
    if a in (0, 1) or b == 0:
        return 1 if b == 0 else a
    if a == -1:
        return 1 if b % 2 == 0 else -1
    if b >= 64:
        return Trap("integer overflow in exponentiation")
    return checked(a**b, "exponentiation")


def ref_negate(a: int) -> int | Trap:
    return checked(-a, "negation")


def ref_parse_int(s: str) -> int | None:
    if not s or not all(c in "0123456789" for c in s.lstrip("+-")) or s.lstrip("+-") == "":
        return None
    if len(s) - len(s.lstrip("+-")) > 1:
        return None
    v = int(s)
    return v if MIN <= v <= MAX else None


def ref_float_to_int(x: float) -> int:
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return MAX if x > 0 else MIN
    return max(MIN, min(MAX, math.trunc(x)))


def ref_round(x: float) -> float:
    if not math.isfinite(x):
        return x
    t = math.copysign(float(math.trunc(x)), x)
    return t + math.copysign(1.0, x) if abs(x - t) >= 0.5 else t


WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def ref_slice(s: str, start: int, end: int) -> str:
    lo = max(start, 0)
    hi = len(s) if end <= 0 else min(end, len(s))
    return s[lo:hi] if lo < hi else ""


def ref_split(s: str, sep: str) -> list[str]:
    if sep == "":
        return ["", *s, ""]
    return s.split(sep)


def ascii_upper(s: str) -> str:
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in s)


def ascii_lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


# -- strategies -----------------------------------------------------------------------------

EDGES = [MIN, MIN + 1, -3037000500, -3037000499, -(2**32), -2, -1, 0, 1, 2, 2**32,
         3037000499, 3037000500, MAX - 1, MAX]
ints = st.one_of(st.sampled_from(EDGES), st.integers(MIN, MAX), st.integers(-1000, 1000))
small = st.integers(-3, 70)
floats = st.floats(allow_nan=True, allow_infinity=True)
chars = st.one_of(
    st.sampled_from(list("ab, -_;=AZaz09")),
    st.sampled_from(list(WHITE_SPACE)),
    st.sampled_from(list("éßÄ中😀\u0301")),
    st.characters(exclude_categories=("Cs",)),
)
texts = st.text(alphabet=chars, max_size=12)
short = st.text(alphabet=st.sampled_from(list("ab, é")), max_size=3)

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def binary(export: str, ref: Callable[[int, int], Any]) -> Callable[[Harness], None]:
    @SETTINGS
    @given(a=ints, b=ints)
    @example(a=MIN, b=-1)
    @example(a=MAX, b=1)
    @example(a=-7, b=2)
    @example(a=7, b=-2)
    @example(a=-7, b=3)
    @example(a=7, b=-3)
    @example(a=5, b=0)
    def prop(h: Harness, a: int, b: int) -> None:
        same(h, export, (a, b), ref(a, b))

    prop.__doc__ = f"{export} agrees with the reference on all Int pairs, overflow included."
    return prop


test_add = binary("add", lambda a, b: checked(a + b, "addition"))
test_sub = binary("sub", lambda a, b: checked(a - b, "subtraction"))
test_mul = binary("mul", lambda a, b: checked(a * b, "multiplication"))
test_quot = binary("quot", ref_quot)
test_floor_div = binary("floor-div", ref_floor_div)
test_modulo = binary("modulo", ref_modulo)


def test_spec_examples_of_division(h: Harness) -> None:
    """The SPEC's worked examples: -7 / 2, -7 // 2, 7 // -2, -7 % 3, 7 % -3, MIN % -1."""
    assert h.call("quot", -7, 2) == -3
    assert h.call("floor-div", -7, 2) == -4
    assert h.call("floor-div", 7, -2) == -3
    assert h.call("modulo", -7, 3) == 2
    assert h.call("modulo", 7, -3) == 1
    assert h.call("modulo", MIN, -1) == 0
    assert h.call("power", 0, 0) == 1


@SETTINGS
@given(a=ints | st.integers(-20, 20), b=small)
@example(a=-2, b=63)
@example(a=2, b=63)
@example(a=3037000500, b=2)
@example(a=0, b=-1)
def test_power(h: Harness, a: int, b: int) -> None:
    """a ** b is exact, or traps on overflow and on a negative exponent."""
    same(h, "power", (a, b), ref_power(a, b))


@SETTINGS
@given(a=ints)
def test_negate_abs_and_text(h: Harness, a: int) -> None:
    """-a and abs(a) trap only for MIN; "{a}" is the decimal text."""
    same(h, "negate", (a,), ref_negate(a))
    same(h, "absolute", (a,), checked(abs(a), "negation"))
    same(h, "int-text", (a,), str(a))


@SETTINGS
@given(s=st.one_of(texts, ints.map(str), ints.map(lambda i: f"+{i}"),
                   st.sampled_from(["", "+", "-", "--1", "+-1", "1_0", " 1", "9223372036854775808",
                                    "-9223372036854775808", "007", "١٢"])))
def test_to_int_of_string(h: Harness, s: str) -> None:
    """to_int(String): sign then ASCII digits, in range, else null."""
    same(h, "int-parse", (s,), ref_parse_int(s))


@SETTINGS
@given(x=floats)
@example(x=-0.0)
@example(x=1e15)
@example(x=0.1)
def test_float_to_string_and_back(h: Harness, x: float) -> None:
    """to_string(Float) is format_f64 (Appendix B), and to_float parses it back."""
    same(h, "float-text", (x,), format_f64(x))
    text = format_f64(x)
    same(h, "float-parse", (text,), parse_f64(text))


@SETTINGS
@given(s=texts | st.sampled_from(["1.", ".5", "-2e3", "INF", "nan", "1e", "e5", ".", "1_0"]))
def test_to_float_of_string(h: Harness, s: str) -> None:
    """to_float(String) follows the SPEC's grammar (Appendix B parse_f64)."""
    same(h, "float-parse", (s,), parse_f64(s))


@SETTINGS
@given(x=floats)
@example(x=2.5)
@example(x=-2.5)
@example(x=0.49999999999999994)
@example(x=-0.3)
@example(x=9.3e18)
def test_float_to_int_and_round(h: Harness, x: float) -> None:
    """to_int(Float) truncates and saturates (NaN -> 0); round is half away from zero."""
    same(h, "float-to-int", (x,), ref_float_to_int(x))
    same(h, "round-float", (x,), ref_round(x))


@SETTINGS
@given(s=texts, t=short | texts)
def test_string_predicates(h: Harness, s: str, t: str) -> None:
    """length (code points), contains, starts_with, ends_with, index_of, in, ==, <, ++."""
    same(h, "str-length", (s,), len(s))
    same(h, "str-contains", (s, t), t in s)
    same(h, "str-starts", (s, t), s.startswith(t))
    same(h, "str-ends", (s, t), s.endswith(t))
    same(h, "str-index", (s, t), s.find(t))
    same(h, "str-in", (t, s), t in s)
    same(h, "str-equal", (s, t), s == t)
    same(h, "str-less", (s, t), s.encode() < t.encode())
    same(h, "str-concat", (s, t), s + t)


@SETTINGS
@given(s=texts, a=st.integers(-5, 15) | ints, b=st.integers(-5, 15) | ints)
def test_slice(h: Harness, s: str, a: int, b: int) -> None:
    """slice counts code points; a non-positive end means "to the end"."""
    same(h, "str-slice", (s, a, b), ref_slice(s, a, b))


@SETTINGS
@given(s=texts)
def test_case_and_trim(h: Harness, s: str) -> None:
    """upper/lower change ASCII letters only; trim removes Unicode White_Space at both ends."""
    same(h, "str-upper", (s,), ascii_upper(s))
    same(h, "str-lower", (s,), ascii_lower(s))
    same(h, "str-trim", (s,), s.strip(WHITE_SPACE))


@SETTINGS
@given(s=texts, sep=short)
@example(s="a,,b", sep=",")
@example(s="", sep=",")
@example(s="abc", sep="")
@example(s="", sep="")
def test_split_and_join(h: Harness, s: str, sep: str) -> None:
    """split follows the SPEC (empty separator: one piece per code point plus empty ends)."""
    pieces = ref_split(s, sep)
    same(h, "str-split", (s, sep), pieces)
    same(h, "str-join", (pieces, sep), sep.join(pieces))


@SETTINGS
@given(s=texts, a=short, b=short)
@example(s="ab", a="", b="-")
@example(s="aaa", a="aa", b="b")
def test_replace(h: Harness, s: str, a: str, b: str) -> None:
    """replace: every non-overlapping occurrence, left to right; "" inserts around code points."""
    same(h, "str-replace", (s, a, b), s.replace(a, b))


@SETTINGS
@given(xs=st.lists(texts, max_size=8), ys=st.lists(ints, max_size=8))
def test_sort_and_reverse(h: Harness, xs: list[str], ys: list[int]) -> None:
    """sort orders strings by UTF-8 bytes and Ints numerically; reverse reverses."""
    same(h, "sort-strings", (xs,), sorted(xs, key=lambda x: x.encode()))
    same(h, "sort-ints", (ys,), sorted(ys))
    same(h, "reverse-strings", (xs,), xs[::-1])


def ref_index(xs: list[int], i: int) -> int | Trap:
    j = i + len(xs) if i < 0 else i
    if not 0 <= j < len(xs):
        return Trap(f"index {i} out of bounds for list of length {len(xs)}")
    return xs[j]


def ref_fmin(a: float, b: float) -> float:
    """Appendix B: not f64.min, which returns NaN when either operand is NaN."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a < b else b


def ref_fmax(a: float, b: float) -> float:
    if a != a:
        return b
    if b != b:
        return a
    return a if a > b else b


def ieee(op: str, a: float, b: float) -> float:
    """IEEE-754 binary64 arithmetic (numpy), no exceptions: x/0 is inf or NaN."""
    x, y = np.float64(a), np.float64(b)
    with np.errstate(all="ignore"):
        r = {"+": x + y, "-": x - y, "*": x * y, "/": x / y, "//": np.floor(x / y)}[op]
    return float(r)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


@SETTINGS
@given(xs=st.lists(st.integers(MIN, MAX), max_size=6), i=st.integers(-8, 8) | ints)
def test_list_index(h: Harness, xs: list[int], i: int) -> None:
    """xs[i]: negative indices count from the end; out of range traps with the SPEC's text."""
    same(h, "at", (xs, i), ref_index(xs, i))


@SETTINGS
@given(a=ints, b=ints, c=ints)
def test_int_min_and_clamp(h: Harness, a: int, b: int, c: int) -> None:
    """min on Ints; clamp(x, lo, hi) is min(max(x, lo), hi), no error when lo > hi."""
    same(h, "imin", (a, b), min(a, b))
    same(h, "iclamp", (a, b, c), min(max(a, b), c))


@SETTINGS
@given(a=floats, b=floats)
@example(a=0.0, b=-0.0)
@example(a=-0.0, b=0.0)
@example(a=float("nan"), b=1.0)
@example(a=1.0, b=0.0)
@example(a=-7.0, b=2.0)
def test_float_arithmetic_and_comparison(h: Harness, a: float, b: float) -> None:
    """IEEE + - * /, `//` as floor(a / b), min/max skipping one NaN, == by bits, < by IEEE."""
    for export, op in (("fadd", "+"), ("fsub", "-"), ("fmul", "*"), ("fdiv", "/"),
                       ("ffloordiv", "//")):
        same(h, export, (a, b), ieee(op, a, b))
    same(h, "fmin", (a, b), ref_fmin(a, b))
    same(h, "fmax", (a, b), ref_fmax(a, b))
    same(h, "feq", (a, b), bits(a) == bits(b))
    same(h, "flt", (a, b), a < b)


@SETTINGS
@given(a=ints | st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1]), b=floats)
@example(a=2**53 + 1, b=9007199254740992.0)
def test_mixed_int_float(h: Harness, a: int, b: float) -> None:
    """An Int meeting a Float is converted to the nearest Float first (comparisons, +)."""
    same(h, "mixed-lt", (a, b), float(a) < b)
    same(h, "mixed-eq", (a, b), float(a) == b)
    same(h, "mixed-add", (a, b), ieee("+", float(a), b))
    same(h, "int-to-float", (a,), float(a))


def test_reference_functions_match_the_spec_examples() -> None:
    """The Python reference itself reproduces the SPEC's examples (so it can be trusted)."""
    assert ref_quot(-7, 2) == -3
    assert ref_floor_div(-7, 2) == -4 and ref_floor_div(7, -2) == -3
    assert ref_modulo(-7, 3) == 2 and ref_modulo(7, -3) == 1 and ref_modulo(MIN, -1) == 0
    assert isinstance(ref_floor_div(MIN, -1), Trap) and isinstance(ref_quot(MIN, -1), Trap)
    assert ref_power(0, 0) == 1 and ref_power(-2, 63) == MIN
    assert isinstance(ref_power(2, 63), Trap) and isinstance(ref_power(2, -1), Trap)
    assert ref_round(2.5) == 3.0 and ref_round(-2.5) == -3.0
    assert math.copysign(1, ref_round(-0.3)) == -1.0
    assert ref_split("a,,b", ",") == ["a", "", "b"] and ref_split("", ",") == [""]
    assert ref_split("ab", "") == ["", "a", "b", ""]
    assert "ab".replace("", "-") == "-a-b-"
    assert ref_slice("hello", 1, -1) == "ello" and ref_slice("hello", 3, 2) == ""
    assert ref_parse_int("+12") == 12 and ref_parse_int("+-1") is None
    assert ref_parse_int("9223372036854775808") is None and ref_parse_int("١٢") is None
    assert ref_float_to_int(float("nan")) == 0 and ref_float_to_int(1e300) == MAX
    assert ref_index([1, 2, 3], -1) == 3 and isinstance(ref_index([1, 2, 3], 3), Trap)
    assert ref_fmin(float("nan"), 1.0) == 1.0 and math.isnan(ref_fmin(math.nan, math.nan))
    assert ieee("//", -7.0, 2.0) == -4.0 and ieee("/", 1.0, 0.0) == math.inf


# -- precedence and associativity (SPEC 2.7) ------------------------------------------------------

#: Binding power of each binary operator (SPEC 2.7 levels); `**` is right-associative and
#: binds looser than unary minus (`-x ** 2` is `(-x) ** 2`).
LEVEL = {"+": 8, "-": 8, "*": 9, "/": 9, "//": 9, "%": 9, "**": 10}
UNARY_LEVEL = 11

Expr = Any  # ("var", name) | ("lit", int) | ("neg", Expr) | (op, Expr, Expr)


def exprs() -> st.SearchStrategy[Expr]:
    leaves = st.one_of(
        st.sampled_from([("var", "a"), ("var", "b"), ("var", "c")]),
        st.integers(0, 12).map(lambda n: ("lit", n)),
        st.sampled_from([("lit", 2**62), ("lit", MAX)]),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(lambda e: ("neg", e)),
            st.tuples(st.sampled_from(sorted(LEVEL)), inner, inner),
        ),
        max_leaves=7,
    )


def render(e: Expr) -> str:
    """Lumen text for `e` with only the parentheses the precedence table requires."""
    kind = e[0]
    if kind == "var":
        return str(e[1])
    if kind == "lit":
        return str(e[1])
    if kind == "neg":
        inner = e[1]
        text = render(inner)
        if inner[0] in LEVEL or inner[0] == "neg":
            text = f"({text})"
        return f"-{text}"
    op, left, right = e
    lt, rt = render(left), render(right)
    if left[0] in LEVEL and (LEVEL[left[0]] < LEVEL[op] or (op == "**" and LEVEL[left[0]] == 10)):
        lt = f"({lt})"
    if right[0] in LEVEL and (LEVEL[right[0]] < LEVEL[op]
                              or (op != "**" and LEVEL[right[0]] == LEVEL[op])):
        rt = f"({rt})"
    return f"{lt} {op} {rt}"


class _Trapped(Exception):
    def __init__(self, trap: Trap) -> None:
        self.trap = trap


def evaluate(e: Expr, env: dict[str, int]) -> int:
    """The reference: exact Int semantics, left-to-right, the first trap wins."""
    kind = e[0]
    if kind == "var":
        return env[e[1]]
    if kind == "lit":
        return int(e[1])
    if kind == "neg":
        result: Any = ref_negate(evaluate(e[1], env))
    else:
        op, left, right = e
        a = evaluate(left, env)
        b = evaluate(right, env)
        result = {
            "+": lambda: checked(a + b, "addition"),
            "-": lambda: checked(a - b, "subtraction"),
            "*": lambda: checked(a * b, "multiplication"),
            "/": lambda: ref_quot(a, b),
            "//": lambda: ref_floor_div(a, b),
            "%": lambda: ref_modulo(a, b),
            "**": lambda: ref_power(a, b),
        }[op]()
    if isinstance(result, Trap):
        raise _Trapped(result)
    return int(result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=exprs(), a=st.integers(-20, 20) | ints, b=st.integers(-5, 5), c=ints)
@example(e=("**", ("neg", ("var", "a")), ("lit", 2)), a=3, b=0, c=0)
@example(e=("**", ("var", "a"), ("**", ("lit", 2), ("lit", 3))), a=2, b=0, c=0)
@example(e=("**", ("**", ("var", "a"), ("lit", 2)), ("lit", 3)), a=2, b=0, c=0)
@example(e=("-", ("var", "a"), ("-", ("var", "b"), ("var", "c"))), a=1, b=2, c=3)
@example(e=("*", ("+", ("var", "a"), ("var", "b")), ("var", "c")), a=1, b=2, c=3)
@example(e=("-", ("-", ("var", "a"), ("var", "b")), ("var", "c")), a=1, b=2, c=3)
@example(e=("//", ("*", ("var", "a"), ("var", "b")), ("var", "c")), a=7, b=3, c=-2)
def test_precedence_and_associativity(e: Expr, a: int, b: int, c: int) -> None:
    """An expression written with minimal parentheses evaluates as the SPEC's table says."""
    text = render(e)
    source = f"pub cell f(a: Int, b: Int, c: Int) -> Int = {text}\n"
    h = Harness(compile_lumen(source, filename="expr.lm"))
    try:
        expected: Any = evaluate(e, {"a": a, "b": b, "c": c})
    except _Trapped as t:
        expected = t.trap
    same(h, "f", (a, b, c), expected)
