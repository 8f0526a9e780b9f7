"""The plugin layer's records, event names and option parsing.

A plugin's lifecycle (install, upgrade, grant, revoke, remove) is recorded in the `$plugins`
stream; what its calls did (kv writes, the record of each call that changed something) in its
own stream `$plugin-<name>`. The tables `plugins` and `plugin_kv` are projections of those
events (`PluginsApplier`); the wasm and its precompiled artifacts are content, stored once by
sha256 beside them.
"""

from __future__ import annotations

import re
from typing import Any, Final

import attrs

from tlo_embed.errors import InvalidArgumentError
from tlo_embed.plugins._wit import HOST_FUNCTIONS

#: Lifecycle events of every plugin on a branch.
PLUGINS_STREAM: Final = "$plugins"
#: Prefix of a plugin's own stream: kv writes and call records.
PLUGIN_STREAM_PREFIX: Final = "$plugin-"

PLUGIN_INSTALLED: Final = "PluginInstalled"
PLUGIN_UPGRADED: Final = "PluginUpgraded"
PLUGIN_GRANTED: Final = "PluginGranted"
PLUGIN_REVOKED: Final = "PluginRevoked"
PLUGIN_REMOVED: Final = "PluginRemoved"
KV_PUT: Final = "KvPut"
KV_DELETED: Final = "KvDeleted"
PLUGIN_CALLED: Final = "PluginCalled"

#: Capabilities a grant may name: the host interfaces of wasm/wit/host.wit, plus "fs" (WASI
#: filesystem preopens, given as "fs:<host dir>" read-only or "fs-rw:<host dir>").
HOST_CAPABILITIES: Final[tuple[str, ...]] = tuple(HOST_FUNCTIONS)

DEFAULT_FUEL: Final = 100_000_000
DEFAULT_MEMORY: Final = 64 * 1024 * 1024
DEFAULT_TIMEOUT: Final = 5.0
#: Log lines kept in memory per plugin (`Plugins.log`).
LOG_LINES: Final = 1000
#: What a recorded call keeps of its log in its PluginCalled event: the first lines, up to
#: this many lines and characters in all (the rest is counted as `log_dropped`).
RECORDED_LOG_LINES: Final = 100
RECORDED_LOG_CHARS: Final = 65536

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_UNITS: Final[dict[str, int]] = {
    "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3,
}


def plugin_stream(name: str) -> str:
    """The stream holding a plugin's kv writes and call records."""
    return PLUGIN_STREAM_PREFIX + name


def check_name(name: str) -> str:
    """Return `name` if it can name a plugin (letters, digits, `_ . -`; at most 100).

    Raises:
        InvalidArgumentError: it cannot.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        msg = (
            f"plugin name {name!r} is not valid: use 1-100 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
        raise InvalidArgumentError(msg)
    return name


def parse_memory(value: int | str) -> int:
    """Bytes from an int or a size such as "32MiB", "512KiB", "1GB".

    Raises:
        InvalidArgumentError: not a positive size.
    """
    if isinstance(value, bool):
        raise InvalidArgumentError(f"memory must be a size such as '32MiB', got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        m = _MEMORY.match(value)
        if m is None:
            msg = f"memory must be a size such as '32MiB' or a number of bytes, got {value!r}"
            raise InvalidArgumentError(msg)
        unit = (m.group(2) or "b").lower()
        size = int(float(m.group(1)) * _UNITS[unit])
    else:
        raise InvalidArgumentError(f"memory must be a size such as '32MiB', got {value!r}")
    if size < 65536:
        msg = f"memory must be at least one wasm page (64KiB), got {size} bytes"
        raise InvalidArgumentError(msg)
    return size


def check_limits(fuel: int, timeout: float) -> None:
    """Refuse limits that cannot bound a call.

    Raises:
        InvalidArgumentError: fuel not a positive int, timeout not a positive number.
    """
    if isinstance(fuel, bool) or not isinstance(fuel, int) or fuel <= 0 or fuel >= 2**63:
        raise InvalidArgumentError(f"fuel must be a positive int, got {fuel!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
        0 < timeout <= 86400
    ):
        raise InvalidArgumentError(f"timeout must be > 0 seconds (at most a day), got {timeout!r}")


def check_grant(grant: str) -> str:
    """Return `grant` if the host knows it: a host capability, "fs:<dir>" or "fs-rw:<dir>".

    Raises:
        InvalidArgumentError: an unknown capability.
    """
    if isinstance(grant, str):
        if grant in HOST_CAPABILITIES:
            return grant
        if (grant.startswith("fs:") and len(grant) > 3) or (
            grant.startswith("fs-rw:") and len(grant) > 6
        ):
            return grant
    known = ", ".join(HOST_CAPABILITIES)
    msg = (
        f"unknown capability {grant!r}: grant one of {known}, or 'fs:<host dir>' (read-only)"
        " / 'fs-rw:<host dir>' for WASI filesystem access"
    )
    raise InvalidArgumentError(msg)


def normalize_grants(grants: object) -> tuple[str, ...]:
    """Sorted, de-duplicated, checked grants.

    Raises:
        InvalidArgumentError: not a list of known capabilities.
    """
    if isinstance(grants, str) or not isinstance(grants, (list, tuple, set, frozenset)):
        msg = f"grants must be a list of capability names, got {grants!r}"
        raise InvalidArgumentError(msg)
    out: set[str] = set()
    for grant in grants:
        out.add(check_grant(grant))
    return tuple(sorted(out))


@attrs.frozen(kw_only=True)
class ExportInfo:
    """An exported function: its name (as the plugin exports it, e.g. "route" or
    "my:pkg/api@1.0.0#route") and its WIT signature ("func(order: order) -> decision")."""

    name: str
    signature: str


@attrs.frozen(kw_only=True)
class PluginInfo:
    """An installed plugin, as recorded in the file.

    Attributes:
        name: the plugin's name.
        version: 1 at install, +1 per upgrade.
        sha256: hex digest of the component's bytes.
        exports: the functions it exports (internal exports of toolchains are hidden).
        requested: the capabilities its imports ask for: host capabilities ("kv", ...),
            "lumen:runtime" and the WASI pieces ("wasi:cli", "wasi:filesystem", ...).
        grants: the capabilities it was granted.
        fuel: fuel per call; memory: bytes of linear memory per instance; timeout: seconds
            per call.
        installed_at_us: when this version was installed (the turn's time).
        manifest: the Lumen manifest found in the component (`lumen:manifest`), or None.
    """

    name: str
    version: int
    sha256: str
    exports: tuple[ExportInfo, ...]
    requested: tuple[str, ...]
    grants: tuple[str, ...]
    fuel: int
    memory: int
    timeout: float
    installed_at_us: int
    manifest: dict[str, Any] | None = None

    @property
    def installed_at(self) -> int:
        """Alias of `installed_at_us` (microseconds since the epoch, UTC)."""
        return self.installed_at_us

    def export(self, name: str) -> ExportInfo | None:
        """The export called `name`, if any."""
        for item in self.exports:
            if item.name == name:
                return item
        return None


@attrs.frozen(kw_only=True)
class LogLine:
    """One captured line of a plugin's output.

    Attributes:
        plugin: the plugin's name.
        level: "info", "warn", "error" (the log interface) or "stdout", "stderr" (WASI).
        message: the text.
        at_us: when it was captured (the call's clock, microseconds since the epoch).
    """

    plugin: str
    level: str
    message: str
    at_us: int

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


@attrs.frozen(kw_only=True)
class CallRecord:
    """A recorded plugin call (the data of a `PluginCalled` event), as `Plugins.calls` returns.

    Attributes:
        seq: the turn that recorded it.
        event_index: the index of its `PluginCalled` event in that turn (the call's effects
            are the events just before it).
        event_version: the version of its `PluginCalled` event in `$plugin-<name>`.
        plugin, version, sha256: what ran.
        export: the function called.
        args: the arguments as given (after normalisation to stored form).
        result: the result it returned (stored form).
        time_us: the clock the plugin saw (the turn's time).
        seed: the seed of its randomness.
        grants: its grants at the time.
        effects: what it did, in order: ["put", key, value], ["del", key],
            ["append", stream, event type, data].
        log: what it logged (tlo:host/log, WASI stdout/stderr), journaled with the call:
            the first RECORDED_LOG_LINES lines, RECORDED_LOG_CHARS characters in all.
        log_dropped: how many more lines it logged that were not recorded.
    """

    seq: int
    event_index: int
    event_version: int
    plugin: str
    version: int
    sha256: str
    export: str
    args: list[Any]
    result: Any
    time_us: int
    seed: int
    grants: tuple[str, ...]
    effects: list[Any]
    log: tuple[LogLine, ...] = ()
    log_dropped: int = 0


@attrs.frozen(kw_only=True)
class Verification:
    """What `Plugins.verify` found when it re-ran a recorded call.

    Attributes:
        same: True when the re-run gave the recorded result and the same effects.
        recorded: the recorded call.
        result: the result of the re-run (None if it failed).
        error: the error of the re-run, or None.
        differences: one line per difference (result, kv writes, appended events).
        version, sha256: the plugin version the re-run used.
    """

    same: bool
    recorded: CallRecord
    result: Any
    error: str | None
    differences: tuple[str, ...]
    version: int
    sha256: str
