"""Fixtures for the `tlo` tests: an in-process runner, a subprocess runner, demo files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

import tlo_embed
from tlo_embed.cli import main


@attrs.frozen
class Ran:
    """What one `tlo` run did."""

    code: int
    out: str
    err: str


Tlo = Callable[..., Ran]


@pytest.fixture
def tlo(capsys: pytest.CaptureFixture[str]) -> Tlo:
    """Run `tlo ARGS...` in-process through `main`; returns its status, stdout and stderr."""

    def run(*argv: str | os.PathLike[str]) -> Ran:
        capsys.readouterr()  # start from clean buffers
        code = main([os.fspath(a) for a in argv])
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    """The environment for `python -m tlo_embed` importing the same build as this process."""
    env = dict(os.environ)
    if not env.get("PYTHONPATH"):
        env["PYTHONPATH"] = str(Path(tlo_embed.__file__).resolve().parents[1])
    return env


@pytest.fixture
def tlo_process(tmp_path: Path, subprocess_env: dict[str, str]) -> Tlo:
    """Run `python -m tlo_embed ARGS...` as a real subprocess (cwd: the test's tmp_path)."""

    def run(*argv: str | os.PathLike[str]) -> Ran:
        done = subprocess.run(
            [sys.executable, "-m", "tlo_embed", *(os.fspath(a) for a in argv)],
            env=subprocess_env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def demo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A .tlo file holding the demo's history (made by `tlo demo`)."""
    path = tmp_path / "app.tlo"
    assert main(["demo", str(path)]) == 0
    capsys.readouterr()
    return path


@pytest.fixture
def not_sqlite(tmp_path: Path) -> Path:
    """A text file that is not a SQLite database."""
    path = tmp_path / "notes.tlo"
    path.write_bytes(b"shopping list: milk, eggs\n" * 10)
    return path


@pytest.fixture
def foreign_sqlite(tmp_path: Path) -> Path:
    """A SQLite database made by someone else (tables, no .tlo application id)."""
    import apsw

    path = tmp_path / "other.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE things (name TEXT); INSERT INTO things VALUES ('x')")
    conn.close()
    return path
