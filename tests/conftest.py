"""Shared fixtures: real .tlo files in a temporary directory, an injected clock, and the
runner of the docs' Python examples."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tlo_embed


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a new .tlo file (not created yet)."""
    return tmp_path / "app.tlo"


@pytest.fixture
def clock() -> tlo_embed.FixedClock:
    """A clock that starts at a fixed instant and advances 1 ms per reading."""
    return tlo_embed.FixedClock(now_us=1_700_000_000_000_000, step_us=1000)


@pytest.fixture
def db(db_path: Path, clock: tlo_embed.FixedClock) -> Iterator[tlo_embed.Database]:
    """An open Database on a fresh file, closed after the test."""
    database = tlo_embed.open(db_path, clock=clock)
    try:
        yield database
    finally:
        database.close()


_CHECKED_PRINT = re.compile(r"^print\((.*)\)\s+# (.+)$")

#: run_doc_python(blocks, filename, directory, *, trailing_note=False) -> checked prints
DocRunner = Callable[..., int]


def _instrument(source: str) -> str:
    """Turn each top-level `print(x)  # expected` line into a checked print."""
    lines = []
    for line in source.splitlines():
        match = _CHECKED_PRINT.match(line)
        if match:
            args, expected = match.groups()
            line = f"__check({expected!r}, {args})"
        lines.append(line)
    return "\n".join(lines)


def _matches(expected: str, out: str, trailing_note: bool) -> bool:
    if expected.endswith("..."):
        return out.startswith(expected[:-3].rstrip())
    if trailing_note and expected.startswith((out + " ", out + ":")):
        return True
    return expected == out


def _run_doc_python(
    blocks: Iterable[str], filename: str, directory: Path, *, trailing_note: bool = False
) -> int:
    """Run `blocks` in order as one program in `directory`; every top-level
    `print(x)  # expected` line must print `expected` (a trailing "..." matches any rest; with
    `trailing_note`, the comment may add " note" or ": note" after the value). Returns how many
    prints were checked."""
    checked = 0

    def check(expected: str, *values: Any) -> None:
        nonlocal checked
        out = " ".join(str(v) for v in values)
        assert _matches(expected, out, trailing_note), (
            f"printed {out!r}, the guide says {expected!r}"
        )
        checked += 1

    namespace: dict[str, Any] = {"__check": check, "__name__": "__guide__"}
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        for block in blocks:
            exec(compile(_instrument(block), filename, "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(cwd)
    return checked


@pytest.fixture
def run_doc_python() -> DocRunner:
    """Runs a doc's Python blocks and checks their commented prints (see `_run_doc_python`)."""
    return _run_doc_python
