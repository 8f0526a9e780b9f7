"""Every diagnostic code of SPEC section 5 has a negative source that reports exactly it.

tests/sdk/negative/<CODE>.lm (or .lm.md; <CODE>-<what>.lm for a further way to cause the same
code) is a small program with the expected diagnostics
written in it, either as a caret under the offending character on a comment line::

      return x $ 1
    #          ^ E001

(the caret's column, on the nearest line above that is not a comment), or as an explicit
`expect: LINE:COL CODE` line where a caret cannot point (column 1, end of file). The
compiler must report exactly those diagnostics, in that order: same code, line and column.
negative/spec/ holds the SPEC's four examples A-D with their expected output.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tlo_sdk import LumenCompileError, compile_lumen

NEGATIVE = Path(__file__).with_name("negative")
SPEC_FILES = NEGATIVE / "spec"
CASES = sorted(p for p in NEGATIVE.iterdir() if p.name.endswith((".lm", ".lm.md")))

#: Every code in the catalogue of SPEC section 5.
CATALOGUE = (
    "E001 E002 E003 E004 E005 E006 E007 E008 E010 E011 E012 E013 E014 E015 E016 E017 "
    "E100 E101 E102 E103 E104 E105 E106 E107 E108 E109 E110 E111 E112 E113 E114 E115 "
    "E200 E201 E202 E203 E204 E205 E206 E207 E208 E209 E210 E211 E212 E213 E214 E215 E216 "
    "E217 E218 E219 E220 E221 E222 E300 E301 E302 E303 E304 E305 E307 "
    "W001 W100 W101 W102 W300 W301 W302 W303"
).split()

_CARET = re.compile(r"^\s*#\s*\^\s*([EW]\d{3})\b")
_EXPECT = re.compile(r"expect:\s*(\d+):(\d+)\s+([EW]\d{3})\b")
_COMMENT = re.compile(r"^\s*#")

Expected = tuple[int, int, str, str]  # line, column, severity, code


def expected_in(path: Path) -> list[Expected]:
    """The diagnostics a negative file announces, in file order."""
    found: list[Expected] = []
    last_code_line = 0
    text = path.read_bytes().decode("utf-8", errors="replace")  # E001-utf8.lm is not UTF-8
    for number, line in enumerate(text.split("\n"), 1):
        caret = _CARET.match(line)
        explicit = _EXPECT.search(line)
        if caret:
            code = caret.group(1)
            found.append((last_code_line, line.index("^") + 1, _severity(code), code))
        elif explicit:
            code = explicit.group(3)
            found.append((int(explicit.group(1)), int(explicit.group(2)), _severity(code), code))
        elif not _COMMENT.match(line):
            last_code_line = number
    return sorted(found, key=lambda e: (e[0], e[1]))


def _severity(code: str) -> str:
    return "error" if code.startswith("E") else "warning"


def reported(path: Path) -> list[Expected]:
    """(line, column, severity, code) of everything the compiler reports for `path`."""
    try:
        plugin = compile_lumen(str(path))
    except LumenCompileError as e:
        diagnostics = e.diagnostics
    else:
        diagnostics = plugin.diagnostics
    return [(d.line, d.column, d.severity, d.code) for d in diagnostics]


def test_every_catalogue_code_has_a_negative_file() -> None:
    """negative/ covers every code of SPEC section 5, and each file announces its own code."""
    covered = {p.name[:4] for p in CASES}
    assert covered == set(CATALOGUE)
    for path in CASES:
        codes = {code for _, _, _, code in expected_in(path)}
        assert codes == {path.name[:4]}, path.name


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_negative_file_reports_exactly_its_diagnostics(path: Path) -> None:
    """Code, line and column of every diagnostic, and nothing else."""
    assert reported(path) == expected_in(path)


@pytest.mark.parametrize("path", [p for p in CASES if p.name.startswith("E")],
                         ids=[p.name for p in CASES if p.name.startswith("E")])
def test_errors_fail_the_compilation_with_a_rendered_caret(path: Path) -> None:
    """An error raises LumenCompileError whose text is file:line:col: error[CODE] plus a caret."""
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(str(path))
    text = info.value.format()
    line, col, _, code = expected_in(path)[0]
    assert f"{path}:{line}:{col}: error[{code}]: " in text
    assert "^" in text


@pytest.mark.parametrize("path", [p for p in CASES if p.name.startswith("W")],
                         ids=[p.name for p in CASES if p.name.startswith("W")])
def test_warnings_alone_do_not_fail_the_compilation(path: Path) -> None:
    """A program with only warnings compiles to a component."""
    plugin = compile_lumen(str(path))
    assert plugin.wasm[:4] == b"\0asm"


# -- the SPEC's examples A-D --------------------------------------------------------------------

SPEC_CASES = sorted(SPEC_FILES.glob("*.lm"))
_HEADER = re.compile(r"^(\S+):(\d+):(\d+): (error|warning)\[([EW]\d{3})\]: (.*)$")


def spec_expected(path: Path) -> list[tuple[str, list[str]]]:
    """The SPEC's expected output for `path`: (header line, its note/help lines)."""
    out: list[tuple[str, list[str]]] = []
    for line in path.with_suffix(".expected").read_text(encoding="utf-8").splitlines():
        if _HEADER.match(line):
            out.append((line, []))
        elif line.strip():
            out[-1][1].append(line.strip())
    return out


def _compile_errors(path: Path) -> list[object]:
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(path.read_text(encoding="utf-8"), filename=path.name)
    return list(info.value.diagnostics)


@pytest.mark.parametrize("path", SPEC_CASES, ids=[p.name for p in SPEC_CASES])
def test_spec_example_positions_and_order(path: Path) -> None:
    """The prefix `path:line:col: severity[code]` of each diagnostic, in order (SPEC 5)."""
    expected = [_HEADER.match(h).groups()[:5] for h, _ in spec_expected(path)]  # type: ignore[union-attr]
    got = [(d.file, str(d.line), str(d.column), d.severity, d.code)  # type: ignore[attr-defined]
           for d in _compile_errors(path)]
    assert got == expected


@pytest.mark.parametrize("path", SPEC_CASES, ids=[p.name for p in SPEC_CASES])
def test_spec_example_wording(path: Path) -> None:
    """Messages, notes and helps use the SPEC's wording (Lumen's where it has one)."""
    expected = [(h, notes) for h, notes in spec_expected(path)]
    got = []
    for d in _compile_errors(path):
        lines = [f"note: {n}" for n in d.notes] + [f"help: {h}" for h in d.helps]  # type: ignore[attr-defined]
        got.append((d.header(), lines))  # type: ignore[attr-defined]
    assert got == expected


# -- several errors in one run -------------------------------------------------------------------

SEVERAL = """\
record Order
  id: String
end

cell a(extra: Int) -> Int
  return extr
end

cell b(o: Order) -> Int
  return o.amount
end

cell c(x: Int) -> Int
  return "x"
end

cell d(x: Int) -> Int
  return validate(x)
end
"""


def test_one_run_reports_errors_from_every_cell() -> None:
    """Name resolution and type errors in different cells are all reported, sorted."""
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(SEVERAL, filename="several.lm")
    got = [(d.line, d.column, d.code) for d in info.value.diagnostics]
    assert got == [(6, 10, "E100"), (10, 12, "E107"), (14, 10, "E200"), (18, 10, "E102")]
    assert info.value.diagnostics[0].helps == ("did you mean 'extra'?",)


def test_lexer_errors_are_all_reported() -> None:
    """Several lexical errors in one file come out together."""
    source = 'cell f() -> String\n  let a = "x\\q"\n  let b = 1 $ 2\n  return "{a}{b}"\nend\n'
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(source, filename="lex.lm")
    got = [(d.line, d.column, d.code) for d in info.value.diagnostics]
    assert got == [(2, 13, "E003"), (3, 13, "E001")]


def test_markdown_positions_are_positions_in_the_markdown_file() -> None:
    """In .lm.md sources, line numbers count the prose lines too (SPEC 2.1)."""
    source = "# Title\n\nSome prose.\n\n```lumen\ncell f(x: Int) -> Int\n  return y\nend\n```\n"
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(source, filename="doc.lm.md")
    assert [(d.line, d.column, d.code) for d in info.value.diagnostics] == [(7, 10, "E100")]


def test_unterminated_fence_is_reported() -> None:
    """An unterminated ```lumen fence is E007 (Lumen silently drops it)."""
    source = "# Title\n\n```lumen\ncell f() -> Int\n  return 1\nend\n"
    with pytest.raises(LumenCompileError) as info:
        compile_lumen(source, filename="open.lm.md")
    assert [d.code for d in info.value.diagnostics] == ["E007"]


# -- wording -------------------------------------------------------------------------------------

#: The message the SPEC's catalogue (section 5) words for each negative file, with this file's
#: names put in (Lumen's wording where Lumen has the error).
WORDING = {
    "E001.lm": "unexpected character '$'",
    "E002.lm": "unterminated string literal (strings cannot span lines)",
    "E003.lm": "invalid escape sequence '\\q'",
    "E004.lm": "integer literal 9223372036854775808 is out of range for Int",
    "E005.lm": "inconsistent indentation: column 3 matches no enclosing block (1)",
    "E006.lm": "tab character in indentation; use spaces",
    "E008.lm": "format specs like '{total:.2f}' are not supported in the plugin subset",
    "E010.lm": "unexpected token '='; expected expression",
    "E011.lm": "expected 'end' to close 'cell' opened at 2:1",
    "E012.lm": "unclosed '(' opened at 6:16",
    "E013-agent.lm": "'agent' declarations are valid Lumen but not supported by the plugin subset",
    "E014.lm": "a 'match' expression cannot appear inside brackets; bind it with 'let' first",
    "E015.lm": "comparisons cannot be chained; write 'a < b and b < c'",
    "E016.lm": "this line would be read as a constraint of the 'grant Now' on line 3 by Lumen's"
               " parser; move it above the grant",
    "E017.lm": "directives must come before all declarations",
    "E100.lm": "undefined variable 'extr'",
    "E101.lm": "undefined type 'Strng'",
    "E102.lm": "undefined cell 'validate'",
    "E103.lm": "duplicate definition 'Order' (first defined at 1:8)",
    "E104.lm": "variant 'Open' is already declared in enum 'DoorState' (2:3); variant names must"
               " be unique",
    "E105.lm": "'x' is already bound in an enclosing scope (1:8); use 'let mut x' there and assign"
               " 'x = ...'",
    "E106.lm": "cannot assign to immutable variable 'total'",
    "E107.lm": "unknown field 'amout' on type 'Order'",
    "E108.lm": "missing field 'y' in construction of 'Point'",
    "E109.lm": "field 'x' given twice",
    "E110.lm": "undefined tool alias 'KvSet'",
    "E111.lm": "unknown host capability 'kv.incr'",
    "E112.lm": "'match' is a reserved word and cannot be used as a parameter name",
    "E114.lm": "record names must start with an uppercase letter: 'order'",
    "E115.lm": "'Sout' is not a variant of enum 'Direction'",
    "E200.lm": "type mismatch: expected Int, found String",
    "E201.lm": "operator '%' cannot be applied to Float and Float in the plugin subset",
    "E202.lm": "wrong number of arguments to 'g': expected 2, found 3",
    "E204.lm": "cannot infer the type of '[]'; add a type annotation",
    "E205.lm": "incomplete match: missing variants South, East",
    "E206.lm": "missing return in cell 'sign': the final 'if' has no 'else'",
    "E207.lm": "'try' needs the enclosing cell to return result[_, String]; 'f' returns Int",
    "E208.lm": "'break' outside of a loop",
    "E209.lm": "condition must be Bool, found Int",
    "E210.lm": "invalid constraint on field 'total': it refers to field 'subtotal'; a constraint"
               " may only use its own field",
    "E211.lm": "default value 0 of field 'age' violates 'age > 18'",
    "E212.lm": "cannot interpolate a value of type Priority; convert it with a match first",
    "E213.lm": "'??' needs an optional on the left, found Int",
    "E214.lm": "record 'Node' contains itself (Node.children: list[Node]); recursive types are"
               " not supported",
    "E215.lm": "record 'Empty' has no fields",
    "E216.lm": "a field cannot have type Null",
    "E217.lm": "ranges are only allowed as the source of 'for' or a comprehension",
    "E218.lm": "'classify' is a cell; cells are not values in the plugin subset",
    "E219.lm": "constant evaluation failed: integer overflow in multiplication",
    "E220.lm": "alternatives of an or-pattern cannot bind variables ('who')",
    "E221.lm": "'shout' is not a builtin; call it as shout(name)",
    "E222.lm": "'if' branches have incompatible types Int and String",
    "E300.lm": "cell 'get' requires effect 'kv' but no compatible grant is in scope",
    "E301.lm": "cell 'get' performs effect 'kv' but it is not declared in its effect row",
    "E302.lm": "cell 'refresh' calls 'fetch' which requires effect 'kv' not present in caller"
               " effect row",
    "E303.lm": "tool 'KvPut' (kv.put) takes named arguments key, value; missing 'value'",
    "E304.lm": "grant key 'max_calls' expects an Int, found String",
    "E305.lm": "tool 'KvGet' (kv.get) performs effect 'kv', not 'db'",
    "E307.lm": "tool calls are not allowed in a where clause",
    "W001.lm": "directive '@edition' is ignored",
    "W100.lm": "unused variable 'sum'",
    "W101.lm": "unreachable code",
    "W102.lm": "unreachable match arm: earlier arms cover every value",
    "W300.lm": "cell 'size' declares effect 'kv' but never performs it",
    "W301.lm": "grant key 'ttl' is not known for kv.put; it is recorded for the host",
    "W302.lm": "tool alias 'KvDelete' is never called; kv.delete will not be imported",
    "W303.lm": "no declared tool performs effect 'http'",
}


@pytest.mark.parametrize("name", sorted(WORDING))
def test_message_uses_the_catalogue_wording(name: str) -> None:
    """The message is the SPEC catalogue's wording for this case."""
    try:
        diagnostics = compile_lumen(str(NEGATIVE / name)).diagnostics
    except LumenCompileError as e:
        diagnostics = e.diagnostics
    assert [d.message for d in diagnostics] == [WORDING[name]]
