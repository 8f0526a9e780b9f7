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
