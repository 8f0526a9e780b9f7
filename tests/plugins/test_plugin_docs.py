"""docs/plugins.md runs: its files are the tested ones, its Python blocks print what they say.

A block preceded by `<!-- file: PATH -->` shows a file of the repository (the WAT example, the
componentize-py guest's world and app) and must equal it; the Python blocks without such a
marker run in order as one program, in a directory holding those files and the guest built by
componentize-py (tests/plugins/guest_build.py) as router.wasm, and each top-level
`print(x)  # expected` line is checked (the `run_doc_python` fixture of tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

from . import guest_build

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "plugins.md"
_BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```",
                    re.DOTALL)


def blocks() -> list[tuple[str | None, str, str]]:
    """(file marker or None, language, text) of each fenced block of docs/plugins.md."""
    text = DOC.read_text(encoding="utf-8")
    return [(m.group("file"), m.group("lang"), m.group("body")) for m in _BLOCK.finditer(text)]


def test_shown_files_are_the_tested_files() -> None:
    """Every file shown in the guide is, byte for byte, the file the tests use."""
    shown = [(marker, body) for marker, _, body in blocks() if marker is not None]
    assert [m for m, _ in shown] == [
        "wasm/examples/adder.wat",
        "tests/plugins/guests/router/wit/world.wit",
        "tests/plugins/guests/router/app.py",
    ]
    for marker, body in shown:
        assert body == (REPO / marker).read_text(encoding="utf-8"), f"{marker} differs"


def test_build_command_is_the_one_the_tests_run() -> None:
    """The guide's componentize-py command is the one guest_build runs (paths relative)."""
    commands = [body for _, lang, body in blocks()
                if lang == "sh" and body.startswith("componentize-py")]
    assert len(commands) == 1
    shown = shlex.split(commands[0].replace("\\\n", " "))
    built = guest_build.build_command("router", REPO / "router.wasm")
    relative = [os.path.relpath(a, REPO) if a.startswith(str(REPO)) else a for a in built]
    assert shown == ["componentize-py", *relative[1:]]


def test_guide_examples_run_and_print_what_they_say(
    tmp_path: Path, run_doc_python: Callable[..., int]
) -> None:
    """Every Python block of the guide runs, and every commented print shows that value."""
    for marker, _, body in blocks():
        if marker is not None:
            (tmp_path / Path(marker).name).write_text(body, encoding="utf-8")
    shutil.copy(guest_build.build_guest("router"), tmp_path / "router.wasm")
    program = [body for marker, lang, body in blocks() if lang == "python" and marker is None]
    checked = run_doc_python(program, str(DOC), tmp_path)
    assert checked >= 20
