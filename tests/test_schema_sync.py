"""tools/gen_schema.py and tlo_embed/store/_schema.py: the embedded schema is schema.sql."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tlo_embed.store._schema import SCHEMA_SQL

REPO = Path(__file__).resolve().parents[1]


def test_generated_schema_module_is_current() -> None:
    """`python tools/gen_schema.py --check` passes: _schema.py matches schema.sql."""
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_schema.py"), "--check"],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_imported_schema_is_schema_sql() -> None:
    """The SCHEMA_SQL the engine imports (pure or compiled) is the text of schema.sql."""
    assert SCHEMA_SQL == (REPO / "schema.sql").read_text(encoding="utf-8")
