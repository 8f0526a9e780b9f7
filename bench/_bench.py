"""What the benches share: timing by turns, the command line from the module docstring, and
which build is measured.

Imported by the bench scripts beside it (run them as `python bench/NAME.py`, or through
`python3 dev.py bench NAME`, which leaves this directory importable).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable


def best_of(repeat: int, *fns: Callable[[], float]) -> list[float]:
    """Each fn's fastest of `repeat` runs (fns return their own elapsed seconds).

    The functions take turns (a, b, c, a, b, c, ...) so that a machine whose speed drifts
    during the run slows every side alike, instead of skewing the ratio.
    """
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], fn())
    return best


def parser(doc: str) -> argparse.ArgumentParser:
    """A bench's argument parser: the docstring's first paragraph is the description, the
    rest the epilog (printed as written)."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc.split("\n\n", 1)[1],
    )


def is_compiled(module: str) -> bool:
    """Whether `module` (a module of tlo_embed) was imported from the mypyc build."""
    found = importlib.import_module(module).__file__
    return found is not None and not found.endswith(".py")
