"""Diagnostics: positions, codes, the error a failed compilation raises, and their rendering."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, final

ERROR: Final = "error"
WARNING: Final = "warning"
#: The code of an internal compiler error: a crash of the compiler, never the user's mistake.
ICE_CODE: Final = "E999"
#: At most this many diagnostics are reported (SPEC section 5).
MAX_DIAGNOSTICS: Final = 100


@final
@dataclass(frozen=True, slots=True)
class Span:
    """A source range: 1-based line and column (code points) of the first and past-the-last char."""

    line: int
    col: int
    end_line: int
    end_col: int

    @staticmethod
    def at(line: int, col: int, width: int = 1) -> Span:
        return Span(line, col, line, col + width)

    def to(self, other: Span) -> Span:
        """The span from the start of self to the end of other."""
        return Span(self.line, self.col, other.end_line, other.end_col)


@final
@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding of the compiler, with a stable code (SPEC section 5)."""

    code: str
    message: str
    line: int
    column: int
    end_line: int
    end_column: int
    file: str
    severity: str = ERROR
    notes: tuple[str, ...] = ()
    helps: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def header(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"

    def format(self, source_lines: list[str] | None = None) -> str:
        """Render as `file:line:col: severity[code]: message`, a caret excerpt, notes and helps."""
        out = [self.header()]
        if source_lines is not None and 1 <= self.line <= len(source_lines):
            text = source_lines[self.line - 1].rstrip("\n")
            width = 1
            if self.end_line == self.line and self.end_column > self.column:
                width = self.end_column - self.column
            out.append(f"  {self.line:>4} | {text}")
            out.append("       | " + " " * (self.column - 1) + "^" * max(1, width))
        out.extend(f"  note: {n}" for n in self.notes)
        out.extend(f"  help: {h}" for h in self.helps)
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file, "line": self.line, "col": self.column, "end_line": self.end_line,
            "end_col": self.end_column, "severity": self.severity, "code": self.code,
            "message": self.message, "notes": list(self.notes) + [f"help: {h}" for h in self.helps],
        }


class LumenCompileError(Exception):
    """A Lumen program failed to compile.

    Attributes:
        diagnostics: every diagnostic of the pass that failed (errors and warnings), sorted by
            position; at least one has severity "error".
    """

    def __init__(self, diagnostics: list[Diagnostic], source_lines: list[str] | None = None) -> None:
        self.diagnostics = diagnostics
        self.source_lines = source_lines
        super().__init__(self.format())

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def format(self) -> str:
        """Every diagnostic as `file:line:col: severity[code]: message` with a caret excerpt."""
        return "\n".join(d.format(self.source_lines) for d in self.diagnostics)

    def __str__(self) -> str:
        return self.format()


@final
class Reporter:
    """Collects the diagnostics of one compilation (all passes share it)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Diagnostic] = []

    def error(self, code: str, span: Span, message: str, *, notes: tuple[str, ...] = (),
              helps: tuple[str, ...] = ()) -> None:
        self.items.append(Diagnostic(code, message, span.line, span.col, span.end_line, span.end_col,
                                     self.file, ERROR, notes, helps))

    def warning(self, code: str, span: Span, message: str, *, notes: tuple[str, ...] = (),
                helps: tuple[str, ...] = ()) -> None:
        self.items.append(Diagnostic(code, message, span.line, span.col, span.end_line, span.end_col,
                                     self.file, WARNING, notes, helps))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        # Stable sort keeps the emission order of diagnostics at the same position.
        return sorted(self.items, key=lambda d: (d.line, d.column))[:MAX_DIAGNOSTICS]


def source_text(lines: Sequence[str], a: Span, b: Span) -> str:
    """The source from the start of `a` to the end of `b`, whitespace runs collapsed to one space
    (lines joined by a space); "" where `lines` does not reach."""
    if a.line == b.end_line and 1 <= a.line <= len(lines):
        text = lines[a.line - 1][a.col - 1:b.end_col - 1]
    else:
        parts = []
        for ln in range(a.line, b.end_line + 1):
            line = lines[ln - 1] if 1 <= ln <= len(lines) else ""
            lo = a.col - 1 if ln == a.line else 0
            hi = b.end_col - 1 if ln == b.end_line else len(line)
            parts.append(line[lo:hi])
        text = " ".join(parts)
    return " ".join(text.split())


def did_you_mean(name: str, candidates: list[str]) -> tuple[str, ...]:
    """A `help:` suggestion for the closest candidate, if any is close enough."""
    best: str | None = None
    best_d = 10**9
    for c in sorted(set(candidates)):
        d = _edit_distance(name, c)
        if d < best_d:
            best, best_d = c, d
    if best is not None and best_d <= max(1, len(name) // 3) and best != name:
        return (f"did you mean '{best}'?",)
    return ()


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]

