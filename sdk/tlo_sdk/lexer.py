"""Lexer (SPEC 2.2, 2.3): tokens with positions, NEWLINE/INDENT/DEDENT layout, continuation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from .diagnostics import Reporter, Span

KEYWORDS: Final = frozenset(["and", "as", "async", "await", "break", "bytes", "cell", "comptime", "const", "continue", "defer", "else", "emit", "end", "enum", "err", "expect", "extern", "false", "fn", "for", "from", "grant", "handle", "if", "impl", "import", "in", "is", "json", "let", "list", "loop", "macro", "map", "match", "mod", "mut", "not", "null", "ok", "or", "parallel", "perform", "pub", "record", "resume", "result", "return", "role", "schema", "self", "set", "step", "string", "bool", "int", "float", "then", "tool", "trait", "true", "try", "tuple", "type", "union", "use", "when", "where", "while", "with", "yield"])

#: Keywords that may also name a record field (SPEC 2.2).
FIELD_KEYWORDS: Final = frozenset(["type", "result", "list", "map", "set", "tuple", "role", "schema", "tool", "from", "with"])

# Longest match first.
_OPERATORS: Final = sorted(["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "=", "+=", "-=", "*=", "/=", "//=", "%=", "->", "..", "..=", "...", "++", "|>", "??", "?", "!", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "@"], key=len, reverse=True)
_UNSUPPORTED_OPS: Final = sorted(["<=>", "~>", "&", "^", "~", "<<", ">>", "&=", "|=", "^=", "**=", "=>", "?.", "?[", ";"],
                                  key=len, reverse=True)
_CONTINUATION: Final = frozenset([".", "|>", "??", "+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "in"])
_OPENERS: Final = {"(": ")", "[": "]", "{": "}"}
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}

IDENT: Final = "IDENT"
INT: Final = "INT"
FLOAT: Final = "FLOAT"
STRING: Final = "STRING"
NEWLINE: Final = "NEWLINE"
INDENT: Final = "INDENT"
DEDENT: Final = "DEDENT"
EOF: Final = "EOF"


@final
@dataclass(frozen=True, slots=True)
class Interp:
    """An interpolated expression inside a string: its tokens (ending with EOF) and position."""

    tokens: tuple[Token, ...]
    span: Span
    text: str


@final
@dataclass(frozen=True, slots=True)
class Token:
    """A token. `kind` is IDENT/INT/FLOAT/STRING/NEWLINE/INDENT/DEDENT/EOF, a keyword or an operator."""

    kind: str
    text: str
    span: Span
    int_value: int = 0
    float_value: float = 0.0
    parts: tuple[str | Interp, ...] = ()  # STRING: literal pieces and interpolations


class _LineLexer:
    """Tokenizes one physical line (strings never span lines)."""

    def __init__(self, text: str, lineno: int, rep: Reporter, col0: int = 1) -> None:
        self.s = text
        self.line = lineno
        self.rep = rep
        self.col0 = col0  # column of s[0]
        self.toks: list[Token] = []
        self.continued = False  # ends with a `\` line continuation

    def span(self, i: int, j: int) -> Span:
        return Span(self.line, self.col0 + i, self.line, self.col0 + j)

    def run(self) -> list[Token]:
        s = self.s
        i = 0
        n = len(s)
        while i < n:
            c = s[i]
            if c in " \t\r":
                i += 1
            elif c == "#":
                break
            elif c == "\\" and s[i + 1:].strip() == "":
                self.continued = True
                break
            elif c.isascii() and (c.isalpha() or c == "_"):
                i = self.ident(i)
            elif c.isdigit():
                i = self.number(i)
            elif c == '"':
                i = self.string(i, raw=False)
            else:
                i = self.operator(i)
        return self.toks

    def ident(self, i: int) -> int:
        s = self.s
        j = i
        while j < len(s) and ((s[j].isascii() and s[j].isalnum()) or s[j] == "_"):
            j += 1
        if j < len(s) and s[j].isalpha() and not s[j].isascii():
            k = j
            while k < len(s) and (s[k].isalnum() or s[k] == "_"):
                k += 1
            self.rep.error("E001", self.span(i, k), f"non-ASCII identifier '{s[i:k]}'",
                           helps=("identifiers are ASCII-only in the plugin subset",))
            return k
        word = s[i:j]
        if j < len(s) and s[j] == '"' and word in ("r", "b"):
            if word == "r":
                return self.string(i + 1, raw=True, start=i)
            self.rep.error("E013", self.span(i, j + 1),
                           "bytes literals are valid Lumen but not supported by the plugin subset")
            end = s.find('"', j + 1)
            return len(s) if end < 0 else end + 1
        kind = word if word in KEYWORDS else IDENT
        self.toks.append(Token(kind, word, self.span(i, j)))
        return j

    def number(self, i: int) -> int:
        s = self.s
        n = len(s)
        j = i
        if s[i] == "0" and i + 1 < n and s[i + 1] in "xXbBoO":
            base = {"x": 16, "b": 2, "o": 8}[s[i + 1].lower()]
            j = i + 2
            while j < n and (s[j].isalnum() or s[j] == "_"):
                j += 1
            digits = s[i + 2:j].replace("_", "")
            try:
                if not digits or s[i + 2] == "_":
                    raise ValueError
                value = int(digits, base)
            except ValueError:
                self.rep.error("E004", self.span(i, j), f"malformed number '{s[i:j]}'")
                value = 0
            self.int_token(s[i:j], value, i, j)
            return j
        while j < n and (s[j].isdigit() or s[j] == "_"):
            j += 1
        is_float = False
        if j + 1 < n and s[j] == "." and s[j + 1].isdigit():
            is_float = True
            j += 1
            while j < n and (s[j].isdigit() or s[j] == "_"):
                j += 1
        if j < n and s[j] in "eE":
            k = j + 1
            if k < n and s[k] in "+-":
                k += 1
            if k < n and s[k].isdigit():
                is_float = True
                j = k
                while j < n and s[j].isdigit():
                    j += 1
        if j < n and (s[j].isalpha() or s[j] == "_"):
            k = j
            while k < n and (s[k].isalnum() or s[k] == "_"):
                k += 1
            self.rep.error("E004", self.span(i, k), f"malformed number '{s[i:k]}'")
            self.int_token(s[i:k], 0, i, k)
            return k
        text = s[i:j]
        if is_float:
            fvalue = float(text.replace("_", ""))
            if fvalue in (float("inf"), float("-inf")):
                self.rep.error("E004", self.span(i, j), f"float literal {text} is infinite")
            self.toks.append(Token(FLOAT, text, self.span(i, j), float_value=fvalue))
        else:
            self.int_token(text, int(text.replace("_", "")), i, j)
        return j

    def int_token(self, text: str, value: int, i: int, j: int) -> None:
        # Range is checked by the parser: 2**63 is allowed right after a unary minus.
        self.toks.append(Token(INT, text, self.span(i, j), int_value=value))

    def string(self, i: int, raw: bool, start: int | None = None) -> int:
        s = self.s
        n = len(s)
        begin = i if start is None else start
        if not raw and s.startswith('"""', i):
            self.rep.error("E013", self.span(i, i + 3),
                           "triple-quoted strings are valid Lumen but not supported by the plugin subset")
            end = s.find('"""', i + 3)
            return n if end < 0 else end + 3
        j = i + 1
        parts: list[str | Interp] = []
        buf: list[str] = []
        while True:
            if j >= n:
                self.rep.error("E002", self.span(begin, n),
                               "unterminated string literal (strings cannot span lines)")
                break
            c = s[j]
            if c == '"':
                j += 1
                break
            if raw:
                buf.append(c)
                j += 1
                continue
            if c == "\\":
                j = self.escape(j, buf)
                continue
            if c == "{" and self.starts_interp(j):
                end = self.interp_end(j)
                if end < 0:
                    self.rep.error("E008", self.span(j, n), "unterminated '{' in string interpolation")
                    j = n
                    break
                if buf:
                    parts.append("".join(buf))
                    buf = []
                interp = self.interp(j + 1, end)
                if interp is not None:
                    parts.append(interp)
                j = end + 1
                continue
            buf.append(c)
            j += 1
        if buf or not parts:
            parts.append("".join(buf))
        self.toks.append(Token(STRING, s[begin:j], self.span(begin, j), parts=tuple(parts)))
        return j

    def escape(self, j: int, buf: list[str]) -> int:
        s = self.s
        if j + 1 >= len(s):
            self.rep.error("E003", self.span(j, j + 1), "invalid escape sequence '\\'")
            return j + 1
        e = s[j + 1]
        simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "{": "{", "0": "\0"}
        if e in simple:
            buf.append(simple[e])
            return j + 2
        if e == "x":
            h = s[j + 2:j + 4]
            if len(h) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in h):
                buf.append(chr(int(h, 16)))
                return j + 4
            self.rep.error("E003", self.span(j, j + 2 + len(h)), f"invalid escape sequence '\\x{h}'")
            return j + 2
        if e == "u":
            close = s.find("}", j)
            h = s[j + 3:close] if s.startswith("{", j + 2) and close > 0 else ""
            if h and all(ch in "0123456789abcdefABCDEF" for ch in h):
                cp = int(h, 16)
                if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF:
                    buf.append(chr(cp))
                    return close + 1
                self.rep.error("E003", self.span(j, close + 1),
                               f"'\\u{{{h}}}' is not a Unicode scalar value")
                return close + 1
            self.rep.error("E003", self.span(j, j + 2), "invalid escape sequence '\\u'")
            return j + 2
        self.rep.error("E003", self.span(j, j + 2), f"invalid escape sequence '\\{e}'")
        return j + 2

    def starts_interp(self, j: int) -> bool:
        k = j + 1
        s = self.s
        while k < len(s) and s[k] == " ":
            k += 1
        return k < len(s) and (s[k].isalnum() or s[k] in "_([-")

    def interp_end(self, j: int) -> int:
        """Index of the `}` matching the `{` at j, or -1."""
        s = self.s
        depth = 0
        k = j
        while k < len(s):
            c = s[k]
            if c == '"':
                k += 1
                while k < len(s) and not (s[k] == '"' and s[k - 1] != "\\"):
                    k += 1
                if k >= len(s):
                    return -1
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return k
            k += 1
        return -1

    def interp(self, a: int, b: int) -> Interp | None:
        s = self.s
        inner = s[a:b]
        span = self.span(a - 1, b + 1)
        if not inner.strip():
            self.rep.error("E008", span, "empty interpolation in string")
            return None
        depth = 0
        k = a
        while k < b:
            c = s[k]
            if c == '"':
                k += 1
                while k < b and not (s[k] == '"' and s[k - 1] != "\\"):
                    k += 1
            elif c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == ":" and depth == 0:
                self.rep.error("E008", self.span(a - 1, b + 1),
                               f"format specs like '{{{inner}}}' are not supported in the plugin subset",
                               helps=("format the value with a builtin before interpolating it",))
                return None
            k += 1
        sub = _LineLexer(inner, self.line, self.rep, self.col0 + a)
        toks = sub.run()
        end = Span.at(self.line, self.col0 + b)
        return Interp(tuple(toks) + (Token(EOF, "", end),), span, inner.strip())

    def operator(self, i: int) -> int:
        s = self.s
        for op in _UNSUPPORTED_OPS:
            if s.startswith(op, i):
                # `?.` / `?[` are unsupported; `|=` and `&` forms likewise.
                self.rep.error("E013", self.span(i, i + len(op)),
                               f"operator '{op}' is valid Lumen but not supported by the plugin subset")
                return i + len(op)
        for op in _OPERATORS:
            if s.startswith(op, i):
                self.toks.append(Token(op, op, self.span(i, i + len(op))))
                return i + len(op)
        c = s[i]
        self.rep.error("E001", self.span(i, i + 1), f"unexpected character '{c}'")
        return i + 1


def lex(code: str, rep: Reporter) -> list[Token]:
    """Tokenize extracted code, producing layout tokens as described in SPEC 2.3."""
    lines = code.split("\n")
    out: list[Token] = []
    stack = [1]
    open_brackets: list[Token] = []
    have_line = False
    joined = False  # previous line ended with `\`
    last_end = Span.at(1, 1)
    for lineno, text in enumerate(lines, 1):
        lx = _LineLexer(text, lineno, rep)
        toks = lx.run()
        if not toks:
            joined = joined and lx.continued
            continue
        first = toks[0]
        if not (open_brackets or joined or first.kind in _CONTINUATION):
            col = first.span.col
            if have_line:
                out.append(Token(NEWLINE, "", Span(last_end.end_line, last_end.end_col,
                                                   last_end.end_line, last_end.end_col)))
            if "\t" in text[: col - 1]:
                rep.error("E006", Span.at(lineno, text.index("\t") + 1),
                          "tab character in indentation; use spaces")
            if col > stack[-1]:
                stack.append(col)
                out.append(Token(INDENT, "", Span.at(lineno, col)))
            else:
                while col < stack[-1]:
                    stack.pop()
                    out.append(Token(DEDENT, "", Span.at(lineno, col)))
                if col != stack[-1]:
                    levels = ", ".join(str(c) for c in stack)
                    rep.error("E005", Span.at(lineno, col),
                              f"inconsistent indentation: column {col} matches no enclosing block ({levels})")
                    stack.append(col)
        for t in toks:
            if t.kind in _OPENERS:
                open_brackets.append(t)
            elif t.kind in _CLOSERS:
                if open_brackets and open_brackets[-1].kind == _CLOSERS[t.kind]:
                    open_brackets.pop()
                elif open_brackets:
                    # A mismatched closer: report it; keep the opener so E012 points at it.
                    rep.error("E010", t.span, f"unexpected token '{t.kind}'; expected "
                              f"'{_OPENERS[open_brackets[-1].kind]}'")
            out.append(t)
        have_line = True
        last_end = toks[-1].span
        joined = lx.continued
    eof = Span.at(len(lines), len(lines[-1]) + 1)
    for t in open_brackets:
        rep.error("E012", eof, f"unclosed '{t.kind}' opened at {t.span.line}:{t.span.col}")
    if have_line:
        out.append(Token(NEWLINE, "", Span(last_end.end_line, last_end.end_col,
                                           last_end.end_line, last_end.end_col)))
    while len(stack) > 1:
        stack.pop()
        out.append(Token(DEDENT, "", eof))
    out.append(Token(EOF, "", eof))
    return out
