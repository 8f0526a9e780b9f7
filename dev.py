#!/usr/bin/env python3
"""Developer entry point: set up ``.venv/``, build the mypyc copy, run the demo, tests, benches.

Standard library only, because this is the first thing that runs on a clean clone::

    python3 dev.py demo [--file PATH]     # the README's "try it" command
    python3 dev.py test [PYTEST_ARGS...]  # the suite, compiled and pure (what CI runs)
    python3 dev.py build [--force]        # (re)build build/mypyc only
    python3 dev.py bench NAME [ARGS...]   # run bench/NAME.py against the compiled build
    python3 dev.py setup                  # create or refresh .venv/ only

Layout it relies on:

- ``.venv/`` holds the project's *dependencies* only. The project itself is deliberately not
  pip-installed: an editable install adds the repo root to every ``sys.path`` through a
  ``.pth`` file, and the compiled test run must not be able to see the pure sources. The
  ``tlo`` console script is written by hand instead (see ``_TLO_SCRIPT``).
- ``build/mypyc/`` is the compiled copy made by ``build_mypyc.py``; a run uses it by putting
  that directory (and not the repo root) on ``PYTHONPATH``, with ``PYTHONSAFEPATH=1`` so that
  ``python -m``/``-c`` do not prepend the current directory either.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import tomllib
import venv
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from collections.abc import Sequence

REPO: Final = Path(__file__).resolve().parent
VENV: Final = REPO / ".venv"
VENV_PYTHON: Final = VENV / "bin" / "python"
DEPS_STAMP: Final = VENV / ".tlo-deps"
PYPROJECT: Final = REPO / "pyproject.toml"
BUILD_SCRIPT: Final = REPO / "build_mypyc.py"
COMPILED_ROOT: Final = REPO / "build" / "mypyc"
BENCH_DIR: Final = REPO / "bench"
SDK_ROOT: Final = REPO / "sdk"
PACKAGE: Final = "tlo_embed"

# pytest exit codes (pytest.ExitCode); 5 means "no tests collected", which we count as failure.
_PYTEST_OK: Final = 0
_PYTEST_NO_TESTS: Final = 5

_TLO_SCRIPT: Final = '''\
#!{python}
"""The ``tlo`` command for the checkout at {repo}; written by dev.py, do not edit.

The project is not pip-installed (see dev.py), so this picks the import root itself:
the compiled copy in build/mypyc when build_mypyc.py says it is current, else the
pure sources in the repo root.
"""
import importlib.util
import sys

REPO = {repo!r}


def _import_root() -> str:
    spec = importlib.util.spec_from_file_location("_tlo_build_mypyc", REPO + "/build_mypyc.py")
    if spec is None or spec.loader is None:
        return REPO
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return str(build.COMPILED_ROOT) if build.is_current() else REPO


sys.path.insert(0, _import_root())
sys.path.insert(1, REPO + "/sdk")  # tlo_sdk, the plugin SDK (`tlo plugin build`)
from tlo_embed.cli import main  # noqa: E402

# Guarded: `tlo worker --executor process` starts children that re-run this file as
# `__mp_main__` (multiprocessing's "spawn"); they must not run the command again.
if __name__ == "__main__":
    sys.exit(main())
'''


def _say(message: str) -> None:
    """Print a progress line of this script (flushed, so it stays ordered with child output)."""
    print(f"dev: {message}", flush=True)


def _run(
    cmd: Sequence[str | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> int:
    """Run ``cmd`` with inherited stdio and return its exit code."""
    return subprocess.run([str(part) for part in cmd], env=env, cwd=cwd, check=False).returncode


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def requirements() -> list[str]:
    """Return what ``.venv/`` needs, read from pyproject.toml.

    That is the project's dependencies, its ``test`` extra and its build-system requirements
    (setuptools and mypy, which build_mypyc.py imports), but not the project itself.
    """
    with PYPROJECT.open("rb") as f:
        config = tomllib.load(f)
    project = config["project"]
    reqs: list[str] = list(project.get("dependencies", []))
    reqs += project.get("optional-dependencies", {}).get("test", [])
    reqs += config.get("build-system", {}).get("requires", [])
    return list(dict.fromkeys(reqs))


def ensure_venv() -> Path:
    """Create ``.venv/`` if needed and install the dependencies when pyproject.toml changed.

    Returns:
        The venv's python.

    Raises:
        SystemExit: if pip fails.
    """
    if not VENV_PYTHON.exists():
        _say(f"creating {VENV} ...")
        started = time.monotonic()
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        _say(f"created {VENV} in {time.monotonic() - started:.1f} s")
    digest = _sha256(PYPROJECT)
    recorded = DEPS_STAMP.read_text().strip() if DEPS_STAMP.exists() else ""
    if recorded != digest:
        reqs = requirements()
        _say("installing dependencies: " + " ".join(reqs))
        started = time.monotonic()
        pip: list[str | Path] = [VENV_PYTHON, "-m", "pip", "install", "--no-input"]
        code = _run([*pip, "--disable-pip-version-check", "--progress-bar", "off", *reqs])
        if code != 0:
            raise SystemExit(f"dev: pip install failed (exit {code})")
        DEPS_STAMP.write_text(digest + "\n")
        _say(f"dependencies installed in {time.monotonic() - started:.1f} s")
    _write_tlo_script()
    return VENV_PYTHON


def _write_tlo_script() -> None:
    """Write ``.venv/bin/tlo`` (see ``_TLO_SCRIPT``) unless it is already up to date."""
    script = VENV / "bin" / "tlo"
    text = _TLO_SCRIPT.format(python=VENV_PYTHON, repo=str(REPO))
    if not script.exists() or script.read_text() != text:
        script.write_text(text)
        script.chmod(0o755)


def ensure_build(python: Path, *, force: bool = False) -> None:
    """Bring ``build/mypyc`` up to date with build_mypyc.py (a no-op when its stamp is current).

    Raises:
        SystemExit: if the build fails, for example because mypy rejects the package.
    """
    code = _run([python, BUILD_SCRIPT, *(["--force"] if force else [])], cwd=REPO)
    if code != 0:
        raise SystemExit(f"dev: the mypyc build failed (exit {code})")


def run_env(import_root: Path, *, safe_path: bool = True, **extra: str) -> dict[str, str]:
    """Return the environment of a run that imports tlo_embed from ``import_root`` only.

    ``PYTHONPATH`` is replaced, not extended, and ``PYTHONSAFEPATH=1`` (unless ``safe_path``
    is false) stops ``python -m``/``-c`` from prepending the working directory, which for a
    run started in the repo root would shadow the compiled copy with the pure sources. Both
    variables are inherited by subprocesses the tests start.
    """
    env = dict(os.environ)
    # sdk/ holds tlo_sdk (the plugin SDK, pure Python, never compiled): always importable.
    env["PYTHONPATH"] = os.pathsep.join((str(import_root), str(SDK_ROOT)))
    if safe_path:
        env["PYTHONSAFEPATH"] = "1"
    else:
        env.pop("PYTHONSAFEPATH", None)
    env.update(extra)
    return env


def _package_origin(python: Path, env: dict[str, str]) -> str:
    """Return where ``python`` would import tlo_embed from under ``env`` (without importing it)."""
    probe = (
        f"import importlib.util as u; s = u.find_spec({PACKAGE!r}); print(s.origin if s else '')"
    )
    done = subprocess.run(
        [str(python), "-c", probe], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


@dataclass(frozen=True)
class TestRun:
    """One configuration the suite runs against."""

    name: str
    description: str
    import_root: Path
    expect_compiled: str


@dataclass(frozen=True)
class TestResult:
    """What one pytest run did."""

    run: TestRun
    exit_code: int
    seconds: float
    passed: int
    failed: int
    skipped: int

    @property
    def ok(self) -> bool:
        """Whether the run counts as a pass (exit 0; exit 5, no tests collected, does not)."""
        return self.exit_code == _PYTEST_OK


def _junit_counts(path: Path) -> tuple[int, int, int]:
    """Return (passed, failed, skipped) from a pytest junit-xml report; zeros if there is none."""
    if not path.exists():
        return 0, 0, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", "0"))
        failed += int(suite.get("failures", "0")) + int(suite.get("errors", "0"))
        skipped += int(suite.get("skipped", "0"))
    return max(tests - failed - skipped, 0), failed, skipped


def run_pytest(python: Path, run: TestRun, pytest_args: Sequence[str]) -> TestResult:
    """Run the suite once against ``run.import_root`` and return its counts."""
    env = run_env(run.import_root, TLO_EXPECT_COMPILED=run.expect_compiled)
    origin = _package_origin(python, env)
    if run.expect_compiled == "1" and not origin.startswith(str(run.import_root) + os.sep):
        raise SystemExit(f"dev: the compiled run would import {PACKAGE} from {origin or 'nowhere'}")
    _say(f"{run.name} run: {run.description}; {PACKAGE} from {origin}")
    with tempfile.TemporaryDirectory(prefix="tlo-pytest-") as tmp:
        report = Path(tmp) / "junit.xml"
        cmd: list[str | Path] = [
            python, "-m", "pytest",
            "-p", "no:cacheprovider",
            f"--rootdir={REPO}",
            # importlib mode imports test files and conftest.py without putting the repo
            # root or tests/ on sys.path, so the compiled run cannot see the pure sources.
            "--import-mode=importlib",
            *pytest_args,
            f"--junit-xml={report}",
        ]  # fmt: skip
        started = time.monotonic()
        code = _run(cmd, env=env, cwd=REPO)
        seconds = time.monotonic() - started
        passed, failed, skipped = _junit_counts(report)
    return TestResult(run, code, seconds, passed, failed, skipped)


def _counts_line(label: str, passed: int, failed: int, skipped: int) -> str:
    return f"{label}: {passed} passed, {failed} failed, {skipped} skipped"


def cmd_test(pytest_args: Sequence[str]) -> int:
    """Run the suite against the compiled build, then the pure sources; 0 only if both pass."""
    python = ensure_venv()
    ensure_build(python)
    runs = [
        TestRun("compiled", f"PYTHONPATH={COMPILED_ROOT}", COMPILED_ROOT, "1"),
        TestRun("pure", f"PYTHONPATH={REPO}", REPO, "0"),
    ]
    results = [run_pytest(python, run, pytest_args) for run in runs]
    print(flush=True)
    for r in results:
        note = " (no tests collected)" if r.exit_code == _PYTEST_NO_TESTS else ""
        verdict = "ok" if r.ok else "FAILED"
        _say(f"{r.run.name}: pytest exit {r.exit_code}{note} in {r.seconds:.1f} s: {verdict}")
    for r in results:
        print(_counts_line(r.run.name, r.passed, r.failed, r.skipped))
    total = [sum(values) for values in zip(*((r.passed, r.failed, r.skipped) for r in results))]
    print(_counts_line("total", *total), flush=True)
    return 0 if all(r.ok for r in results) else 1


def cmd_demo(file: str | None) -> int:
    """Run ``tlo demo`` with the compiled build on a fresh (or the given) file."""
    python = ensure_venv()
    ensure_build(python)
    if file is None:
        path = Path(tempfile.mkdtemp(prefix="tlo-demo-")) / "demo.tlo"
    else:
        path = Path(file).resolve()
    _say(f"demo file: {path}")
    return _run([python, "-m", PACKAGE, "demo", path], env=run_env(COMPILED_ROOT))


def cmd_build(*, force: bool, check: bool) -> int:
    """(Re)build ``build/mypyc``, or with ``check`` only report whether it is stale."""
    python = ensure_venv()
    if check:
        return _run([python, BUILD_SCRIPT, "--check"], cwd=REPO)
    ensure_build(python, force=force)
    return 0


def cmd_bench(name: str, bench_args: Sequence[str]) -> int:
    """Run ``bench/NAME.py`` with the compiled build first on ``PYTHONPATH``."""
    script = BENCH_DIR / f"{name.removesuffix('.py')}.py"
    if not script.is_file():
        known = sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_"))
        raise SystemExit(f"dev: no bench {script}; known: {', '.join(known) or 'none'}")
    python = ensure_venv()
    ensure_build(python)
    # Not safe-path: a bench script may import helpers beside it in bench/.
    env = run_env(COMPILED_ROOT, safe_path=False, TLO_EXPECT_COMPILED="1")
    return _run([python, script, *bench_args], env=env, cwd=REPO)


def cmd_setup() -> int:
    """Create or refresh ``.venv/`` and the ``tlo`` script only."""
    ensure_venv()
    _say(f"ready: {VENV_PYTHON}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 dev.py",
        description=(
            "Set up .venv/, build the mypyc copy and run the tlo_embed demo, tests and benches."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="run `tlo demo` with the compiled build")
    demo.add_argument(
        "--file", metavar="PATH", help="the .tlo file (default: demo.tlo in a new temp dir)"
    )
    sub.add_parser(
        "test",
        help="run pytest against the compiled build, then the pure sources",
        description=(
            "Run pytest twice: with PYTHONPATH=build/mypyc and TLO_EXPECT_COMPILED=1, then with "
            "PYTHONPATH=<repo> and TLO_EXPECT_COMPILED=0. Any other arguments go to pytest "
            "(put them after `--` if they clash with this command's, e.g. `-- --help`). "
            "Exits non-zero if either run fails or collects no tests."
        ),
    )
    build = sub.add_parser("build", help="(re)build the compiled copy in build/mypyc")
    build.add_argument("--force", action="store_true", help="rebuild even if the stamp is current")
    build.add_argument(
        "--check", action="store_true", help="exit 1 if the build is stale; build nothing"
    )
    bench = sub.add_parser(
        "bench",
        help="run bench/NAME.py against the compiled build",
        description=(
            "Run bench/NAME.py with PYTHONPATH=build/mypyc; other arguments go to the bench "
            "(after `--` if they clash with this command's)."
        ),
    )
    bench.add_argument(
        "name", metavar="NAME", help="a bench script, e.g. `append` for bench/append.py"
    )
    sub.add_parser("setup", help="create or refresh .venv/ only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one command; return the process exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    if extra and args.command not in ("test", "bench"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "demo":
        return cmd_demo(args.file)
    if args.command == "test":
        return cmd_test(extra)
    if args.command == "build":
        return cmd_build(force=args.force, check=args.check)
    if args.command == "bench":
        return cmd_bench(args.name, extra)
    return cmd_setup()


if __name__ == "__main__":
    sys.exit(main())
