"""Build the componentize-py test guests, cached between test runs.

A guest is a directory under tests/plugins/guests/ holding `app.py` and a `wit/` directory whose
world imports the host interfaces of wasm/wit/. Building one takes componentize-py about ten
seconds, so the component is kept in `.cache/components/<key>.wasm` at the repository root;
the key is a sha256 of the guest's files, of wasm/wit/ and of the componentize-py version,
so any change to them builds a new component. Builds write a temporary file and rename it, so
test runs in parallel never see half a component.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]
GUESTS: Final = Path(__file__).resolve().parent / "guests"
HOST_WIT: Final = REPO / "wasm" / "wit"
CACHE: Final = REPO / ".cache" / "components"


class GuestBuildError(Exception):
    """componentize-py failed (or is missing); the message carries its output."""


def componentize_py() -> Path:
    """The componentize-py executable beside the running Python (the project's venv)."""
    exe = Path(sys.executable).with_name("componentize-py")
    if not exe.exists():
        raise GuestBuildError(
            f"componentize-py is not installed beside {sys.executable}; "
            "`python3 dev.py setup` installs the test dependencies")
    return exe


def componentize_py_version() -> str:
    """`componentize-py --version`, e.g. "componentize-py 0.25.1"."""
    done = subprocess.run([str(componentize_py()), "--version"], capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def _tree_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def cache_key(guest: str) -> str:
    """The sha256 naming `guest`'s component: its sources, wasm/wit/, the toolchain version."""
    digest = hashlib.sha256(componentize_py_version().encode())
    for root in (GUESTS / guest, HOST_WIT):
        for path in _tree_files(root):
            digest.update(b"\0" + str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def world_name(guest: str) -> str:
    """The fully qualified world of a guest: `package:name/world@version` from its world.wit."""
    text = (GUESTS / guest / "wit" / "world.wit").read_text(encoding="utf-8")
    package = world = None
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["package"]:
            package = words[1].rstrip(";")
        elif words[:1] == ["world"]:
            world = words[1]
    if package is None or world is None:
        raise GuestBuildError(f"{guest}/wit/world.wit declares no package or no world")
    name, _, version = package.partition("@")
    return f"{name}/{world}@{version}" if version else f"{name}/{world}"


def build_command(guest: str, output: Path) -> list[str]:
    """The componentize-py command line that builds `guest` into `output`."""
    return [str(componentize_py()), "-d", str(HOST_WIT), "-d", str(GUESTS / guest / "wit"),
            "-w", world_name(guest), "componentize", "-p", str(GUESTS / guest), "app",
            "-o", str(output)]


def build_guest(guest: str) -> Path:
    """The component of `guest`, built now unless the cache already holds it.

    Raises:
        GuestBuildError: componentize-py is missing or failed.
    """
    target = CACHE / f"{guest}-{cache_key(guest)}.wasm"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=CACHE, prefix=f".{guest}-", suffix=".wasm")
    os.close(fd)
    try:
        done = subprocess.run(build_command(guest, Path(partial)), cwd=GUESTS / guest,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise GuestBuildError(f"componentize-py failed to build {guest} "
                                  f"(exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        os.chmod(partial, 0o644)  # mkstemp made it private; it is a build product
        os.replace(partial, target)
        for stale in CACHE.glob(f"{guest}-*"):  # older builds and their compiled artifacts
            if not stale.name.startswith(target.stem):
                stale.unlink(missing_ok=True)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(p.name for p in GUESTS.iterdir() if p.is_dir()):
        print(build_guest(name))
