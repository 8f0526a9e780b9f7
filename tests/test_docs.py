"""The user guide's examples run, in order, and print what their comments say."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
_CHECKED_PRINT = re.compile(r"^print\((.*)\)\s+# (.+)$")


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


def _matches(expected: str, out: str) -> bool:
    if expected.endswith("..."):
        return out.startswith(expected[:-3].rstrip())
    return expected == out or expected.startswith((out + " ", out + ":"))


def _run_markdown(path: Path, tmp_path: Path) -> int:
    blocks = _BLOCK.findall(path.read_text(encoding="utf-8"))
    assert blocks, f"{path} has no python examples"
    checked = 0

    def check(expected: str, *values: Any) -> None:
        nonlocal checked
        out = " ".join(str(v) for v in values)
        assert _matches(expected, out), f"printed {out!r}, the guide says {expected!r}"
        checked += 1

    namespace: dict[str, Any] = {"__check": check, "__name__": "__guide__"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for block in blocks:
            exec(compile(_instrument(block), str(path), "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(cwd)
    return checked


@pytest.mark.parametrize("name", ["user-guide.md", "tasks.md", "lumen.md"])
def test_guide_examples_run_and_print_what_they_say(name: str, tmp_path: Path) -> None:
    """Every python block of the guide runs, and every commented print shows that value."""
    checked = _run_markdown(DOCS / name, tmp_path)
    assert checked >= 10
