"""Fixtures for store tests: opening a file as an unprivileged user.

Read-only tests need permission bits to be enforced. Under root they are not (root writes a
0444 file happily), so there the open is attempted in a child process that has dropped to the
`nobody` user (`subprocess` with `user=`/`group=`): the same kernel permission check a normal
user meets, made real rather than simulated. Root's pytest temp dirs are 0700, so under root the
files live in a world-traversable directory of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import tlo_embed

NOBODY_UID = 65534
NOBODY_GID = 65534

_CHILD = r"""
import json, sys
import tlo_embed
try:
    db = tlo_embed.open(sys.argv[1], create=sys.argv[2] == "1", readonly=sys.argv[3] == "1")
    try:
        list(db.read_all(limit=1))
    finally:
        db.close()
except tlo_embed.TloError as e:
    print(json.dumps([type(e).__name__, str(e)]))
else:
    print(json.dumps(["opened", ""]))
"""


class Unprivileged:
    """Acts on files as an unprivileged user would (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def drops_root(self) -> bool:
        """True when opens run in a child that dropped root privileges."""
        return os.geteuid() == 0

    def own(self, path: Path) -> None:
        """Make `path` belong to the user that `open` runs as (a no-op when not root)."""
        if self.drops_root:
            os.chown(path, NOBODY_UID, NOBODY_GID)

    def open(self, path: Path, *, create: bool = True, readonly: bool = False) -> tuple[str, str]:
        """Try tlo_embed.open(path) and a read; returns (error class name, or "opened"; message)."""
        if not self.drops_root:
            try:
                db = tlo_embed.open(path, create=create, readonly=readonly)
                try:
                    list(db.read_all(limit=1))
                finally:
                    db.close()
            except tlo_embed.TloError as e:
                return type(e).__name__, str(e)
            return "opened", ""
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), "1" if create else "0",
             "1" if readonly else "0"],
            user=NOBODY_UID,
            group=NOBODY_GID,
            extra_groups=[],
            cwd="/",
            env=dict(os.environ),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        name, message = json.loads(result.stdout)
        return str(name), str(message)


@pytest.fixture
def unprivileged(tmp_path: Path) -> Iterator[Unprivileged]:
    """An `Unprivileged` whose `root` is a directory the unprivileged user can reach."""
    if os.geteuid() != 0:
        yield Unprivileged(tmp_path)
        return
    path = Path(tempfile.mkdtemp(prefix="tlo-store-test-"))
    os.chmod(path, 0o755)
    try:
        yield Unprivileged(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
