"""The parser's token cursor (SPEC 2.4): lookahead that tracks indentation, `expect`/`accept`,
errors, and recovery at line and declaration boundaries.

The grammar is layered on it: parse_exprs.ExprParser (types and expressions), then
parse_stmts.StmtParser (statements and patterns), then parser.Parser (declarations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NoReturn, TypeVar

from .diagnostics import Reporter, Span, source_text
from .lexer import DEDENT, EOF, FIELD_KEYWORDS, IDENT, INDENT, KEYWORDS, NEWLINE, Token

ITEM_STARTS: Final = frozenset({"record", "enum", "cell", "const", "type", "use", "grant", "pub", "@"})

_Line = TypeVar("_Line")


class ParseError(Exception):
    """Raised after a syntax error was reported; caught where the parser recovers."""


def feature(what: str) -> str:
    return f"{what} valid Lumen but not supported by the plugin subset"


class Cursor:
    """The position in the token list. INDENT and DEDENT are skipped by lookahead, which keeps
    the indentation level in `level`; `depth` counts open brackets."""

    def __init__(self, toks: list[Token], rep: Reporter, source_lines: list[str],
                 interp: bool = False) -> None:
        self.toks = toks
        self.i = 0
        self.rep = rep
        self.lines = source_lines
        self.level = 0
        self.depth = 0  # bracket nesting, for E014
        self.in_interp = interp
        self.last_end: tuple[Span, str, Span] | None = None

    # ------------------------------------------------------------ token helpers

    def raw(self) -> Token:
        return self.toks[self.i]

    def peek(self) -> Token:
        while True:
            t = self.toks[self.i]
            if t.kind == INDENT:
                self.level += 1
            elif t.kind == DEDENT:
                self.level -= 1
            else:
                return t
            self.i += 1

    def peek2(self) -> Token:
        self.peek()
        j = self.i + 1
        while self.toks[j].kind in (INDENT, DEDENT):
            j += 1
        return self.toks[j]

    def next(self) -> Token:
        t = self.peek()
        if t.kind != EOF:
            self.i += 1
        return t

    def at(self, kind: str) -> bool:
        return self.peek().kind == kind

    def accept(self, kind: str) -> Token | None:
        if self.peek().kind == kind:
            return self.next()
        return None

    def fail(self, code: str, span: Span, message: str, helps: tuple[str, ...] = (),
             notes: tuple[str, ...] = ()) -> NoReturn:
        if self.in_interp and code == "E010":
            code = "E008"
            message = "cannot parse interpolated expression: " + message
        self.rep.error(code, span, message, helps=helps, notes=notes)
        raise ParseError()

    def unexpected(self, expected: str) -> NoReturn:
        t = self.peek()
        shown = {NEWLINE: "end of line", EOF: "end of file"}.get(t.kind, t.text)
        self.fail("E010", t.span, f"unexpected token '{shown}'; expected {expected}")

    def expect(self, kind: str, what: str | None = None) -> Token:
        if self.peek().kind != kind:
            self.unexpected(what or f"'{kind}'")
        return self.next()

    def end_line(self) -> None:
        t = self.peek()
        if t.kind == NEWLINE:
            self.next()
        elif t.kind != EOF:
            self.unexpected("end of line")

    def skip_newlines(self) -> None:
        while self.peek().kind == NEWLINE:
            self.next()

    def sync_line(self) -> None:
        """Skip to just after the next NEWLINE (statement recovery)."""
        while True:
            t = self.peek()
            if t.kind == EOF:
                return
            self.next()
            if t.kind == NEWLINE:
                return

    def sync_item(self) -> None:
        """Skip to the next line that starts a declaration in column 1."""
        while True:
            self.sync_line()
            n = self.peek()
            if n.kind == EOF or (n.span.col == 1 and (n.kind in ITEM_STARTS or (n.kind == IDENT and n.text == "bind"))):
                return

    def missing_end(self, t: Token, what: str, opened: Span, explain: bool = False) -> NoReturn:
        """Report E011 at t: the `end` of the `what` opened at `opened` is missing. `explain` adds
        which construct the last `end` closed (in statement blocks, where one `end` too many
        above is the usual cause)."""
        notes: tuple[str, ...] = ()
        if explain and self.last_end is not None:
            es, ew, eo = self.last_end
            notes = (f"the 'end' at {es.line}:{es.col} closed the '{ew}' opened at {eo.line}:{eo.col}",)
        self.fail("E011", t.span, f"expected 'end' to close '{what}' opened at {opened.line}:{opened.col}",
                  notes=notes)

    def end_of_block(self, start: Token, what: str) -> Token | None:
        """Skip blank lines; then the `end` closing the `what` opened by `start` (consumed) if it
        comes next, None if another line does; E011 at the end of the file."""
        self.skip_newlines()
        t = self.peek()
        if t.kind == "end":
            return self.next()
        if t.kind == EOF:
            self.missing_end(t, what, start.span)
        return None

    def lines_until_end(self, start: Token, what: str, line: Callable[[], _Line]) -> tuple[list[_Line], Token]:
        """Parse one `line` after another up to the `end` closing `what`; returns them and that
        `end`. A line with a syntax error is skipped and parsing goes on with the next one."""
        out: list[_Line] = []
        while (end := self.end_of_block(start, what)) is None:
            try:
                out.append(line())
            except ParseError:
                self.sync_line()
        return out, end

    def ident(self, what: str = "a name") -> Token:
        t = self.peek()
        if t.kind == IDENT:
            return self.next()
        if t.kind in KEYWORDS:
            self.fail("E112", t.span, f"'{t.text}' is a reserved word and cannot be used as {what}")
        self.unexpected(what)

    def binding_name(self, what: str) -> Token:
        """A variable/parameter name: IDENT, `_`, or the soft keyword `result`."""
        t = self.peek()
        if t.kind == "result":
            self.next()
            return Token(IDENT, "result", t.span)
        return self.ident(f"a {what} name")

    def field_name(self) -> Token:
        t = self.peek()
        if t.kind == IDENT or t.kind in FIELD_KEYWORDS:
            self.next()
            return Token(IDENT, t.text, t.span)
        return self.ident("a field name")

    def src_text(self, a: Span, b: Span) -> str:
        return source_text(self.lines, a, b)

    def prev_span(self) -> Span:
        j = self.i - 1
        while j > 0 and self.toks[j].kind in (INDENT, DEDENT, NEWLINE):
            j -= 1
        return self.toks[j].span

