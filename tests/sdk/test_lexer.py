"""The lexer (tlo_sdk/lexer.py) produces SPEC 2.2 tokens and SPEC 2.3 layout."""

from __future__ import annotations

from tlo_sdk.diagnostics import Reporter
from tlo_sdk.lexer import Interp, Token, lex


def kinds(src: str) -> list[str]:
    rep = Reporter("t.lm")
    toks = lex(src, rep)
    assert not rep.items, rep.items
    return [t.kind if t.kind not in ("IDENT", "INT", "FLOAT") else f"{t.kind}:{t.text}" for t in toks]


def codes(src: str) -> list[tuple[str, int, int]]:
    rep = Reporter("t.lm")
    lex(src, rep)
    return [(d.code, d.line, d.column) for d in rep.items]


def test_layout_indent_dedent_and_one_newline_per_logical_line() -> None:
    """Blank and comment lines produce nothing; deeper lines INDENT, shallower DEDENT."""
    assert kinds("a\n  b\n\n  # c\nd\n") == [
        "IDENT:a", "NEWLINE", "INDENT", "IDENT:b", "NEWLINE", "DEDENT", "IDENT:d", "NEWLINE", "EOF"]


def test_operator_led_lines_continue_the_previous_line() -> None:
    """A line starting with `+`, `|>`, `.`, `and` ... is glued to the previous logical line."""
    assert kinds("x = a\n  + b\n  |> f()\n") == [
        "IDENT:x", "=", "IDENT:a", "+", "IDENT:b", "|>", "IDENT:f", "(", ")", "NEWLINE", "EOF"]


def test_no_layout_inside_brackets_and_after_backslash() -> None:
    """Newlines inside brackets and after a trailing backslash produce no layout tokens."""
    assert kinds("f(a,\n    b)\nx \\\n  y\n") == [
        "IDENT:f", "(", "IDENT:a", ",", "IDENT:b", ")", "NEWLINE", "IDENT:x", "IDENT:y", "NEWLINE", "EOF"]


def test_numbers() -> None:
    """Underscores, hex/binary/octal, floats need digits on both sides of the dot, `1..5` is a range."""
    rep = Reporter("t.lm")
    toks = lex("60_000 0xff 0b101 0o17 1.5e3 1..5 2e-1", rep)
    vals = [(t.kind, t.int_value if t.kind == "INT" else t.float_value) for t in toks if t.kind in ("INT", "FLOAT")]
    assert vals == [("INT", 60000), ("INT", 255), ("INT", 5), ("INT", 15), ("FLOAT", 1500.0), ("INT", 1),
                    ("INT", 5), ("FLOAT", 0.2)]


def test_string_escapes_and_interpolation() -> None:
    """Escapes decode to code points; `{` starts an interpolation only before a name-like char."""
    rep = Reporter("t.lm")
    toks = lex('"a\\x41\\u{e9}\\{ {x} {} {\\"k\\": 1}"', rep)
    assert not rep.items
    parts = toks[0].parts
    assert parts[0] == "aAé{ "
    assert isinstance(parts[1], Interp) and parts[1].text == "x"
    assert parts[2] == ' {} {"k": 1}'


def test_interpolation_tokens_have_their_source_columns() -> None:
    """Tokens inside `{...}` carry the column of the original line."""
    rep = Reporter("t.lm")
    toks = lex('  "ab{xy}"', rep)
    interp = toks[1].parts[1]
    assert isinstance(interp, Interp)
    first: Token = interp.tokens[0]
    assert (first.text, first.span.line, first.span.col) == ("xy", 1, 7)


def test_lexical_errors_have_codes_and_positions() -> None:
    """E001 bad char, E002 unterminated string, E003 bad escape, E006 tab, E008 format spec, E013 ops."""
    assert codes("x $ y") == [("E001", 1, 3)]
    assert codes('x = "abc') == [("E002", 1, 5)]
    assert codes('"a\\q"') == [("E003", 1, 3)]
    assert codes("a\n\tb") == [("E006", 2, 1)]
    assert codes('"{total:.2f}"') == [("E008", 1, 2)]
    assert codes("a << b") == [("E013", 1, 3)]
    assert codes("a\n    b\n  c") == [("E005", 3, 3)]
    assert codes("f(a") == [("E012", 1, 4)]


def test_several_lexer_errors_in_one_run() -> None:
    """The lexer keeps going after an error and reports each one."""
    assert [c for c, _, _ in codes('x $ y\n"\\q"\nz ~ w')] == ["E001", "E003", "E013"]
