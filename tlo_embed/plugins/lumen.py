"""Host side of Lumen plugins: lumen:runtime/rt's float formatting and parsing, and the
grant policy of a Lumen manifest (`key_prefix`, `max_calls`).

The engine's plugin host (runtime.py) and the SDK's test harness (tlo_sdk.harness) both
enforce a manifest's grants with `manifest_policy` and `enforce_grants`, so a plugin meets the
same limits, with the same messages, in a test as when installed.

The reference algorithms are /work/shared/lumen/SPEC.md Appendix B (sections 2.10 and 2.12):
`format_f64` prints the shortest digits that read back as the same f64, positionally (no
exponent), with ".0" for integral values below 1e15; `parse_f64` accepts exactly Lumen's float
syntax (no spaces, no underscores) and rounds correctly.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Final, final

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


# -- grant policy ----------------------------------------------------------------------------


class GrantRefused(Exception):
    """A host function call outside the Lumen manifest's grants: a kv key outside its
    `key_prefix`, or one call too many for its `max_calls`. The engine reports it as
    PluginTrap kind "host" ("host function kv.put refused the call: ...")."""


@final
class Policy:
    """What a Lumen manifest grants one host function: key prefixes (kv) and a call budget
    per export call (-1: no limit)."""

    def __init__(self, key_prefixes: list[str], max_calls: int) -> None:
        self.key_prefixes = key_prefixes
        self.max_calls = max_calls


def manifest_policy(manifest: dict[str, Any] | None) -> dict[str, Policy]:
    """Policies by host function label ("kv.put") from a Lumen manifest's `tools`.

    Several aliases may name one function with different grants; the host cannot tell them
    apart, so a limit applies only if every alias has it: key prefixes are their union, call
    budgets their sum.
    """
    out: dict[str, Policy] = {}
    if manifest is None:
        return out
    tools = manifest.get("tools")
    if not isinstance(tools, list):
        return out
    grouped: dict[str, list[dict[str, Any]]] = {}
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        imported, function = tool.get("import"), tool.get("function")
        if not isinstance(imported, str) or not isinstance(function, str):
            continue
        iface = imported.split("/")[-1].split("@")[0]
        grants = tool.get("grants")
        grouped.setdefault(f"{iface}.{function}", []).append(
            grants if isinstance(grants, dict) else {}
        )
    for label, grant_list in grouped.items():
        prefixes: list[str] = []
        budget = 0
        for grants in grant_list:
            found = grants.get("key_prefix")
            if isinstance(found, list) and found:
                prefixes.extend(str(x) for x in found)
            else:
                prefixes = []
                break
        for grants in grant_list:
            calls = grants.get("max_calls")
            if isinstance(calls, list) and calls and all(isinstance(c, int) for c in calls):
                budget += min(int(c) for c in calls)
            else:
                budget = -1
                break
        if prefixes or budget >= 0:
            out[label] = Policy(prefixes if label.startswith("kv.") else [], budget)
    return out


def enforce_grants(
    policy: dict[str, Policy], counts: dict[str, int], label: str, args: tuple[Any, ...]
) -> None:
    """Apply the grants of `policy` (from `manifest_policy`) to one call of host function
    `label` ("kv.put") with arguments `args`; `counts` holds the calls made so far by the
    current export call (start each export call with an empty dict).

    Raises:
        GrantRefused: the call is outside the grants (it is still counted).
    """
    found = policy.get(label)
    if found is None:
        return
    count = counts.get(label, 0) + 1
    counts[label] = count
    if found.max_calls >= 0 and count > found.max_calls:
        raise GrantRefused(
            f"{label} may be called at most {found.max_calls} time(s) per call"
            " (grant max_calls in the plugin's manifest)"
        )
    prefixes = found.key_prefixes
    if prefixes and args and isinstance(args[0], str):
        key = args[0]
        if not any(key.startswith(prefix) for prefix in prefixes):
            raise GrantRefused(
                f"key {key!r} is outside the plugin's grant key_prefix"
                f" {', '.join(repr(x) for x in prefixes)}"
            )
