"""`python -m tlo_embed ...` as a real subprocess: the build under test, exit statuses, signals."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

import tlo_embed
from tlo_embed import Event

#: The `tlo_process` fixture of conftest.py: runs `python -m tlo_embed ARGS...`.
Tlo = Callable[..., Any]

#: More turns than `check` reports progress for (it reports every 1000).
BIG_TURNS = 2500


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .tlo file with BIG_TURNS turns, one event each, of a few hundred bytes."""
    path = tmp_path_factory.mktemp("big") / "big.tlo"
    with tlo_embed.open(path) as db:
        for n in range(BIG_TURNS):
            db.append(f"stream-{n % 50}", Event("Ticked", {"n": n, "note": "x" * 200}))
    return path


Popen = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def popen(subprocess_env: dict[str, str], tmp_path: Path) -> Popen:
    """Start `python -m tlo_embed ARGS...` in tmp_path; keyword arguments go to Popen."""

    def start(*argv: str | os.PathLike[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tlo_embed", *(os.fspath(a) for a in argv)],
            env=subprocess_env, cwd=tmp_path, **kwargs,
        )

    return start


def test_version_names_the_build_under_test(tlo_process: Tlo) -> None:
    """`python -m tlo_embed --version` runs and says compiled/pure as TLO_EXPECT_COMPILED says."""
    ran = tlo_process("--version")
    assert ran.code == 0
    assert ran.out.startswith(f"tlo {tlo_embed.__version__} ")
    expect = os.environ.get("TLO_EXPECT_COMPILED")
    if expect == "1":
        assert "compiled with mypyc" in ran.out
    elif expect == "0":
        assert "pure Python" in ran.out


def test_init_status_log_check(tlo_process: Tlo, tmp_path: Path) -> None:
    """init, then status/log/check --json in subprocesses agree with the file's contents."""
    path = tmp_path / "app.tlo"
    assert tlo_process("init", path).code == 0
    with tlo_embed.open(path, create=False) as db:
        db.append("order-1", [Event("OrderPlaced", {"total": 5}), Event("ItemAdded", {})],
                  expected_version=0)
    status = json.loads(tlo_process("status", path, "--json").out)
    assert (status["turns"], status["events"], status["streams"]) == (1, 2, 1)
    log = tlo_process("log", path, "--json")
    assert log.code == 0
    assert [json.loads(line)["type"] for line in log.out.splitlines()] == [
        "OrderPlaced", "ItemAdded"]
    check = tlo_process("check", path)
    assert check.code == 0
    assert "ok:" in check.out


def test_demo_then_check(tlo_process: Tlo, tmp_path: Path) -> None:
    """`tlo demo` in a subprocess writes ./demo.tlo, which `tlo check` then finds clean."""
    ran = tlo_process("demo")
    assert ran.code == 0, ran.err
    assert "ConcurrencyError" in ran.out
    assert (tmp_path / "demo.tlo").exists()
    assert tlo_process("check", "demo.tlo").code == 0


def test_damaged_projection_exits_1(tlo_process: Tlo, tmp_path: Path) -> None:
    """`tlo check` exits 1 and names the `streams` table after `UPDATE streams SET version = 99`."""
    path = tmp_path / "app.tlo"
    with tlo_embed.open(path) as db:
        db.append("a", Event("E"))
    conn = apsw.Connection(str(path))
    conn.execute("UPDATE streams SET version = 99")
    conn.close()
    ran = tlo_process("check", path)
    assert ran.code == 1
    assert "streams:" in ran.out


def test_errors_have_no_traceback(tlo_process: Tlo, tmp_path: Path) -> None:
    """A missing file and a non-SQLite file give `tlo: error:` lines, no traceback, no new file."""
    missing = tmp_path / "missing.tlo"
    ran = tlo_process("status", missing)
    assert ran.code != 0
    assert ran.err.startswith("tlo: error: ") and "does not exist" in ran.err
    assert "Traceback" not in ran.err
    assert not missing.exists()
    text = tmp_path / "notes.txt"
    text.write_bytes(b"not a database\n")
    ran = tlo_process("log", text)
    assert ran.code == tlo_embed.NotATloFileError.code
    assert "not a SQLite database" in ran.err
    assert "Traceback" not in ran.err
    assert text.read_bytes() == b"not a database\n"


def test_bad_argument_exits_2(tlo_process: Tlo) -> None:
    """An unknown option exits 2 with argparse's usage message."""
    ran = tlo_process("status", "--colour")
    assert ran.code == 2
    assert "usage: tlo status" in ran.err


def test_check_shows_progress_on_a_terminal(big_file: Path, popen: Popen) -> None:
    """With stderr on a terminal, `tlo check` draws a progress line there and erases it."""
    leader, follower = pty.openpty()
    try:
        proc = popen("check", big_file, stdout=subprocess.PIPE, stderr=follower)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        out, _ = proc.communicate(timeout=120)
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert f"checking: 1000 of {BIG_TURNS} turns".encode() in seen
    assert seen.endswith(b"\r\x1b[K")
    assert b"ok:" in out


def test_check_without_terminal_prints_no_progress(big_file: Path, popen: Popen) -> None:
    """With stderr not a terminal, `tlo check` writes nothing to stderr."""
    proc = popen("check", big_file, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert err == b""


def test_interrupt_exits_130_without_traceback(big_file: Path, popen: Popen) -> None:
    """Ctrl-C (SIGINT) while `tlo log` writes exits 130 with one line on stderr, no traceback."""
    proc = popen("log", big_file, "--json", "--limit", "0",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # main() is running; the pipe fills up as we stop reading
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert b"Traceback" not in err
    assert err.decode().strip() == "tlo: error: interrupted"


def test_closed_pipe_exits_quietly(big_file: Path, popen: Popen) -> None:
    """`tlo log ... | head -1` ends the writer quietly (status 141, nothing on stderr)."""
    proc = popen("log", big_file, "--json", "--limit", "0",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 141
    assert err == b""
