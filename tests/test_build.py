"""The build under test is the one the run says it is (``dev.py test`` sets TLO_EXPECT_COMPILED).

``python3 dev.py test`` runs the suite twice: with ``PYTHONPATH=build/mypyc`` and
``TLO_EXPECT_COMPILED=1``, then with ``PYTHONPATH=<repo>`` and ``TLO_EXPECT_COMPILED=0``. A plain
``pytest`` leaves the variable unset, and then these tests only check that the modules import.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
COMPILED_ROOT = REPO / "build" / "mypyc"
EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)

#: Hot-path modules that must be compiled in the compiled build.
COMPILED_MODULES = ["tlo_embed.store.connection", "tlo_embed.journal.append"]


def _expect_compiled() -> str | None:
    return os.environ.get("TLO_EXPECT_COMPILED")


def _load_build_script() -> ModuleType:
    """Import build_mypyc.py by path (it builds nothing on import)."""
    spec = importlib.util.spec_from_file_location("_tlo_build_mypyc", REPO / "build_mypyc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _module_name(path: str) -> str:
    parts = path.removesuffix("/").removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_expect_compiled_is_unset_or_a_flag() -> None:
    """TLO_EXPECT_COMPILED is unset, "0" or "1"."""
    assert _expect_compiled() in (None, "0", "1")


@pytest.mark.parametrize("name", COMPILED_MODULES)
def test_core_module_comes_from_the_build_under_test(name: str) -> None:
    """A hot-path module is an extension in build/mypyc when compiled, the repo's .py when pure."""
    module = importlib.import_module(name)
    expect = _expect_compiled()
    if expect is None:
        return
    origin = Path(module.__file__ or "")
    if expect == "1":
        assert origin.name.endswith(EXTENSION_SUFFIXES), origin
        assert origin.is_relative_to(COMPILED_ROOT / "tlo_embed"), origin
    else:
        assert origin.suffix == ".py", origin
        assert origin.is_relative_to(REPO / "tlo_embed"), origin


def test_excluded_entries_exist_and_say_why() -> None:
    """Every EXCLUDED entry names an existing file or package and gives a reason."""
    build = _load_build_script()
    assert build.EXCLUDED
    for entry, reason in build.EXCLUDED.items():
        path = REPO / entry
        assert path.is_dir() if entry.endswith("/") else path.is_file(), entry
        assert isinstance(reason, str) and reason.strip(), entry


def test_targets_are_sorted_and_skip_the_excluded() -> None:
    """The mypyc targets are sorted, non-empty and contain no excluded path."""
    build = _load_build_script()
    targets = build.targets()
    assert targets and targets == sorted(targets)
    assert all(build.excluded_reason(path) is None for path in targets)


@pytest.mark.parametrize(
    "entry",
    [
        entry
        for entry in _load_build_script().EXCLUDED
        # Importing __main__ would run the CLI.
        if entry != "tlo_embed/__main__.py"
    ],
)
def test_excluded_module_stays_interpreted(entry: str) -> None:
    """An excluded module (or package) is imported from a .py file, even in the compiled build."""
    module = importlib.import_module(_module_name(entry))
    expect = _expect_compiled()
    if expect is None:
        return
    origin = Path(module.__file__ or "")
    assert origin.suffix == ".py", origin
    root = COMPILED_ROOT if expect == "1" else REPO
    assert origin.is_relative_to(root / "tlo_embed"), origin
