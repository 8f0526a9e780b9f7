"""Compile tlo_embed with mypyc into ``build/mypyc/``, leaving the sources in ``tlo_embed/`` pure.

Run it with the project's venv python (``python3 dev.py build`` does)::

    .venv/bin/python build_mypyc.py [--force | --check]

What it does:

1. Targets are every ``tlo_embed/**/*.py``, sorted, minus ``EXCLUDED`` (each entry with its
   reason). Every module is still type-checked, with the ``[tool.mypy]`` settings of
   pyproject.toml; mypyc refuses to compile code that does not type-check and the build fails
   with mypy's messages.
2. The whole ``tlo_embed/`` tree is copied to ``build/mypyc/tlo_embed/`` and compiled there as
   ONE compilation unit (one shared library, ``build/mypyc/<hash>__mypyc.*.so``, plus a small
   shim extension per module), so calls between compiled modules are early-bound (see mypyc's
   ``doc/compilation_units.rst``).
3. The copied ``.py`` files stay beside their extensions: CPython's path finder tries extension
   suffixes before ``.py`` in each directory, so ``foo.*.so`` wins over ``foo.py``. That is
   checked after every build (``_check_extensions_win``) rather than assumed.
4. ``build/mypyc/.stamp`` records a fingerprint of the inputs (all package files, this script,
   the mypy version and settings, the Python version); nothing is rebuilt while it matches.

Put ``build/mypyc`` (and not the repo root) on ``PYTHONPATH`` to use the compiled build.

Importing this module builds nothing; dev.py's ``tlo`` script and tests/test_build.py import it
for ``is_current()`` and ``EXCLUDED``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.machinery
import importlib.metadata
import json
import os
import shutil
import sys
import time
import tomllib
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parent
PACKAGE: Final = "tlo_embed"
SOURCE_ROOT: Final = REPO / PACKAGE
PYPROJECT: Final = REPO / "pyproject.toml"
COMPILED_ROOT: Final = REPO / "build" / "mypyc"
STAMP: Final = COMPILED_ROOT / ".stamp"

#: Paths (relative to the repo root) left uncompiled, with why. An entry ending in "/" is a
#: package prefix and excludes everything under it. Keep this short: everything else compiles.
EXCLUDED: Final[dict[str, str]] = {
    "tlo_embed/__init__.py": "facade re-exports; keeps import errors readable",
    "tlo_embed/__main__.py": "runnable as script",
    "tlo_embed/cli/": "argparse command layer, start-up bound; not worth compiling",
    "tlo_embed/errors.py": (
        "exception classes with builtin bases such as TimeoutError that mypyc cannot compile; "
        "raising is not a hot path"
    ),
}

#: Files in the source tree that are build products or caches, never inputs.
_IGNORED_DIRS: Final = frozenset({"__pycache__"})
_IGNORED_SUFFIXES: Final = (".pyc", ".pyo", ".so", ".pyd", ".c", ".o")


def source_files() -> list[str]:
    """Return every input file of the package as sorted repo-relative POSIX paths."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(SOURCE_ROOT):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS)
        for name in filenames:
            if not name.endswith(_IGNORED_SUFFIXES):
                found.append((Path(dirpath) / name).relative_to(REPO).as_posix())
    return sorted(found)


def excluded_reason(path: str) -> str | None:
    """Return why ``path`` (repo-relative, POSIX) is left uncompiled, or None if it compiles."""
    for entry, reason in EXCLUDED.items():
        if path == entry or (entry.endswith("/") and path.startswith(entry)):
            return reason
    return None


def python_sources() -> list[str]:
    """Return all ``.py`` files of the package, sorted; these are all type-checked."""
    return [path for path in source_files() if path.endswith(".py")]


def targets() -> list[str]:
    """Return the modules to compile: ``python_sources()`` minus ``EXCLUDED``, sorted."""
    return [path for path in python_sources() if excluded_reason(path) is None]


def _mypy_version() -> str:
    try:
        return importlib.metadata.version("mypy")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _mypy_settings() -> str:
    """Return the ``[tool.mypy]`` table of pyproject.toml, canonically serialised."""
    with PYPROJECT.open("rb") as f:
        config = tomllib.load(f)
    return json.dumps(config.get("tool", {}).get("mypy", {}), sort_keys=True)


def fingerprint() -> str:
    """Return a digest of everything the compiled build depends on."""
    h = hashlib.sha256()
    ext_suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for part in (sys.version, ext_suffix, _mypy_version(), _mypy_settings()):
        h.update(part.encode() + b"\0")
    h.update(hashlib.sha256(Path(__file__).resolve().read_bytes()).digest())
    for path in source_files():
        h.update(path.encode() + b"\0")
        h.update(hashlib.sha256((REPO / path).read_bytes()).digest())
    return h.hexdigest()


def is_current() -> bool:
    """Return whether ``build/mypyc`` was built from the current inputs."""
    if not STAMP.is_file() or not (COMPILED_ROOT / PACKAGE).is_dir():
        return False
    return STAMP.read_text().strip() == fingerprint()


def _module_name(path: str) -> str:
    """Map ``tlo_embed/store/__init__.py`` to ``tlo_embed.store``, ``a/b.py`` to ``a.b``."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _clean() -> None:
    """Remove the previous copy and shared library; keep mypyc's C and object files."""
    STAMP.unlink(missing_ok=True)
    shutil.rmtree(COMPILED_ROOT / PACKAGE, ignore_errors=True)
    # A different module set gives the shared library a different name; drop stale ones.
    for stale in COMPILED_ROOT.glob("*__mypyc.*"):
        stale.unlink()


def _copy_sources() -> None:
    """Copy the package tree (code, py.typed, data) into ``build/mypyc/tlo_embed``."""
    shutil.copytree(
        SOURCE_ROOT,
        COMPILED_ROOT / PACKAGE,
        ignore=shutil.ignore_patterns(*_IGNORED_DIRS, *(f"*{s}" for s in _IGNORED_SUFFIXES)),
    )


def _compile(sources: list[str], compiled: list[str]) -> None:
    """Type-check ``sources`` and compile ``compiled`` in place under the current directory.

    Raises:
        SystemExit: if mypy reports errors (mypyc prints them first) or the C build fails.
    """
    # Imported here so that importing this module (for is_current/EXCLUDED) stays cheap.
    from mypyc.build import mypycify
    # setuptools has no inline types (types-setuptools is not a dependency).
    from setuptools import setup  # type: ignore[import-untyped, unused-ignore]

    extensions = mypycify(
        ["--config-file", str(PYPROJECT), *sources],
        only_compile_paths=compiled,
        opt_level="3",
        debug_level="0",
    )
    jobs = str(max(os.cpu_count() or 1, 1))
    setup(
        name="tlo-embed-mypyc",
        # Explicitly empty, so setuptools does not try to discover packages in build/mypyc.
        packages=[],
        py_modules=[],
        ext_modules=extensions,
        script_args=["--quiet", "build_ext", "--inplace", "--parallel", jobs],
    )


def _check_extensions_win(compiled: list[str]) -> None:
    """Check that the import system finds each compiled module's extension, not its ``.py``.

    Asks the interpreter's own path hooks (the same FileFinder that ``import`` uses), one
    directory at a time, so nothing from the build is imported.

    Raises:
        SystemExit: naming the modules whose ``.py`` would be imported instead.
    """
    wrong: list[str] = []
    for path in compiled:
        module = _module_name(path)
        parent = module.rpartition(".")[0]
        directory = COMPILED_ROOT / parent.replace(".", "/")
        spec = None
        for hook in sys.path_hooks:
            try:
                finder = hook(str(directory))
            except ImportError:
                continue
            spec = finder.find_spec(module)
            break
        origin = spec.origin if spec is not None else None
        if origin is None or not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            wrong.append(f"{module} -> {origin}")
    if wrong:
        listing = "\n  ".join(wrong)
        raise SystemExit(f"build_mypyc: compiled modules would not be imported:\n  {listing}")


def _check_packages(sources: list[str]) -> None:
    """Fail early if a directory holding modules lacks ``__init__.py``.

    mypy would otherwise name its modules from the nearest directory without one (for example
    ``errors`` instead of ``tlo_embed.errors``) and fail with a puzzling "found twice" error.

    Raises:
        SystemExit: naming the directories that need an ``__init__.py``.
    """
    directories = {path.rpartition("/")[0] for path in sources}
    packages = {path.rpartition("/")[0] for path in sources if path.endswith("/__init__.py")}
    missing = sorted(directories - packages)
    if missing:
        raise SystemExit("build_mypyc: no __init__.py in: " + ", ".join(missing))


def build() -> None:
    """Rebuild ``build/mypyc`` from scratch and write the stamp."""
    started = time.monotonic()
    sources = python_sources()
    _check_packages(sources)
    compiled = targets()
    if not compiled:
        raise SystemExit(f"build_mypyc: nothing to compile under {SOURCE_ROOT}")
    print(f"build_mypyc: compiling {len(compiled)} modules into {COMPILED_ROOT}:", flush=True)
    for path in compiled:
        print(f"  {path}")
    print("build_mypyc: left uncompiled:")
    for path in sources:
        reason = excluded_reason(path)
        if reason is not None:
            print(f"  {path}: {reason}")
    print(flush=True)

    COMPILED_ROOT.mkdir(parents=True, exist_ok=True)
    digest = fingerprint()
    _clean()
    _copy_sources()
    previous = Path.cwd()
    os.chdir(COMPILED_ROOT)  # mypycify and build_ext --inplace work relative to the cwd
    try:
        _compile(sources, compiled)
    finally:
        os.chdir(previous)
    _check_extensions_win(compiled)
    STAMP.write_text(digest + "\n")
    elapsed = time.monotonic() - started
    print(f"build_mypyc: built {len(compiled)} modules in {elapsed:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Build unless the stamp is current; return the process exit code."""
    parser = argparse.ArgumentParser(
        description="Compile tlo_embed with mypyc into build/mypyc (one compilation unit).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="rebuild even if the stamp is current")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if the build is stale; build nothing"
    )
    args = parser.parse_args(argv)
    if args.check:
        current = is_current()
        print(f"build_mypyc: {COMPILED_ROOT} is {'current' if current else 'stale'}")
        return 0 if current else 1
    if not args.force and is_current():
        print(f"build_mypyc: {COMPILED_ROOT} is current ({len(targets())} modules compiled)")
        return 0
    build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
