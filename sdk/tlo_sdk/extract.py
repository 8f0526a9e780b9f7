"""Source extraction (SPEC 2.1): `.lm` and `.lm.md` files to code text with original positions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from .diagnostics import Reporter, Span


@final
@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    value: str
    span: Span


@final
@dataclass(frozen=True, slots=True)
class Extracted:
    """Code with every non-code line blanked, so positions are positions in the original file."""

    code: str
    directives: tuple[Directive, ...]
    source_lines: tuple[str, ...]


def is_markdown(filename: str) -> bool:
    return filename.endswith((".lm.md", ".lumen.md"))


def decode(data: bytes, rep: Reporter) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        rep.error("E001", Span.at(line, col), "invalid UTF-8 in source file")
        return None
    return text


def extract(text: str, markdown: bool, rep: Reporter) -> Extracted:
    """Split a source file into code (non-code lines blanked) and directives."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if markdown:
        return _extract_markdown(lines, rep)
    return _extract_raw(lines, rep)


def _directive(line: str, lineno: int) -> Directive:
    stripped = line.strip()
    col = len(line) - len(line.lstrip()) + 1
    body = stripped[1:]
    name, _, value = body.partition(" ")
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
    return Directive(name.strip(), value, Span.at(lineno, col, len(stripped)))


def _extract_markdown(lines: list[str], rep: Reporter) -> Extracted:
    out: list[str] = []
    directives: list[Directive] = []
    fence = 0  # backtick count of the open Lumen fence, 0 when outside
    opened_at = (0, 0)
    found = False
    for i, line in enumerate(lines, 1):
        stripped = line.strip()
        if fence:
            ticks = len(stripped) - len(stripped.lstrip("`"))
            if ticks >= fence and stripped == "`" * ticks:
                fence = 0
                out.append("")
            else:
                out.append(line)
            continue
        if stripped.startswith("```"):
            ticks = len(stripped) - len(stripped.lstrip("`"))
            info = stripped[ticks:].strip().lower()
            if info in ("lumen", "lm"):
                found = True
                if line[0] != "`":
                    rep.error("E007", Span.at(i, len(line) - len(line.lstrip()) + 1, ticks),
                              "a ```lumen fence must start in column 1")
                fence = ticks
                opened_at = (i, len(line) - len(line.lstrip()) + 1)
            out.append("")
            continue
        if stripped.startswith("@"):
            directives.append(_directive(line, i))
        out.append("")
    if fence:
        rep.error("E007", Span.at(len(lines), 1),
                  f"unterminated ```lumen fence opened at {opened_at[0]}:{opened_at[1]}")
    if not found:
        rep.error("E007", Span.at(1, 1), "no ```lumen blocks found in Markdown file",
                  helps=("put the code in fenced blocks tagged 'lumen' or 'lm'",))
    return Extracted("\n".join(out), tuple(directives), tuple(lines))


def _extract_raw(lines: list[str], rep: Reporter) -> Extracted:
    out: list[str] = []
    directives: list[Directive] = []
    in_doc = False
    seen_code = False
    for i, line in enumerate(lines, 1):
        stripped = line.strip()
        if in_doc:
            out.append("")
            if "```" in line:
                in_doc = False
            continue
        if stripped.startswith("```"):
            in_doc = "```" not in stripped[3:]
            out.append("")
            continue
        if stripped.startswith("@") and not seen_code:
            directives.append(_directive(line, i))
            out.append("")
            continue
        if stripped and not stripped.startswith("#"):
            seen_code = True
        out.append(line)
    return Extracted("\n".join(out), tuple(directives), tuple(lines))
