"""A bare-wasmtime test host for compiled Lumen plugins (and any component of the same world).

The harness runs a component the way the engine's plugin host does, minus the database: it
provides every function of the `tlo:host/*` interfaces in wasm/wit/ with in-memory fakes
(a dict for kv, a list for log lines and journal events, a fixed clock, a seeded random
source) and the `lumen:runtime/rt` interface (abort, format-f64, parse-f64), bounds each
call with fuel, and converts plain Python values to and from the export's WIT types::

    from tlo_sdk import compile_lumen
    from tlo_sdk.harness import Harness, LumenTrap

    h = Harness(compile_lumen("wasm/examples/kv_counter.lm.md"))
    h.call("count-event", "github")          # -> 1
    h.kv                                     # {'counter/github': '1'}
    h.host_calls                             # [HostCall('kv', 'get', ('counter/github',)), ...]

Values are converted by the engine's own converter (tlo_embed.plugins.convert), so a test
passes exactly what `db.plugins.call` takes and gets back what it returns:

====================  ==================================================================
WIT                   Python
====================  ==================================================================
s64, f64, bool        int (range-checked), float (an int is accepted), bool
string                str
list<T>               list (a tuple is accepted)
option<T>             None or the value
record                dict; snake_case or kebab-case keys in, snake_case keys out
enum                  the case name (``"high"``; ``"on_track"`` is accepted for ``on-track``)
variant               ``{"case": payload}`` (payload None for a case without one); a
                      payload-less case may also be passed as ``"case"``
result                ``{"ok": value}`` or ``{"err": error}``; ``ok(x)`` / ``err(x)`` build them
====================  ==================================================================

The harness enforces what the engine's host enforces on the same component: the `grant`
policy of a Lumen manifest (`key_prefix`, `max_calls`, by the engine's own code in
tlo_embed.plugins.lumen; a call outside it raises tlo_embed.PluginTrap kind "host", with the
engine's message) and, with `capabilities=`, the interfaces granted (a call of an ungranted
one raises tlo_embed.CapabilityDenied). A call that fails writes nothing: kv and journal are
put back as they were before it, as the engine discards a failed call's effects (log lines
and `host_calls` are kept). A call that traps replaces the store and instance (wasmtime
poisons the whole store after a trap), so the next call starts clean.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import wasmtime
from wasmtime import component as C

from tlo_embed.errors import CapabilityDenied, InvalidPlugin
from tlo_embed.plugins import convert
from tlo_embed.plugins.introspect import custom_sections, lumen_manifest
from tlo_embed.plugins.lumen import (
    GrantRefused,
    enforce_grants,
    format_f64,
    manifest_policy,
    parse_f64,
)
from tlo_embed.plugins.runtime import Caller, host_refused
from tlo_embed.plugins._wit import (
    HOST_FUNCTIONS,
    RUNTIME_FUNCTIONS,
    host_interface,
    runtime_interface,
)

__all__ = [
    "DEFAULT_FUEL",
    "DEFAULT_NOW_MS",
    "Harness",
    "HostCall",
    "JournalEvent",
    "LumenTrap",
    "err",
    "format_f64",
    "from_wat",
    "ok",
    "parse_f64",
    "read_custom_sections",
]

DEFAULT_FUEL: Final = 50_000_000
DEFAULT_NOW_MS: Final = 1_700_000_000_000
KEYS_LIMIT: Final = 1000


class LumenTrap(Exception):
    """The plugin aborted the call (a Lumen runtime error, `halt`, a failed `where` check).

    `message` is the text the plugin passed to `lumen:runtime/rt.abort`, for example
    ``"integer overflow in multiplication (at order_validation.lm.md:40:28)"``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HostCall(NamedTuple):
    """One call the plugin made to a `tlo:host` function: ("kv", "get", ("counter/x",))."""

    interface: str
    function: str
    args: tuple[Any, ...]


class JournalEvent(NamedTuple):
    """An event the plugin appended through `tlo:host/journal.append`."""

    stream: str
    event_type: str
    payload: str
    version: int


def ok(value: Any = None) -> dict[str, Any]:
    """A result's ok case in plain form: {"ok": value}."""
    return {"ok": value}


def err(value: Any = None) -> dict[str, Any]:
    """A result's err case in plain form: {"err": value}."""
    return {"err": value}


def read_custom_sections(binary: bytes) -> dict[str, bytes]:
    """The top-level custom sections of a component (or module) binary: name -> payload
    (read by the engine's own `introspect.custom_sections`).

    Raises:
        ValueError: `binary` is not a WebAssembly binary, or its section table is truncated.
    """
    if binary[:4] != b"\0asm":
        raise ValueError("not a WebAssembly binary (no \\0asm magic)")
    try:
        return custom_sections(binary)
    except InvalidPlugin as e:
        raise ValueError(str(e)) from e


# -- the host ---------------------------------------------------------------------------------


@dataclass
class _Pending:
    """An exception raised by a host function, re-raised after the call.

    A BaseException (KeyboardInterrupt, ...) crossing the ctypes callback would crash the
    process (research note §1), and wasmtime-py's own channel for ordinary exceptions is a
    process global that the direct caller (runtime.Caller) never reads, so every exception
    is parked here and the trap carries a plain WasmtimeError.
    """

    error: BaseException | None = None
    label: str = ""


@dataclass
class _Call:
    """What one export call needs: the function, its types and their converters."""

    func: C.Func
    params: list[tuple[str, C.ValType]]
    result: C.ValType | None
    lowers: list[convert.Conv]
    lift: convert.Conv | None
    caller: Caller


_ENGINE: list[wasmtime.Engine] = []
_COMPONENTS: dict[str, C.Component] = {}


def _engine() -> wasmtime.Engine:
    """One engine for every harness (fuel on, NaNs canonical, as the engine's plugin host)."""
    if not _ENGINE:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.cranelift_nan_canonicalization = True
        _ENGINE.append(wasmtime.Engine(config))
    return _ENGINE[0]


def _component(wasm: bytes) -> C.Component:
    """The compiled component for these bytes (cranelift runs once per distinct binary)."""
    key = hashlib.sha256(wasm).hexdigest()
    comp = _COMPONENTS.get(key)
    if comp is None:
        comp = _COMPONENTS[key] = C.Component(_engine(), wasm)
    return comp


@dataclass(eq=False, repr=False)
class Harness:
    """A component instance with in-memory fakes of every host interface.

    Args:
        plugin: a CompiledPlugin (anything with a `.wasm` attribute), the component's bytes,
            or a path to a `.wasm`, `.wat`, `.lm` or `.lm.md` file (sources are compiled
            with tlo_sdk.compile_lumen).
        kv: the initial key-value state (the dict is used, not copied).
        now_ms: what `tlo:host/clock.now-ms` returns.
        seed: the seed of `tlo:host/random.below`.
        fuel: fuel given to each call (wasmtime traps when it runs out).
        memory_limit: if given, the most linear memory (bytes) an instance may have; a
            Lumen plugin that needs more traps with "out of memory".
        capabilities: if given, only these `tlo:host` interfaces (short names such as "kv")
            are granted: the others are linked as the engine links an interface whose grant
            was revoked, so the component instantiates and a call of one of their functions
            raises tlo_embed.CapabilityDenied (the engine would refuse to install it).
        host: extra or replacement host functions, keyed ("kv", "get") -> fn(*args); they
            are recorded in `host_calls` like the built-in ones.
    """

    plugin: Any
    kv: dict[str, str] = field(default_factory=dict)
    now_ms: int = DEFAULT_NOW_MS
    seed: int = 0
    fuel: int = DEFAULT_FUEL
    memory_limit: int | None = None
    capabilities: Iterable[str] | None = None
    host: Mapping[tuple[str, str], Callable[..., Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.wasm: bytes = _load_wasm(self.plugin)
        self.engine = _engine()
        self.component = _component(self.wasm)
        self.log: list[tuple[str, str]] = []
        self.journal: list[JournalEvent] = []
        self.host_calls: list[HostCall] = []
        self.traps = 0
        self.fuel_used = 0
        self.random = random.Random(self.seed)
        self._granted = None if self.capabilities is None else set(self.capabilities)
        if self._granted is not None:
            unknown = sorted(self._granted - set(HOST_FUNCTIONS))
            if unknown:
                raise ValueError(
                    f"unknown capabilities {unknown}: the host interfaces are"
                    f" {', '.join(HOST_FUNCTIONS)}"
                )
        found = lumen_manifest(self.wasm)
        named = found.get("name") if found is not None else None
        if not isinstance(named, str) or not named:
            named = (
                Path(self.plugin).name.split(".")[0]
                if isinstance(self.plugin, (str, Path)) else "plugin"
            )
        #: The plugin's name in error messages (the engine's default install name).
        self.name: str = named
        # The Lumen grant policy, read and applied by the engine's own code.
        self._policy = manifest_policy(found)
        self._counts: dict[str, int] = {}
        self._pending = _Pending()
        self._linker = self._build_linker()
        self._store: wasmtime.Store | None = None
        self._instance: C.Instance | None = None
        self._calls: dict[str, _Call] = {}

    def __repr__(self) -> str:
        return f"<Harness of a {len(self.wasm)}-byte component exporting {self.exports}>"

    # -- introspection --

    @property
    def imports(self) -> list[str]:
        """The component's imported interfaces: ['lumen:runtime/rt@0.1.0', 'tlo:host/kv@0.1.0']."""
        return sorted(self.component.type.imports(self.engine))

    @property
    def exports(self) -> list[str]:
        """The names of the component's exported functions."""
        return sorted(
            name
            for name, item in self.component.type.exports(self.engine).items()
            if isinstance(item.ty, C.FuncType)
        )

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The `lumen:manifest` custom section as JSON data, or None if there is none."""
        raw = read_custom_sections(self.wasm).get("lumen:manifest")
        return None if raw is None else json.loads(raw.decode())

    def signature(self, export: str) -> tuple[list[tuple[str, C.ValType]], C.ValType | None]:
        """The export's parameters (kebab-case name, type) and result type."""
        call = self._lookup(export)
        return call.params, call.result

    # -- calling --

    def call(self, export: str, *args: Any, **kwargs: Any) -> Any:
        """Call an exported function with harness values; returns the result in harness form.

        `export` is the component name ("count-event"; "count_event" works too). Keyword
        arguments name parameters in kebab-case or snake_case.

        Raises:
            LumenTrap: the plugin aborted (its message is the trap text).
            tlo_embed.PluginTrap: kind "host": a host function call outside the Lumen
                manifest's grants (the engine's error and message).
            tlo_embed.CapabilityDenied: the plugin called an interface left out of
                `capabilities`.
            wasmtime.WasmtimeError: a wasmtime trap (fuel exhausted, unreachable, ...).
            TypeError / ValueError: an argument does not fit the parameter type (no call made).
            Any exception a custom host function raised.
        """
        call = self._lookup(export)
        values = self._bind(export, call.params, args, kwargs)
        wasm_args = []
        for (name, _), conv, value in zip(call.params, call.lowers, values):
            try:
                wasm_args.append(conv.lower(value))
            except convert.ValueMismatch as e:
                where = e.path(name.replace("-", "_"))
                raise TypeError(f"{export}: argument {where}: {e.message}") from None
        store = self._ensure_store()
        store.set_fuel(self.fuel)
        self._counts.clear()
        kv_before = dict(self.kv)
        journal_before = len(self.journal)
        try:
            # The engine's own caller: values cross as C values built by the converters, so
            # a variant case is the one named (wasmtime-py would pick an untagged case by
            # isinstance, and a bool is an int).
            result = call.caller(store, wasm_args)
        except BaseException as e:
            self.traps += 1
            self._drop_instance()
            # The engine keeps nothing a failed call wrote.
            self.kv.clear()
            self.kv.update(kv_before)
            del self.journal[journal_before:]
            if self._pending.error is not None:
                error, self._pending.error = self._pending.error, None
                if isinstance(error, GrantRefused):
                    raise host_refused(
                        self.name, export, self._pending.label, error, str(e)
                    ) from error
                raise error from None
            raise
        finally:
            self.fuel_used = self.fuel - store.get_fuel()
        return result

    def reset(self) -> None:
        """Throw the store and instance away; the next call instantiates afresh."""
        self._drop_instance()

    # -- internals --

    def _bind(
        self, export: str, params: list[tuple[str, C.ValType]], args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> list[Any]:
        names = [name for name, _ in params]
        given = {k.replace("_", "-"): v for k, v in kwargs.items()}
        if len(args) > len(names):
            raise TypeError(f"{export} takes {len(names)} arguments, got {len(args)}")
        values = list(args)
        for name in names[len(args):]:
            if name not in given:
                raise TypeError(f"{export}: missing argument {name!r}")
            values.append(given.pop(name))
        if given:
            raise TypeError(f"{export}: unexpected argument(s) {sorted(given)}")
        return values

    def _lookup(self, export: str) -> _Call:
        if export in self._calls and self._instance is not None:
            return self._calls[export]
        store = self._ensure_store()
        assert self._instance is not None
        func = self._instance.get_func(store, export)
        if func is None and "_" in export:
            func = self._instance.get_func(store, export.replace("_", "-"))
        if func is None:
            msg = f"the component exports no function {export!r}; it has {self.exports}"
            raise LookupError(msg)
        ftype = func.type(store)
        params = list(ftype.params)
        result = ftype.result
        lowers = [convert.build(ty) for _, ty in params]
        lift = None if result is None else convert.build(result)
        call = _Call(func, params, result, lowers, lift, Caller(func, lowers, lift))
        self._calls[export] = call
        return call

    def _ensure_store(self) -> wasmtime.Store:
        if self._store is None or self._instance is None:
            store = wasmtime.Store(self.engine)
            store.set_fuel(self.fuel)
            if self.memory_limit is not None:
                store.set_limits(memory_size=self.memory_limit)
            self._instance = self._linker.instantiate(store, self.component)
            self._store = store
            self._calls = {}
        return self._store

    def _drop_instance(self) -> None:
        self._store = None
        self._instance = None
        self._calls = {}

    def _build_linker(self) -> C.Linker:
        builtin = self._builtin_host()
        self.provided: set[tuple[str, str]] = set()
        linker = C.Linker(self.engine)
        with linker.root() as root:
            for iface, functions in HOST_FUNCTIONS.items():
                with root.add_instance(host_interface(iface)) as inst:
                    if self._granted is not None and iface not in self._granted:
                        for fname in functions:
                            inst.add_func(fname, self._guard(self._denied(iface, fname)))
                        continue
                    for fname in functions:
                        # builtin fakes every host function (test_harness checks it)
                        impl = self.host.get((iface, fname)) or builtin[(iface, fname)]
                        inst.add_func(fname, self._guard(self._recorded(iface, fname, impl)))
                        self.provided.add((iface, fname))
            for iface, functions in RUNTIME_FUNCTIONS.items():
                with root.add_instance(runtime_interface(iface)) as inst:
                    for fname in functions:
                        inst.add_func(fname, self._guard(RUNTIME_FAKES[fname]))
        return linker

    def _recorded(self, iface: str, fname: str, impl: Callable[..., Any]) -> Callable[..., Any]:
        label = f"{iface}.{fname}"

        def host_function(*args: Any) -> Any:
            self.host_calls.append(HostCall(iface, fname, args))
            if self._policy:
                try:
                    enforce_grants(self._policy, self._counts, label, args)
                except GrantRefused:
                    if self._pending.error is None:
                        self._pending.label = label
                    raise
            return impl(*args)

        return host_function

    def _denied(self, iface: str, fname: str) -> Callable[..., Any]:
        """A function of an interface left out of `capabilities`: refused as the engine
        refuses a call of a revoked interface."""
        name = f"{host_interface(iface)}#{fname}"

        def host_function(*args: Any) -> Any:
            self.host_calls.append(HostCall(iface, fname, args))
            granted = sorted(self._granted or ())
            raise CapabilityDenied(
                f"plugin {self.name!r} called {name} but is not granted {iface!r} (the"
                f" harness grants capabilities={granted!r}; the engine would refuse to"
                f" install it without {iface!r})",
                plugin=self.name, import_name=name, capability=iface,
            )

        return host_function

    def _guard(self, impl: Callable[..., Any]) -> Callable[..., Any]:
        pending = self._pending

        def host_function(store: Any, *args: Any) -> Any:
            try:
                return impl(*args)
            except BaseException as e:  # see _Pending
                if pending.error is None:
                    pending.error = e
                raise wasmtime.WasmtimeError(
                    f"host function raised {type(e).__name__}"
                ) from None

        return host_function

    def _builtin_host(self) -> dict[tuple[str, str], Callable[..., Any]]:
        def kv_put(key: str, value: str) -> None:
            self.kv[key] = value

        def kv_delete(key: str) -> bool:
            return self.kv.pop(key, None) is not None

        def journal_append(stream: str, event_type: str, payload: str) -> int:
            version = 1 + sum(1 for e in self.journal if e.stream == stream)
            self.journal.append(JournalEvent(stream, event_type, payload, version))
            return version

        def journal_read(stream: str, after: int, limit: int) -> list[tuple[int, str, str]]:
            events = [e for e in self.journal if e.stream == stream and e.version > after]
            return [(e.version, e.event_type, e.payload) for e in events[:limit]]

        def random_below(bound: int) -> int:
            if bound <= 0:
                raise ValueError(f"random.below: bound must be positive, got {bound}")
            return self.random.randrange(bound)

        return {
            ("log", "info"): lambda message: self.log.append(("info", message)),
            ("log", "warn"): lambda message: self.log.append(("warn", message)),
            ("log", "error"): lambda message: self.log.append(("error", message)),
            ("kv", "get"): lambda key: self.kv.get(key),
            ("kv", "put"): kv_put,
            ("kv", "delete"): kv_delete,
            ("kv", "keys"): lambda prefix: sorted(k for k in self.kv if k.startswith(prefix))[
                :KEYS_LIMIT
            ],
            ("journal", "append"): journal_append,
            ("journal", "read"): journal_read,
            ("clock", "now-ms"): lambda: self.now_ms,
            ("random", "below"): random_below,
        }


def _abort(message: str) -> None:
    raise LumenTrap(message)


#: lumen:runtime/rt as the harness provides it (every function of RUNTIME_FUNCTIONS["rt"]).
RUNTIME_FAKES: Final[dict[str, Callable[..., Any]]] = {
    "abort": _abort, "format-f64": format_f64, "parse-f64": parse_f64,
}


def _load_wasm(plugin: Any) -> bytes:
    if isinstance(plugin, (bytes, bytearray)):
        return bytes(plugin)
    wasm = getattr(plugin, "wasm", None)
    if isinstance(wasm, (bytes, bytearray)):
        return bytes(wasm)
    if isinstance(plugin, (str, Path)):
        path = Path(plugin)
        if path.name.endswith((".lm", ".lm.md", ".lumen", ".lumen.md")):
            from tlo_sdk import compile_lumen

            return bytes(compile_lumen(str(path)).wasm)
        if path.suffix == ".wat":
            return bytes(wasmtime.wat2wasm(path.read_text(encoding="utf-8")))
        return path.read_bytes()
    raise TypeError(
        f"cannot load a component from {type(plugin).__name__}: pass a CompiledPlugin,"
        " wasm bytes or a path"
    )


def from_wat(text: str, **options: Any) -> Harness:
    """A Harness for a component written in WAT text (for tests of hand-written components)."""
    return Harness(bytes(wasmtime.wat2wasm(text)), **options)
