"""The front door (tlo_sdk.compile_lumen, driver.py): inputs, formats, stages and error rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
from tlo_sdk import CompiledPlugin, Diagnostic, LumenCompileError, compile_lumen

MD = "# Title\n\n```lumen\npub cell f(x: Int) -> Int = x * 2\n```\n"


def test_text_path_and_pathlike_inputs(tmp_path: Path) -> None:
    """Source text, a str path ending .lm.md and a Path all compile to the same component."""
    path = tmp_path / "double.lm.md"
    path.write_text(MD, encoding="utf-8")
    a = compile_lumen(MD, filename="double.lm.md")
    b = compile_lumen(str(path))
    c = compile_lumen(path)
    assert isinstance(a, CompiledPlugin)
    assert a.wasm == b.wasm == c.wasm
    assert "export f: func(x: s64) -> s64;" in a.wit
    assert a.wat.startswith("(component")


def test_format_option_overrides_the_suffix() -> None:
    """`format="lm.md"` reads text as Markdown; unnamed text is raw `.lm`, where a fence is a doc block."""
    assert compile_lumen(MD, format="lm.md").manifest["exports"] == [{"lumen_name": "f", "name": "f"}]
    assert compile_lumen(MD).manifest["exports"] == []


def test_errors_render_with_position_code_and_caret() -> None:
    """str(err) has `file:line:col: error[CODE]: message` and a caret under the token."""
    with pytest.raises(LumenCompileError) as info:
        compile_lumen("pub cell f(x: Int) -> Int = y\n", filename="e.lm")
    err = info.value
    d = err.diagnostics[0]
    assert isinstance(d, Diagnostic)
    assert (d.code, d.line, d.column, d.end_line, d.end_column, d.severity, d.file) == (
        "E100", 1, 29, 1, 30, "error", "e.lm")
    text = str(err)
    assert text.splitlines()[0] == "e.lm:1:29: error[E100]: undefined variable 'y'"
    assert text.splitlines()[2].endswith("^")
    assert err.format() == text
    assert d.to_json()["code"] == "E100"


def test_compilation_stops_after_the_first_failing_stage() -> None:
    """Lexer errors are reported without the parse errors they would cause."""
    with pytest.raises(LumenCompileError) as info:
        compile_lumen('cell f() -> Int = "a\\q" $\n', filename="s.lm")
    assert [d.code for d in info.value.diagnostics] == ["E003", "E001"]


def test_warnings_are_returned_with_the_plugin() -> None:
    """A successful compilation carries its warnings (here W100) and stage timings."""
    plugin = compile_lumen("pub cell f(x: Int) -> Int\n  let unused = 1\n  return x\nend\n", filename="w.lm")
    assert [d.code for d in plugin.diagnostics] == ["W100"]
    assert set(plugin.timings) == {"parse", "check", "lower", "assemble"}
