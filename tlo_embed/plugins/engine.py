"""The process's one wasmtime `Engine`, its epoch ticker, and compiled components.

One Engine serves every plugin of every open file in the process: fuel metering (a bound on
work per call), epoch interruption (a wall-clock deadline per call, advanced by ONE daemon
thread per process) and NaN canonicalisation (bit-for-bit replay of float code). A component
compiled by it is stored in the file as a precompiled artifact keyed by `engine_key()`, so the
next process deserializes it instead of compiling it again.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from importlib import metadata
from typing import Any, Final

import wasmtime
from wasmtime import component as wasm_component

from tlo_embed.errors import InvalidPlugin, caused_by

#: Seconds between epoch ticks: the granularity of call timeouts.
TICK: Final = 0.005

_lock: Final = threading.Lock()
_state: Final[dict[str, Any]] = {}
_components: Final[dict[str, Any]] = {}
#: Incremented in a child process after fork(): what the parent compiled belongs to the
#: parent's Engine (and its epoch ticker thread did not survive the fork).
_forks: Final[list[int]] = [0]
_fork_hook: Final[list[bool]] = []


def _after_fork_in_child() -> None:
    _forks[0] += 1
    _state.clear()
    _components.clear()
    _parked[0] = False


def fork_epoch() -> int:
    """How many forks separate this process from the one that imported this module."""
    return _forks[0]


def engine() -> Any:
    """The process's Engine (created on first use; again in a child after fork)."""
    found = _state.get("engine")
    if found is not None and _state.get("pid") == os.getpid():
        return found
    with _lock:
        found = _state.get("engine")
        if found is not None and _state.get("pid") == os.getpid():
            return found
        if not _fork_hook:
            _fork_hook.append(True)
            os.register_at_fork(after_in_child=_after_fork_in_child)
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.cranelift_nan_canonicalization = True
        made = wasmtime.Engine(config)
        _components.clear()  # components belong to the engine they were compiled with
        _state["engine"] = made
        _state["pid"] = os.getpid()
        _state.pop("ticker", None)
        return made


def engine_key() -> str:
    """What a precompiled artifact depends on: wasmtime's version, the machine, the config.

    wasmtime itself refuses to load an artifact made by another version or configuration;
    the key only keeps one artifact per combination, so a file used by two installations
    does not recompile back and forth.
    """
    key = _state.get("key")
    if isinstance(key, str):
        return key
    made = f"wasmtime {wasmtime_version()}; {platform.machine()}; fuel+epoch+nan-canonical"
    _state["key"] = made
    return made


def wasmtime_version() -> str:
    """The installed wasmtime's version (read once per process).

    It comes from the name of the `wasmtime-<version>.dist-info` directory beside the
    package: one directory listing, where `importlib.metadata.version` searches every
    `sys.path` entry and parses the metadata (2-29 ms measured on a new process). Without
    exactly one such directory (an unusual install) it falls back to importlib.metadata.
    """
    found = _state.get("wasmtime_version")
    if isinstance(found, str):
        return found
    version = ""
    prefix, suffix = "wasmtime-", ".dist-info"
    try:
        names = [
            name for name in os.listdir(os.path.dirname(os.path.dirname(wasmtime.__file__)))
            if name.startswith(prefix) and name.endswith(suffix)
        ]
        if len(names) == 1:
            version = names[0][len(prefix):-len(suffix)]
    except (OSError, TypeError):
        version = ""
    if not version:
        try:
            version = metadata.version("wasmtime")
        except metadata.PackageNotFoundError:
            version = "unknown"
    _state["wasmtime_version"] = version
    return version


#: Until when (time.monotonic()) the ticker must keep ticking: past every running call's
#: deadline. Once it passes, the ticker parks until the next call wakes it.
_until: Final[list[float]] = [0.0]
_parked: Final[list[bool]] = [False]
_wake: Final = threading.Event()


def _tick(made: Any, stop: threading.Event) -> None:
    while not stop.wait(TICK):
        made.increment_epoch()
        if time.monotonic() > _until[0]:
            with _lock:
                _parked[0] = True
                _wake.clear()
                idle = time.monotonic() > _until[0]
                if not idle:
                    _parked[0] = False
            if idle:
                _wake.wait()


def keep_ticking(timeout: float) -> None:
    """Make sure epochs advance for a call with this timeout (starts or wakes the ticker)."""
    if "ticker" not in _state or _state.get("pid") != os.getpid():
        _start_ticker()
    with _lock:
        until = time.monotonic() + timeout + 1.0
        if until > _until[0]:
            _until[0] = until
        if _parked[0]:
            _parked[0] = False
            _wake.set()


def _start_ticker() -> None:
    made = engine()
    with _lock:
        if "ticker" in _state:
            return
        stop = threading.Event()
        thread = threading.Thread(
            target=_tick, args=(made, stop), name="tlo-plugin-epoch", daemon=True
        )
        _state["ticker"] = stop
        _parked[0] = False
        thread.start()


def deadline_ticks(timeout: float) -> int:
    """Epoch ticks that cover `timeout` seconds (plus one for the tick in progress)."""
    return max(1, int(timeout / TICK + 0.999999)) + 1


def compile_component(wasm: bytes) -> Any:
    """Compile and validate `wasm` as a component.

    Raises:
        InvalidPlugin: not a valid component (a core module, bad bytes, unsupported features).
    """
    if wasm[:4] != b"\0asm":
        msg = "not a WebAssembly binary (no \\0asm header); install a component (.wasm)"
        raise InvalidPlugin(msg)
    # A core module has layer 0 and version 1; a component has layer 1 (bytes 6-7).
    if len(wasm) >= 8 and wasm[6:8] == b"\0\0":
        msg = (
            "this is a core WebAssembly module, not a component: wrap it as a component"
            " (for example with `wasm-tools component new`)"
        )
        raise InvalidPlugin(msg)
    try:
        return wasm_component.Component(engine(), wasm)
    except wasmtime.WasmtimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid"
        raise caused_by(InvalidPlugin(f"wasmtime refused the component: {first}"), e)


def serialize(comp: Any) -> bytes:
    """The precompiled artifact of a compiled component."""
    return bytes(comp.serialize())  # wasmtime gives a bytearray


def cached(sha256: str) -> Any | None:
    """The compiled component for `sha256` if this process has it."""
    return _components.get(sha256)


def remember(sha256: str, comp: Any) -> None:
    """Keep a compiled component for later calls of the same content."""
    _components[sha256] = comp


def deserialize(artifact: bytes) -> Any | None:
    """A component from a precompiled artifact, or None if this engine cannot load it."""
    try:
        return wasm_component.Component.deserialize(engine(), artifact)
    except wasmtime.WasmtimeError:
        return None


def forget() -> None:
    """Drop every compiled component of this process (the next load deserializes again)."""
    _components.clear()
