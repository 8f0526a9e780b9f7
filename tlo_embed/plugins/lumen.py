"""Host side of lumen:runtime/rt: Lumen's float formatting and parsing.

The reference algorithms are /work/shared/lumen/SPEC.md Appendix B (sections 2.10 and 2.12):
`format_f64` prints the shortest digits that read back as the same f64, positionally (no
exponent), with ".0" for integral values below 1e15; `parse_f64` accepts exactly Lumen's float
syntax (no spaces, no underscores) and rounds correctly.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Final

_FLOAT: Final = re.compile(
    r"[+-]?(?:inf|infinity|nan|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)",
    re.IGNORECASE,
)


def format_f64(x: float) -> str:
    """Lumen's Float -> String."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == math.floor(x):
        if abs(x) < 1e15:
            return f"{x:.1f}"
        return str(int(x))
    return format(Decimal(repr(x)), "f")


def parse_f64(text: str) -> float | None:
    """Lumen's to_float(String); None when the text is not a float."""
    if not _FLOAT.fullmatch(text):
        return None
    return float(text)
