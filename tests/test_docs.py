"""The user guide's examples run, in order, and print what their comments say."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("name", ["user-guide.md", "tasks.md", "lumen.md"])
def test_guide_examples_run_and_print_what_they_say(
    name: str, tmp_path: Path, run_doc_python: Callable[..., int]
) -> None:
    """Every python block of the guide runs, and every commented print shows that value."""
    path = DOCS / name
    blocks = _BLOCK.findall(path.read_text(encoding="utf-8"))
    assert blocks, f"{path} has no python examples"
    checked = run_doc_python(blocks, str(path), tmp_path, trailing_note=True)
    assert checked >= 10
