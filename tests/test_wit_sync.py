"""tools/gen_wit.py and tlo_embed/plugins/_wit.py: the embedded host interfaces are wasm/wit/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tlo_embed.plugins import _wit

REPO = Path(__file__).resolve().parents[1]


def test_generated_wit_module_is_current() -> None:
    """`python tools/gen_wit.py --check` passes: _wit.py matches wasm/wit/."""
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_wit.py"), "--check"],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_imported_wit_is_the_contract() -> None:
    """The module the engine imports (pure or compiled) carries wasm/wit/host.wit verbatim."""
    assert _wit.HOST_WIT == (REPO / "wasm" / "wit" / "host.wit").read_text(encoding="utf-8")
    assert _wit.host_interface("kv") == "tlo:host/kv@0.1.0"
    assert set(_wit.HOST_FUNCTIONS) == {"log", "kv", "journal", "clock", "random"}
    assert _wit.runtime_interface("rt") == "lumen:runtime/rt@0.1.0"


def test_stream_parameter_is_named_without_the_wit_escape() -> None:
    """`%stream` in the WIT source is `stream` in the component and in the catalog."""
    params, result, _doc = _wit.HOST_FUNCTIONS["journal"]["append"]
    assert params[0] == ("stream", "string")
    assert result == "s64"
