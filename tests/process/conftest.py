"""Helpers for tests that run real child processes against the build under test.

Children are started with `sys.executable` and inherit `os.environ`, so `PYTHONPATH` (which
`dev.py test` points at build/mypyc or at the repo) selects the same build in the child as
in the test; each helper script reports the package directory it imported, and the tests
compare it with their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import tlo_embed

HERE = Path(__file__).resolve().parent

#: Where this process imported tlo_embed from; children must import the same package.
PACKAGE_DIR = os.path.dirname(os.path.realpath(tlo_embed.__file__))

#: A bound on waiting for a child that should be making progress; only hit when it hangs.
HANG_GUARD = 120.0


def child_env() -> dict[str, str]:
    """os.environ, plus PYTHONPATH for this process's tlo_embed when none is set."""
    env = dict(os.environ)
    if not env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.path.dirname(PACKAGE_DIR)
    return env


class Child:
    """A helper script running as a child process; its stdout lines are collected by a thread."""

    def __init__(self, script: str, args: Sequence[str], *, stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / script), *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
            text=True,
        )
        self.lines: list[str] = []
        self.partial = ""
        self.stderr = ""
        self._first = threading.Event()
        self._cond = threading.Condition()
        self._out = threading.Thread(target=self._drain_stdout, daemon=True)
        self._err = threading.Thread(target=self._drain_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                if line.endswith("\n"):
                    self.lines.append(line[:-1])
                else:
                    self.partial = line  # cut short by a kill: never counted as reported
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def wait_for_lines(self, count: int) -> None:
        """Block until the child printed `count` lines (fails if it exits or hangs first)."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(self.lines) >= count or not self._out.is_alive(), HANG_GUARD
            )
        if len(self.lines) < count:
            self.proc.kill()
            self.finish()
            pytest.fail(
                f"child stopped after {len(self.lines)} lines (wanted {count}, hang={not ok});"
                f" exit {self.proc.returncode}; stderr:\n{self.stderr}"
            )

    def send(self, text: str) -> None:
        """Write a line to the child's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        """Wait for the child to exit and for its output to be read; returns the exit code."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            code = self.proc.wait(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._out.join()
        self._err.join()
        return code

    def check_hello(self) -> None:
        """The first line names the package the child imported: it must be ours."""
        self.wait_for_lines(1)
        assert self.lines[0] == f"hello {PACKAGE_DIR}", (self.lines[0], PACKAGE_DIR)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m tlo_embed ARGS...` (the `tlo` command) in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "tlo_embed", *args],
        capture_output=True, text=True, env=child_env(), timeout=HANG_GUARD, check=False,
    )


@pytest.fixture
def tlo_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the `tlo` command in a child process: tlo_cli("check", path)."""
    return run_cli


Spawn = Callable[..., Child]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start helper scripts of tests/process as children; any still running are killed after."""
    children: list[Child] = []

    def start(script: str, *args: object, stdin: bool = False) -> Child:
        child = Child(script, [str(a) for a in args], stdin=stdin)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
        child.finish()
