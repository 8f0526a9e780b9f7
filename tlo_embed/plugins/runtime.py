"""Running exports: the per-call context, the host functions, linkers and warm instances.

Host functions do not know which Store they run for (one Linker serves many stores), so each
reads the call's `CallContext` from a thread-local set around the call: wasm calls host
functions on the calling thread. Host functions are linked through one ctypes trampoline of
our own (`_trampoline`), which converts their values like export calls do and never lets an
exception through to wasmtime: it records the error (any `BaseException`, so Ctrl-C cannot
crash the process through ctypes) in the context and hands wasmtime an error, which traps
that call without touching wasmtime-py's process-global `LAST_EXCEPTION` (which races between
threads). The caller then raises the typed error it finds in its own context.

Writes (kv puts and deletes, journal appends) are buffered in the context while the call runs
and become events only after it returned: a call that traps has written nothing.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import random
import tempfile
import threading
from collections.abc import Callable
from typing import Any, Final, final

import wasmtime
from wasmtime import component as wc

from tlo_embed.errors import CapabilityDenied, PluginTrap, TloError, caused_by
from tlo_embed.journal.append import stream_version
from tlo_embed.journal.core import Journal
from tlo_embed.plugins import engine as eng
from tlo_embed.plugins import convert
from tlo_embed.plugins._wit import HOST_FUNCTIONS, RUNTIME_FUNCTIONS
from tlo_embed.plugins.introspect import ImportPlan
from tlo_embed.plugins.lumen import (
    Policy,
    enforce_grants,
    format_f64,
    manifest_policy,
    parse_f64,
)
from tlo_embed.plugins.model import PluginInfo, plugin_stream
from tlo_embed.store import sql

#: The WASI version wasmtime's add_wasip2 registers (wasmtime 50); shadowing must use it.
WASI_VERSION: Final = "0.2.12"

MAX_KEY: Final = 512
MAX_VALUE: Final = 1 << 20
MAX_KEYS: Final = 1000
MAX_READ: Final = 1000
MAX_LOG_MESSAGE: Final = 8192
MAX_LOG_LINES_PER_CALL: Final = 1000
MAX_RANDOM_BYTES: Final = 1 << 20
MAX_EFFECTS: Final = 10_000
#: The most WASI stdout (and stderr) one call's log keeps; the rest is dropped.
MAX_OUTPUT: Final = 1 << 20

_current: Final[Any] = threading.local()


class HostFault(Exception):
    """A host function refused its arguments; the call traps with kind "host"."""


class _Abort(Exception):
    """lumen:runtime/rt.abort: the plugin stopped itself with a message."""


@final
class CallContext:
    """Everything a host function may see and do during one export call.

    Args:
        journal: the file's journal (reads go through this thread's connection, which is
            the open turn's connection when the call runs inside a turn).
        info: the plugin as installed.
        export: the export being called.
        branch: the branch the call reads and writes.
        time_us: the clock the plugin sees (the turn's time).
        seed: the seed of everything random the plugin sees.
        track_reads: record the version of each stream read (calls run outside a turn are
            validated against them before their effects commit).
        kv_snapshot: when given (replays), kv reads come from it instead of the file.
        history_before: (seq, index) of the first event journal reads and stream versions
            must not see (replays: where the recorded call's own effects begin).
    """

    def __init__(
        self,
        *,
        journal: Journal,
        info: PluginInfo,
        export: str,
        branch: str,
        time_us: int,
        seed: int,
        track_reads: bool,
        kv_snapshot: dict[str, str] | None = None,
        history_before: tuple[int, int] | None = None,
    ) -> None:
        self.journal = journal
        self.info = info
        self.plugin = info.name
        self.export = export
        self.branch = branch
        self.grants: frozenset[str] = frozenset(info.grants)
        self.stream = plugin_stream(info.name)
        self.time_us = time_us
        self.seed = seed
        self.track_reads = track_reads
        self.kv_snapshot = kv_snapshot
        self.history_before = history_before
        self._rng: random.Random | None = None
        self._wasi_rng: random.Random | None = None
        self.wall_ns = time_us * 1000
        self.mono_ns = 0
        self.overlay: dict[str, str | None] = {}
        self.effects: list[list[Any]] = []
        self.reads: dict[str, int] = {}
        self.appended: dict[str, list[tuple[int, str, Any]]] = {}
        self.lines: list[tuple[str, str]] = []
        self.error: BaseException | None = None
        self.error_label = ""
        self.fresh = False  # the call ran on an instance made for it
        self.policy: dict[str, Policy] = {}
        self.counts: dict[str, int] = {}

    # -- bookkeeping -------------------------------------------------------------------------

    @property
    def rng(self) -> random.Random:
        """The call's random generator, seeded from the turn."""
        found = self._rng
        if found is None:
            found = random.Random(self.seed)
            self._rng = found
        return found

    @property
    def wasi_rng(self) -> random.Random:
        """The generator behind WASI random: a stream of its own, so a guest runtime's hidden
        use of WASI randomness never shifts what `random.below` returns."""
        found = self._wasi_rng
        if found is None:
            found = random.Random(self.seed ^ 0x5A5A_5A5A_5A5A_5A5A)
            self._wasi_rng = found
        return found

    def setup(self) -> CallContext:
        """A context for instantiating a new instance: what the guest's start-up code reads
        (clock, WASI random) must not depend on whether the instance was new or reused, so
        it comes from a context of its own, seeded by the component's content."""
        info = self.info
        return CallContext(
            journal=self.journal, info=info, export="(instantiate)", branch=self.branch,
            time_us=self.time_us, seed=int(info.sha256[:15] or "0", 16), track_reads=False,
            kv_snapshot=self.kv_snapshot, history_before=self.history_before,
        )

    @property
    def wrote(self) -> bool:
        """True when the call changed something (kv or journal)."""
        return bool(self.effects)

    def failed(self, label: str, error: BaseException) -> wasmtime.WasmtimeError:
        """Record a host function's error (the first one wins) and return the trap to raise."""
        if self.error is None:
            self.error = error
            self.error_label = label
        return wasmtime.WasmtimeError(f"tlo host function {label} failed")

    def _version(self, stream: str) -> int:
        """The stream's version as this call sees it (recorded for validation)."""
        if self.kv_snapshot is not None and stream == self.stream:
            return 0
        bound = self.history_before
        if bound is not None:
            for event in self.journal.read(
                self.branch, stream, backward=True, from_version=0, to_seq=bound[0]
            ):
                if (event.seq, event.index) < bound:
                    return event.version
            return 0
        version = stream_version(self.journal.store.connection(), self.branch, stream)
        if self.track_reads and stream not in self.reads:
            self.reads[stream] = version
        return version

    def _effect(self, effect: list[Any]) -> None:
        if len(self.effects) >= MAX_EFFECTS:
            raise HostFault(f"a call may make at most {MAX_EFFECTS} kv writes and appends")
        self.effects.append(effect)

    def enforce(self, label: str, args: tuple[Any, ...]) -> None:
        """Apply the Lumen manifest's grants for host function `label` (e.g. "kv.put").

        Raises:
            GrantRefused: the call is outside them (the call traps, kind "host").
        """
        enforce_grants(self.policy, self.counts, label, args)

    # -- kv ----------------------------------------------------------------------------------

    def kv_get(self, key: str) -> str | None:
        if key in self.overlay:
            return self.overlay[key]
        snapshot = self.kv_snapshot
        if snapshot is not None:
            return snapshot.get(key)
        if self.track_reads and self.stream not in self.reads:
            self._version(self.stream)
        found = sql.value(
            self.journal.store.connection(),
            "SELECT value FROM plugin_kv WHERE branch = ? AND plugin = ? AND key = ?",
            (self.branch, self.plugin, key),
        )
        return None if found is None else str(found)

    def kv_put(self, key: str, value: str) -> None:
        _check_key(key)
        if len(value) > MAX_VALUE:
            raise HostFault(f"a kv value may hold at most {MAX_VALUE} characters")
        self._effect(["put", key, value])
        self.overlay[key] = value

    def kv_delete(self, key: str) -> bool:
        _check_key(key)
        existed = self.kv_get(key) is not None
        if existed:
            self._effect(["del", key])
            self.overlay[key] = None
        return existed

    def kv_keys(self, prefix: str) -> list[str]:
        found: set[str] = set()
        snapshot = self.kv_snapshot
        if snapshot is not None:
            found.update(k for k in snapshot if k.startswith(prefix))
        else:
            if self.track_reads and self.stream not in self.reads:
                self._version(self.stream)
            for (key,) in sql.rows(
                self.journal.store.connection(),
                # Branch/plugin through sql.TEXT_PARAM: bare, SQLite re-prepared it every call.
                f"SELECT key FROM plugin_kv WHERE branch = {sql.TEXT_PARAM}"
                f" AND plugin = {sql.TEXT_PARAM} AND substr(key, 1, ?) = ? ORDER BY key",
                (self.branch, self.plugin, len(prefix), prefix),
            ):
                found.add(str(key))
        for key, value in self.overlay.items():
            if key.startswith(prefix):
                if value is None:
                    found.discard(key)
                else:
                    found.add(key)
        return sorted(found)[:MAX_KEYS]

    # -- journal -----------------------------------------------------------------------------

    def journal_append(self, stream: str, event_type: str, payload: str) -> int:
        _check_user_stream(stream)
        if not event_type:
            raise HostFault("journal.append needs a non-empty event type")
        try:
            data = json.loads(payload)
        except ValueError as e:
            raise HostFault(f"journal.append: the payload is not JSON ({e})") from None
        pending = self.appended.setdefault(stream, [])
        if pending:
            version = pending[-1][0] + 1
        else:
            version = self._version(stream) + 1
        self._effect(["append", stream, event_type, data])
        pending.append((version, event_type, data))
        return version

    def journal_read(self, stream: str, after: int, limit: int) -> list[tuple[int, str, str]]:
        _check_user_stream(stream)
        limit = min(limit, MAX_READ)
        out: list[tuple[int, str, str]] = []
        if limit <= 0:
            return out
        if self.track_reads:
            self._version(stream)
        bound = self.history_before
        for event in self.journal.read(
            self.branch, stream, from_version=max(after, 0) + 1, limit=limit,
            to_seq=bound[0] if bound is not None else 2**62,
        ):
            if bound is not None and (event.seq, event.index) >= bound:
                break
            out.append((event.version, event.type, to_json(event.data)))
        for version, event_type, data in self.appended.get(stream, []):
            if version > after and len(out) < limit:
                out.append((version, event_type, to_json(data)))
        return out

    # -- log, clock, random ------------------------------------------------------------------

    def log(self, level: str, message: str) -> None:
        if len(self.lines) < MAX_LOG_LINES_PER_CALL:
            self.lines.append((level, message[:MAX_LOG_MESSAGE]))

    def wall_now(self) -> wc.Record:
        self.wall_ns += 1000
        record = wc.Record()
        seconds, nanos = divmod(self.wall_ns, 1_000_000_000)
        setattr(record, "seconds", seconds)
        setattr(record, "nanoseconds", nanos)
        return record

    def mono_now(self) -> int:
        self.mono_ns += 1000
        return self.mono_ns

    def random_bytes(self, n: int) -> bytes:
        if n > MAX_RANDOM_BYTES:
            raise HostFault(f"at most {MAX_RANDOM_BYTES} random bytes per request, asked {n}")
        return self.wasi_rng.randbytes(n)

    def below(self, bound: int) -> int:
        if bound <= 0:
            raise HostFault(f"random.below needs a positive bound, got {bound}")
        return self.rng.randrange(bound)


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY:
        raise HostFault(f"a kv key must have 1-{MAX_KEY} characters, got {len(key)}")


def _check_user_stream(stream: str) -> None:
    if not stream:
        raise HostFault("the stream name is empty")
    if stream.startswith("$"):
        raise HostFault(f"stream {stream!r} is the engine's own ($-prefixed): plugins cannot use it")


def _json_default(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def to_json(data: object) -> str:
    """Event data as JSON text for a plugin (bytes as hex strings)."""
    return json.dumps(data, default=_json_default, ensure_ascii=False, separators=(",", ":"))


# -- host function implementations ---------------------------------------------------------------

HostImpl = Callable[[CallContext, tuple[Any, ...]], Any]


def _log_info(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    ctx.log("info", a[0])


def _log_warn(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    ctx.log("warn", a[0])


def _log_error(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    ctx.log("error", a[0])


def _kv_get(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.kv_get(a[0])


def _kv_put(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    ctx.kv_put(a[0], a[1])


def _kv_delete(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.kv_delete(a[0])


def _kv_keys(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.kv_keys(a[0])


def _journal_append(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.journal_append(a[0], a[1], a[2])


def _journal_read(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.journal_read(a[0], a[1], a[2])


def _clock_now_ms(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.time_us // 1000


def _random_below(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.below(a[0])


def _rt_abort(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    raise _Abort(str(a[0]))


def _rt_format(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return format_f64(a[0])


def _rt_parse(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return parse_f64(a[0])


#: The implementation of each function of wasm/wit/ (keyed like _wit.HOST_FUNCTIONS and
#: RUNTIME_FUNCTIONS; tests/plugins check that both cover exactly the same functions).
HOST_IMPLS: Final[dict[tuple[str, str], HostImpl]] = {
    ("log", "info"): _log_info,
    ("log", "warn"): _log_warn,
    ("log", "error"): _log_error,
    ("kv", "get"): _kv_get,
    ("kv", "put"): _kv_put,
    ("kv", "delete"): _kv_delete,
    ("kv", "keys"): _kv_keys,
    ("journal", "append"): _journal_append,
    ("journal", "read"): _journal_read,
    ("clock", "now-ms"): _clock_now_ms,
    ("random", "below"): _random_below,
}
RUNTIME_IMPLS: Final[dict[tuple[str, str], HostImpl]] = {
    ("rt", "abort"): _rt_abort,
    ("rt", "format-f64"): _rt_format,
    ("rt", "parse-f64"): _rt_parse,
}


def _wasi_wall(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.wall_now()


def _wasi_mono(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.mono_now()


def _wasi_bytes(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.random_bytes(a[0])


def _wasi_u64(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return ctx.wasi_rng.getrandbits(64)


def _wasi_seed(ctx: CallContext, a: tuple[Any, ...]) -> Any:
    return (ctx.wasi_rng.getrandbits(64), ctx.wasi_rng.getrandbits(64))


#: WASI functions replaced by turn-derived values: (interface, function) -> implementation.
WASI_SHADOWS: Final[dict[tuple[str, str], HostImpl]] = {
    ("wasi:clocks/wall-clock", "now"): _wasi_wall,
    ("wasi:clocks/monotonic-clock", "now"): _wasi_mono,
    ("wasi:random/random", "get-random-bytes"): _wasi_bytes,
    ("wasi:random/random", "get-random-u64"): _wasi_u64,
    ("wasi:random/insecure", "get-insecure-random-bytes"): _wasi_bytes,
    ("wasi:random/insecure", "get-insecure-random-u64"): _wasi_u64,
    ("wasi:random/insecure-seed", "insecure-seed"): _wasi_seed,
}


HostCall = Callable[[tuple[Any, ...]], Any]


def _host_func(label: str, impl: HostImpl) -> HostCall:
    """Wrap an implementation as a host function (see the module docstring)."""

    def call(args: tuple[Any, ...]) -> Any:
        ctx = getattr(_current, "ctx", None)
        if not isinstance(ctx, CallContext):
            raise wasmtime.WasmtimeError(f"{label} was called outside a plugin call")
        try:
            if ctx.policy:
                ctx.enforce(label, args)
            return impl(ctx, args)
        except BaseException as e:  # noqa: BLE001 - recorded, re-raised by the caller
            raise ctx.failed(label, e) from None

    return call


def _deny_func(plugin_import: str, capability: str, fname: str) -> HostCall:
    label = f"{plugin_import}#{fname}"

    def call(args: tuple[Any, ...]) -> Any:
        ctx = getattr(_current, "ctx", None)
        if not isinstance(ctx, CallContext):
            raise wasmtime.WasmtimeError(f"{label} was called outside a plugin call")
        msg = (
            f"plugin {ctx.plugin!r} called {label} but is not granted {capability!r}"
            f" (grant it with plugins.grant({ctx.plugin!r}, {capability!r}))"
        )
        denied = CapabilityDenied(
            msg, plugin=ctx.plugin, import_name=label, capability=capability
        )
        raise ctx.failed(label, denied) from None

    return call


# -- the host-call trampoline ---------------------------------------------------------------------


@final
class HostEntry:
    """One linked host function: its implementation and, from its first call on, the
    converters of its parameters and result. A Linker here serves one component, so the
    function type wasmtime passes is the same on every call."""

    def __init__(self, label: str, call: HostCall) -> None:
        self.label = label
        self.call = call
        self.ready = False
        self.params: list[convert.Conv] = []
        self.result: convert.Conv | None = None


_entries: Final[dict[int, HostEntry]] = {}
_entries_lock: Final = threading.Lock()
_entry_ids: Final[list[int]] = [0]
#: The C function pointers (trampoline, finalizer), made on first use and kept for the
#: process's lifetime (wasmtime holds them).
_callbacks: Final[list[Any]] = []


def _trampoline(
    data: Any, context: Any, ty: Any, args: Any, nargs: int, results: Any, nresults: int
) -> int:
    """wasmtime's callback for every host function linked by `add_host_func`.

    wasmtime-py's own callback asks wasmtime for the function type and rebuilds every
    parameter type on each call, and converts values by its own rules; this reads the
    arguments with converters built once, and writes the result with the same converters
    as export calls (so a variant result reaches the guest as the case returned). Nothing
    escapes: any error, Ctrl-C included, is recorded in the call's context (when there is
    one) and returned to wasmtime as an error, which traps the guest's call.
    """
    entry: HostEntry | None = None
    try:
        entry = _entries.get(data or 0)
        if entry is None:
            raise wasmtime.WasmtimeError("an unknown host function was called")
        if not entry.ready:
            fty = wc.FuncType._from_ptr(ty, owner=entry)  # borrowed: never deleted here
            entry.params = [convert.build(pty) for _, pty in fty.params]
            result_ty = fty.result
            entry.result = None if result_ty is None else convert.build(result_ty)
            entry.ready = True
        params = entry.params
        if nargs != len(params) or nresults != (0 if entry.result is None else 1):
            raise wasmtime.WasmtimeError(f"{entry.label} was called with an unexpected type")
        values: list[Any] = []
        for i in range(nargs):
            values.append(params[i].from_c(args[i]))
        out = entry.call(tuple(values))
        result = entry.result
        if result is not None:
            result.to_c(result.lower(out), results)
        return 0
    except BaseException as e:  # noqa: BLE001 - nothing may cross the ctypes callback
        return _error_pointer(entry, e)


def _error_pointer(entry: HostEntry | None, error: BaseException) -> int:
    """The `wasmtime_error_t*` to hand back for a failed host call (0 only if even making
    the error failed)."""
    try:
        if isinstance(error, wasmtime.WasmtimeError):
            found = error
        else:
            label = entry.label if entry is not None else "a host function"
            ctx = getattr(_current, "ctx", None)
            if isinstance(ctx, CallContext):
                found = ctx.failed(label, error)
            else:
                found = wasmtime.WasmtimeError(f"{label} failed: {type(error).__name__}")
        address = ctypes.cast(found._consume(), ctypes.c_void_p).value
        return int(address or 0)
    except BaseException:  # noqa: BLE001 - see above
        return 0


def _finalize(data: Any) -> None:
    try:
        _entries.pop(data or 0, None)
    except BaseException:  # noqa: BLE001 - nothing may cross the ctypes callback
        pass


def _c_callbacks() -> list[Any]:
    if not _callbacks:
        with _entries_lock:
            if not _callbacks:
                trampoline = convert.FFI.wasmtime_component_func_callback_t(_trampoline)
                finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_finalize)
                _callbacks.extend([trampoline, finalizer])
    return _callbacks


def add_host_func(instance: Any, name: str, label: str, call: HostCall) -> None:
    """Define host function `name` in a LinkerInstance, called through `_trampoline`."""
    trampoline, finalizer = _c_callbacks()
    instance._assert_not_locked()
    with _entries_lock:
        _entry_ids[0] += 1
        idx = _entry_ids[0]
    _entries[idx] = HostEntry(label, call)
    encoded = name.encode("utf-8")
    error = convert.FFI.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(encoded), len(encoded), trampoline, idx,
        finalizer,
    )
    if error:
        _entries.pop(idx, None)
        raise wasmtime.WasmtimeError._from_ptr(error)


def build_linker(plans: list[ImportPlan], grants: tuple[str, ...]) -> Any:
    """A Linker providing exactly what a component imports.

    Granted tlo:host interfaces get the real host functions, ungranted ones (only possible
    after a revoke: install refuses them) get stubs that refuse each call with
    CapabilityDenied, so the plugin still instantiates and its other exports keep working.
    WASI comes from wasmtime, with clocks and random shadowed by turn-derived values.
    """
    linker = wc.Linker(eng.engine())
    uses_wasi = any(plan.kind == "wasi" for plan in plans)
    if uses_wasi:
        linker.add_wasip2()
        linker.allow_shadowing = True
    with linker.root() as root:
        for plan in plans:
            if plan.kind == "wasi":
                continue
            with root.add_instance(plan.name) as instance:
                for fname in plan.functions:
                    if plan.kind == "runtime":
                        impl = RUNTIME_IMPLS[(plan.interface, fname)]
                        label = f"rt.{fname}"
                        add_host_func(instance, fname, label, _host_func(label, impl))
                    elif plan.interface in grants:
                        impl = HOST_IMPLS[(plan.interface, fname)]
                        label = f"{plan.interface}.{fname}"
                        add_host_func(instance, fname, label, _host_func(label, impl))
                    else:
                        denied = _deny_func(plan.name, plan.interface, fname)
                        add_host_func(instance, fname, f"{plan.name}#{fname}", denied)
        if uses_wasi:
            shadowed: dict[str, list[tuple[str, HostImpl]]] = {}
            for (interface, fname), impl in WASI_SHADOWS.items():
                shadowed.setdefault(interface, []).append((fname, impl))
            for interface, funcs in shadowed.items():
                with root.add_instance(f"{interface}@{WASI_VERSION}") as instance:
                    for fname, impl in funcs:
                        label = f"{interface}#{fname}"
                        add_host_func(instance, fname, label, _host_func(label, impl))
    return linker


# -- loaded plugins, exports and warm instances ---------------------------------------------------


@final
class ExportPlan:
    """An export ready to call: where it is and how its values convert."""

    def __init__(
        self,
        name: str,
        index: Any,
        params: list[tuple[str, convert.Conv]],
        result: convert.Conv | None,
    ) -> None:
        self.name = name
        self.index = index
        self.params = params
        self.result = result
        self.names: dict[str, int] = {}
        for i, (pname, _) in enumerate(params):
            self.names[pname] = i
            self.names[convert.snake(pname)] = i


def captured_streams(plans: list[ImportPlan]) -> tuple[str, ...]:
    """"stdout" and/or "stderr" when the component imports wasi:cli/stdout or stderr."""
    out: list[str] = []
    for stream in ("stdout", "stderr"):
        prefix = f"wasi:cli/{stream}"
        if any(
            plan.kind == "wasi" and (plan.name == prefix or plan.name.startswith(prefix + "@"))
            for plan in plans
        ):
            out.append(stream)
    return tuple(out)


@final
class Loaded:
    """A plugin version ready to run: its compiled component, linker and export plans."""

    def __init__(
        self, info: PluginInfo, component: Any, plans: list[ImportPlan], marker: int
    ) -> None:
        self.info = info
        self.component = component
        self.plans = plans
        self.marker = marker  # the `$plugins` stream version this was read at
        self.uses_wasi = any(plan.kind == "wasi" for plan in plans)
        #: The WASI output streams the component imports, captured into its log.
        self.captured: tuple[str, ...] = captured_streams(plans)
        self.linker = build_linker(plans, info.grants)
        self.ticks = eng.deadline_ticks(info.timeout)
        self.exports: dict[str, ExportPlan] = {}
        self.key = f"{info.sha256}|{','.join(info.grants)}|{info.memory}|{info.name}"
        self.policy = manifest_policy(info.manifest)

    def export(self, name: str) -> ExportPlan | None:
        """The plan for export `name` ("f", "iface#f", or "f" alone when one interface
        exports it), or None."""
        found = self.exports.get(name)
        if found is not None:
            return found
        plan = self._plan(name)
        if plan is not None:
            self.exports[name] = plan
        return plan

    def _plan(self, name: str) -> ExportPlan | None:
        engine = eng.engine()
        comp = self.component
        top = comp.type.exports(engine)
        fty: Any = None
        index: Any = None
        if "#" in name:
            iface, _, fname = name.partition("#")
            ext = top.get(iface)
            if ext is not None and isinstance(ext.ty, wc.ComponentInstanceType):
                inner = ext.ty.exports(engine).get(fname)
                if inner is not None and isinstance(inner.ty, wc.FuncType):
                    parent = comp.get_export_index(iface)
                    fty, index = inner.ty, comp.get_export_index(fname, parent)
        else:
            ext = top.get(name)
            if ext is not None and isinstance(ext.ty, wc.FuncType):
                fty, index = ext.ty, comp.get_export_index(name)
            else:
                matches = [
                    e.name for e in self.info.exports if e.name.endswith("#" + name)
                ]
                if len(matches) == 1:
                    return self._plan(matches[0])
        if fty is None or index is None:
            return None
        params: list[tuple[str, convert.Conv]] = []
        for pname, pty in fty.params:
            params.append((pname, convert.build(pty)))
        result_ty = fty.result
        return ExportPlan(
            name, index, params, None if result_ty is None else convert.build(result_ty)
        )


@final
class Caller:
    """Calls one component function: arguments written as C values by the export's
    converters, the result read back into the plain form.

    `Func.__call__` asks wasmtime for the function's type and rebuilds its parameter list on
    every call, converts values by wasmtime-py's rules (which pick an untagged variant case
    by `isinstance`, so a bool could land in an earlier int case: see convert.py), and
    re-raises the process-global `LAST_EXCEPTION` on any error (which races between threads,
    and which this host never uses). This makes the same C call and raises wasmtime's own
    error; a result the host cannot read raises `ResultUnreadable`.
    """

    def __init__(self, func: Any, params: list[convert.Conv], result: convert.Conv | None) -> None:
        self.func = func
        self.params = params
        self.result = result
        self.raw: Any = func._func

    def __call__(self, store: Any, lowered: list[Any]) -> Any:
        ffi = convert.FFI
        n = len(lowered)
        if n != len(self.params):
            raise TypeError(f"expected {len(self.params)} arguments, got {n}")
        values = convert.lower_values(self.params, lowered)
        try:
            result = self.result
            space: Any = None
            if result is not None:
                space = ffi.wasmtime_component_val_t()
            error = ffi.wasmtime_component_func_call(
                ctypes.byref(self.raw), store._context(), values, n,
                None if space is None else ctypes.byref(space), 0 if space is None else 1,
            )
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)
        finally:
            convert.delete_values(values, n)
        if result is None:
            return None
        try:
            return result.from_c(space)
        except Exception as e:  # noqa: BLE001 - the plugin's value, not the host's bug
            raise caused_by(ResultUnreadable(f"{type(e).__name__}: {e}"), e)


class ResultUnreadable(Exception):
    """The plugin returned a value the host cannot read (classified as kind "result")."""


@final
class Capture:
    """One WASI output stream (stdout or stderr) of one instance, captured to a file.

    wasmtime writes the guest's output to the file itself, synchronously, on the calling
    thread: no Python callback runs on wasmtime's worker threads (`stdout_custom` callbacks
    do, and one still pending when the interpreter shuts down aborts the process with a Rust
    "panic in a function that cannot unwind"; research note §4). The file is made by
    `tempfile.mkstemp` and unlinked at once (wasmtime and this object keep it open), so
    nothing is left behind. After each call `take` reads what the guest wrote and truncates
    the file: the guest's next write lands at its own offset, past a hole, where this
    object's read position already is.
    """

    def __init__(self, stream: str) -> None:
        self.stream = stream
        fd, path = tempfile.mkstemp(prefix="tlo-wasi-", suffix="." + stream)
        self.path = path
        self.file = io.FileIO(fd, "r+")
        self.linked = True

    def attach(self, config: Any) -> None:
        """Make this the stream's destination in a WasiConfig, then unlink the file."""
        if self.stream == "stdout":
            config.stdout_file = self.path
        else:
            config.stderr_file = self.path
        try:
            os.unlink(self.path)
            self.linked = False
        except OSError:
            pass  # a platform that cannot unlink an open file: removed by close()

    def take(self) -> tuple[bytes, int]:
        """What the guest wrote since the last call (at most MAX_OUTPUT bytes) and how many
        more bytes were dropped."""
        f = self.file
        data = f.read(4096)  # one small read when (as usual) nothing was written
        if not data:
            return b"", 0
        while len(data) < MAX_OUTPUT:
            more = f.read(min(MAX_OUTPUT - len(data), 1 << 16))
            if not more:
                break
            data += more
        start = f.tell() - len(data)
        end = f.seek(0, os.SEEK_END)
        f.truncate(0)  # frees the blocks; the guest's offset (and ours) stay at `end`
        return data, end - start - len(data)

    def close(self) -> None:
        try:
            self.file.close()
            if self.linked:
                os.unlink(self.path)
                self.linked = False
        except OSError:
            pass


@final
class Warm:
    """A live instance in its own Store, reused by the calls of one thread until an error."""

    def __init__(self, key: str, store: Any, instance: Any, output: list[Capture]) -> None:
        self.key = key  # the plugin version (and grants, memory) it was made for
        self.store = store
        self.instance = instance
        self.funcs: dict[str, Caller] = {}
        self.output = output


def _preopen(config: Any, grants: tuple[str, ...]) -> None:
    for grant in grants:
        if grant.startswith("fs:"):
            path = grant[3:]
            config.preopen_dir(path, path, fs_mutable=False)
        elif grant.startswith("fs-rw:"):
            path = grant[6:]
            config.preopen_dir(path, path, fs_mutable=True)


def prepare(loaded: Loaded) -> Warm:
    """A new Store for `loaded`, its WASI set up, not instantiated yet (`instantiate`)."""
    info = loaded.info
    store = wasmtime.Store(eng.engine())
    store.set_limits(memory_size=info.memory)
    output: list[Capture] = []
    if loaded.uses_wasi:
        config = wasmtime.WasiConfig()  # empty env and argv, no stdin, no network
        try:
            for stream in loaded.captured:  # only the streams the component imports
                capture = Capture(stream)
                output.append(capture)
                capture.attach(config)
            _preopen(config, info.grants)
            store.set_wasi(config)
        except BaseException:
            for capture in output:
                capture.close()
            raise
    store.set_fuel(info.fuel)
    store.set_epoch_deadline(loaded.ticks)
    return Warm(loaded.key, store, None, output)


def instantiate(loaded: Loaded, warm: Warm) -> None:
    """Instantiate the component in a prepared Store (the call's context must be set)."""
    warm.instance = loaded.linker.instantiate(warm.store, loaded.component)


def run(
    loaded: Loaded,
    plan: ExportPlan,
    lowered: list[Any],
    ctx: CallContext,
    warm_cache: dict[str, Warm] | None,
) -> Any:
    """Call the export with already lowered arguments; returns its result, plain.

    `warm_cache` (this thread's instances, one per plugin name) lends an instance and gets
    it back unless the call failed; an instance of another version of the plugin is closed.
    None runs a fresh instance that is thrown away afterwards.

    Raises:
        PluginTrap, CapabilityDenied: the call failed (the instance is discarded). A
            KeyboardInterrupt or SystemExit caught in a host function is re-raised as is.
    """
    eng.keep_ticking(loaded.info.timeout)
    ctx.policy = loaded.policy
    slot = loaded.info.name
    warm = warm_cache.pop(slot, None) if warm_cache is not None else None
    if warm is not None and warm.key != loaded.key:
        _close(warm)  # an instance of an older version (or other grants) of the plugin
        warm = None
    previous = getattr(_current, "ctx", None)
    _current.ctx = ctx
    try:
        if warm is None:
            setup = ctx.setup()
            _current.ctx = setup
            try:
                warm = prepare(loaded)
                instantiate(loaded, warm)  # on error, what it printed goes to the log
            finally:
                _current.ctx = ctx
            ctx.fresh = True
            if setup.error is not None or setup.effects:
                if setup.error is None:
                    setup.failed("start", HostFault("a plugin cannot write while it starts"))
                ctx.error, ctx.error_label = setup.error, setup.error_label
                raise wasmtime.WasmtimeError("the plugin failed while starting")
        store = warm.store
        store.set_fuel(loaded.info.fuel)
        store.set_epoch_deadline(loaded.ticks)
        caller = warm.funcs.get(plan.name)
        if caller is None:
            caller = Caller(
                warm.instance.get_func(store, plan.index), [c for _, c in plan.params],
                plan.result,
            )
            warm.funcs[plan.name] = caller
        raw = caller(store, lowered)
    except BaseException as e:  # noqa: BLE001 - classified into the typed error below
        _current.ctx = previous
        if warm is not None:
            _drain(warm, ctx)
            _close(warm)
        raise classify(e, ctx) from None
    _current.ctx = previous
    _drain(warm, ctx)
    if ctx.error is not None:  # a host error the guest survived: never keep its effects
        _close(warm)
        raise classify(wasmtime.WasmtimeError("host error"), ctx)
    if warm_cache is not None:
        warm_cache[slot] = warm
    else:
        _close(warm)
    return raw


def _drain(warm: Warm, ctx: CallContext) -> None:
    """Move the instance's captured WASI output into the call's log lines."""
    for capture in warm.output:
        data, dropped = capture.take()
        if data:
            for line in data.decode("utf-8", errors="replace").splitlines():
                ctx.log(capture.stream, line)
        if dropped:
            ctx.log(capture.stream, f"[{dropped} more bytes of {capture.stream} dropped]")


def close_warm(warm: Warm) -> None:
    """Close an instance's Store (its memory is freed)."""
    _close(warm)


def _close(warm: Warm) -> None:
    try:
        warm.store.close()
    except Exception:  # noqa: BLE001 - closing a dead store must not hide the real error
        pass
    for capture in warm.output:
        capture.close()


_KINDS: Final[tuple[tuple[str, str], ...]] = (
    ("all fuel consumed", "fuel"),
    ("wasm trap: interrupt", "timeout"),
    ("call stack exhausted", "stack"),
    ("stack overflow", "stack"),
    ("exceeds memory limits", "memory"),
    ("memory limit", "memory"),
    ("out of memory", "memory"),
    ("MemoryError", "memory"),
    ("unreachable", "unreachable"),
    ("out of bounds", "result"),
    ("invalid utf-8", "result"),
    ("invalid UTF-8", "result"),
    ("invalid discriminant", "result"),
    ("invalid", "result"),
)


def _trap_line(text: str) -> str:
    """The most telling line of a wasmtime error (the trap, not the backtrace)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("wasm trap:") or "trap:" in line:
            return line
    if "Caused by:" in lines:
        after = lines[lines.index("Caused by:") + 1:]
        if after:
            return after[-1].lstrip("0123456789: ")
    return lines[0] if lines else "unknown error"


#: What guests print when their allocator finds memory.grow refused: CPython's MemoryError
#: (componentize-py guests), Rust's default alloc error handler.
_OOM_REPORTS: Final = ("MemoryError", "memory allocation of ")


def _reported_oom(ctx: CallContext) -> str:
    """The line of the guest's stderr saying it ran out of memory, or "".

    wasmtime gives no sign that a store hit its memory limit (memory.grow just returns -1,
    and a component's memory cannot be inspected from Python after a trap), so a trap is
    called "memory" only when the guest itself said so before trapping.
    """
    for level, message in reversed(ctx.lines):
        if level == "stderr" and any(report in message for report in _OOM_REPORTS):
            return message.strip()
    return ""


def _memory_hint(ctx: CallContext) -> str:
    return (
        f" (its memory limit is {ctx.info.memory} bytes: raise `memory` if the work is"
        " legitimate)"
    )


def host_refused(
    plugin: str, export: str, label: str, error: BaseException, detail: str
) -> PluginTrap:
    """The error of a call whose host function `label` refused it with `error` (a bad
    argument, a Lumen grant): PluginTrap kind "host". The SDK's harness raises the same."""
    return PluginTrap(
        f"plugin {plugin!r} ({export!r}): host function {label} refused the call: {error}",
        plugin=plugin, export=export, kind="host", detail=detail,
    )


def classify(error: BaseException, ctx: CallContext) -> BaseException:
    """The typed error for a failed call (what the caller raises)."""
    plugin, export = ctx.plugin, ctx.export
    recorded = ctx.error
    if recorded is not None:
        if not isinstance(recorded, Exception):
            return recorded  # KeyboardInterrupt, SystemExit: the caller's to handle
        if isinstance(recorded, TloError):
            return recorded
        if isinstance(recorded, _Abort):
            if str(recorded).startswith("out of memory"):  # a Lumen allocator's own report
                return PluginTrap(
                    f"plugin {plugin!r} ran out of memory in {export!r}: {recorded}"
                    f"{_memory_hint(ctx)}", plugin=plugin, export=export, kind="memory",
                    detail=str(error),
                )
            return PluginTrap(
                f"plugin {plugin!r} aborted in {export!r}: {recorded}", plugin=plugin,
                export=export, kind="abort", detail=str(error),
            )
        return host_refused(plugin, export, ctx.error_label, recorded, str(error))
    if not isinstance(error, Exception):
        return error
    if isinstance(error, TloError):
        return error
    text = str(error)
    if isinstance(error, ResultUnreadable):
        return PluginTrap(
            f"plugin {plugin!r} returned a value {export!r} cannot read: {text}",
            plugin=plugin, export=export, kind="result", detail=text,
        )
    if isinstance(error, wasmtime.ExitTrap):
        return PluginTrap(
            f"plugin {plugin!r} exited (WASI exit code {error.code}) in {export!r}",
            plugin=plugin, export=export, kind="exit", detail=text,
        )
    if isinstance(error, wasmtime.WasmtimeError):
        kind = "trap"
        for needle, found in _KINDS:
            if needle in text:
                kind = found
                break
        line = _trap_line(text)
        reported = _reported_oom(ctx) if kind == "unreachable" else ""
        if reported:
            return PluginTrap(
                f"plugin {plugin!r} ran out of memory in {export!r}: the guest reported"
                f" {reported!r} and stopped ({line}){_memory_hint(ctx)}", plugin=plugin,
                export=export, kind="memory", detail=text,
            )
        hint = {
            "fuel": f" (it used all {ctx.info.fuel} fuel: raise `fuel` if the work is legitimate)",
            "timeout": f" (it ran past its {ctx.info.timeout:g}s timeout)",
            "memory": _memory_hint(ctx),
            "stack": " (too deep a recursion)",
        }.get(kind, "")
        return PluginTrap(
            f"plugin {plugin!r} trapped in {export!r}: {line}{hint}", plugin=plugin,
            export=export, kind=kind, detail=text,
        )
    return PluginTrap(
        f"plugin {plugin!r} failed in {export!r}: {type(error).__name__}: {text}",
        plugin=plugin, export=export, kind="trap", detail=text,
    )


def host_coverage() -> list[str]:
    """Functions of wasm/wit/ without an implementation here, or the reverse (for tests)."""
    problems: list[str] = []
    for table, impls in ((HOST_FUNCTIONS, HOST_IMPLS), (RUNTIME_FUNCTIONS, RUNTIME_IMPLS)):
        wanted = {(iface, fname) for iface, funcs in table.items() for fname in funcs}
        for missing in sorted(wanted - set(impls)):
            problems.append(f"no implementation of {missing[0]}.{missing[1]}")
        for extra in sorted(set(impls) - wanted):
            problems.append(f"{extra[0]}.{extra[1]} is not in wasm/wit/")
    return problems
