"""The plugin host of one open file: install, grants, calls, replay; and `Plugins`, its face.

Install, upgrade, grant, revoke and remove are turns (`$plugins` events). A call runs the
export outside any write transaction, with its writes buffered (see `runtime`); only a call
that wrote something (or asked to be recorded) opens a turn, whose time is the time the plugin
saw. Before its events are appended, what the call read is checked again under the write
lock (the plugin's version and grants, the versions of the streams it read): if another
writer changed any of it meanwhile, the call is run once more inside the turn, so the
recorded call is always one the recorded state explains. Calls made inside an open turn
(`turn=`, or any call while `db.turn()` is open on the thread) run against that turn's state
and record themselves in it.

A live instance of each plugin version is kept per thread and reused by the next call until
any error, after which it is thrown away. Instance memory is a cache, not state: a plugin
must keep what must survive in kv. A call that is recorded always ran on a fresh instance
(calls in a turn and `record=True` start on one; a call that wrote something on a reused
instance runs again on a fresh one before it commits), and so do replays (`verify`): what a
reused instance remembers (a guest runtime's lazily seeded generator, a global counter) can
never make a recorded call unreproducible.
"""

from __future__ import annotations

import builtins
import collections
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, final

from tlo_embed.codec.cbor import ENC_CBOR, decode, dumps
from tlo_embed.errors import (
    InvalidArgumentError,
    InvalidPlugin,
    PluginArgumentError,
    PluginError,
    PluginNotFound,
    TloError,
    caused_by,
)
from tlo_embed.journal.append import stream_version
from tlo_embed.journal.context import TurnContext
from tlo_embed.journal.core import Journal
from tlo_embed.journal.records import ANY, Event, RecordedEvent
from tlo_embed.journal.subscriptions import Subscription
from tlo_embed.journal.turns import Turn, TurnOptions, TurnScope
from tlo_embed.plugins import convert, introspect, model, runtime
from tlo_embed.plugins import engine as eng
from tlo_embed.plugins.model import CallRecord, ExportInfo, LogLine, PluginInfo, Verification
from tlo_embed.store import sql
from tlo_embed.store.txn import Txn

_SELECT_PLUGIN: Final = (
    "SELECT name, version, sha256, exports, requested, grants, fuel, memory, timeout,"
    " installed_at, manifest,"
    " (SELECT version FROM streams WHERE branch = ?1 AND stream = '$plugins')"
    " FROM plugins WHERE branch = ?1 AND name = ?2"
)
_SELECT_ALL: Final = (
    "SELECT name, version, sha256, exports, requested, grants, fuel, memory, timeout,"
    # Branch through sql.TEXT_PARAM: bare, SQLite re-prepared this on every call.
    f" installed_at, manifest, 0 FROM plugins WHERE branch = {sql.TEXT_PARAM} ORDER BY name"
)
#: Bumped whenever a handle of this process installs, upgrades, grants, revokes or removes a
#: plugin: every handle's cached plugin rows are then read again.
_GENERATION: Final[list[int]] = [0]
_GENERATION_LOCK: Final = threading.Lock()
#: At most this many seconds pass before a cached plugin row is checked against commits of
#: other connections (see `PluginHost.load`).
REVALIDATE: Final = 0.01
#: Prefix of a task's import path when a plugin export implements it.
TASK_TARGET_PREFIX: Final = "plugin:"


def _info(row: Any) -> PluginInfo:
    exports = decode(row[3], ENC_CBOR)
    manifest = None if row[10] is None else decode(row[10], ENC_CBOR)
    return PluginInfo(
        name=str(row[0]), version=int(row[1]), sha256=str(row[2]),
        exports=tuple(
            ExportInfo(name=str(e[0]), signature=str(e[1]))
            for e in (exports if isinstance(exports, list) else [])
        ),
        requested=tuple(str(r) for r in _as_list(decode(row[4], ENC_CBOR))),
        grants=tuple(str(g) for g in _as_list(decode(row[5], ENC_CBOR))),
        fuel=int(row[6]), memory=int(row[7]), timeout=float(row[8]),
        installed_at_us=int(row[9]),
        manifest=manifest if isinstance(manifest, dict) else None,
    )


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _same_version(a: PluginInfo, b: PluginInfo) -> bool:
    """True when two rows describe the same runnable plugin (compared field by field:
    compiled code compares attrs instances by identity)."""
    return (
        a.version == b.version and a.sha256 == b.sha256 and a.grants == b.grants
        and a.fuel == b.fuel and a.memory == b.memory and a.timeout == b.timeout
    )


def _stored(value: object) -> Any:
    """`value` as it reads back from the journal (tuples become lists, ...)."""
    return decode(dumps(value, "plugin value"), ENC_CBOR)


def _seed() -> int:
    return random.getrandbits(63)


@final
class _Cached:
    """A plugin row loaded by one thread, and what it was valid for."""

    def __init__(
        self, others: int, mine: int, generation: int, checked: float, loaded: runtime.Loaded
    ) -> None:
        self.others = others
        self.mine = mine
        self.generation = generation
        self.checked = checked
        self.loaded = loaded


@final
class _ThreadState:
    def __init__(self) -> None:
        self.warm: dict[str, runtime.Warm] = {}
        self.rows: dict[tuple[str, str], _Cached] = {}


@final
class PluginHost:
    """Everything the plugin layer keeps for one open file (shared by its threads)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], runtime.Loaded] = {}
        self._local: Any = threading.local()
        self._logs: dict[str, collections.deque[LogLine]] = {}
        self._fork_epoch = eng.fork_epoch()

    def close(self) -> None:
        """Drop what this host keeps loaded and this thread's instances (the file closes)."""
        self._drop(compiled=False)

    # -- lifecycle -----------------------------------------------------------------------------

    def install(
        self,
        branch: str,
        source: str | os.PathLike[str] | bytes | bytearray,
        *,
        name: str | None,
        grants: Sequence[str],
        fuel: int,
        memory: int | str,
        timeout: float,
        upgrade: bool,
    ) -> PluginInfo:
        """Validate, introspect, store and record a component (see `Plugins.install`)."""
        wasm, stem = _read_source(source)
        if wasm[:4] != b"\0asm":
            raise InvalidPlugin("not a WebAssembly binary (no \\0asm header); install a .wasm component")
        manifest = _manifest(wasm)
        chosen = name
        if chosen is None:
            named = manifest.get("name") if manifest is not None else None
            chosen = named if isinstance(named, str) and named else stem
        if not chosen:
            raise InvalidArgumentError("the plugin needs a name: pass name=...")
        plugin = model.check_name(chosen)
        granted = model.normalize_grants(grants)
        model.check_limits(fuel, timeout)
        memory_bytes = model.parse_memory(memory)
        sha = hashlib.sha256(wasm).hexdigest()
        engine = eng.engine()
        comp = eng.cached(sha)
        try:
            if comp is None:
                comp = eng.compile_component(wasm)  # slow: outside the write lock
            plans = introspect.plan_imports(comp, engine)
        except PluginError as e:
            e.plugin = plugin
            raise
        introspect.check_granted(plugin, plans, granted)
        exports = introspect.exports(comp, engine)
        artifact = eng.serialize(comp)
        key = eng.engine_key()
        with self.journal.turn_scope(branch) as (txn, turn):
            current = self._row(txn.conn, branch, plugin)
            if current is not None and not upgrade:
                msg = (
                    f"plugin {plugin!r} is already installed (version {current.version});"
                    " pass upgrade=True to install a new version"
                )
                raise InvalidArgumentError(msg)
            version = 1 if current is None else current.version + 1
            now = turn.recorded_at_us
            txn.execute(
                "INSERT OR IGNORE INTO plugin_blobs (sha256, wasm, stored_at) VALUES (?, ?, ?)",
                (sha, wasm, now),
            )
            txn.execute(
                "INSERT OR IGNORE INTO plugin_artifacts (sha256, engine, artifact, created_at)"
                " VALUES (?, ?, ?, ?)", (sha, key, artifact, now),
            )
            data: dict[str, Any] = {
                "name": plugin, "version": version, "sha256": sha,
                "exports": [[e.name, e.signature] for e in exports],
                "requested": list(introspect.requested(plans)), "grants": list(granted),
                "fuel": fuel, "memory": memory_bytes, "timeout": float(timeout),
                "size": len(wasm), "manifest": manifest,
            }
            kind = model.PLUGIN_INSTALLED if current is None else model.PLUGIN_UPGRADED
            self.journal.append_in(txn, turn, model.PLUGINS_STREAM, Event(kind, data), ANY)
            info = self._row(txn.conn, branch, plugin)
        eng.remember(sha, comp)
        self._changed()
        if info is None:  # the applier always writes the row; a missing one is a bug
            raise PluginError(f"plugin {plugin!r} was recorded but has no row", plugin=plugin)
        return info

    def set_grant(self, branch: str, plugin: str, capability: str, granted: bool) -> PluginInfo:
        """Grant or revoke one capability, in a turn (nothing is written if it is a no-op)."""
        capability = model.check_grant(capability)
        with self.journal.turn_scope(branch) as (txn, turn):
            current = self._require(txn.conn, branch, plugin)
            grants = set(current.grants)
            if (capability in grants) != granted:
                if granted:
                    grants.add(capability)
                else:
                    grants.discard(capability)
                kind = model.PLUGIN_GRANTED if granted else model.PLUGIN_REVOKED
                data = {"name": plugin, "capability": capability, "grants": sorted(grants)}
                self.journal.append_in(txn, turn, model.PLUGINS_STREAM, Event(kind, data), ANY)
            info = self._require(txn.conn, branch, plugin)
        self._changed()
        return info

    def remove(self, branch: str, plugin: str) -> None:
        """Uninstall (its kv state goes too; its history and blob stay)."""
        with self.journal.turn_scope(branch) as (txn, turn):
            self._require(txn.conn, branch, plugin)
            self.journal.append_in(
                txn, turn, model.PLUGINS_STREAM,
                Event(model.PLUGIN_REMOVED, {"name": plugin}), ANY,
            )
        self._changed()

    def _changed(self) -> None:
        with _GENERATION_LOCK:
            _GENERATION[0] += 1

    # -- reading -------------------------------------------------------------------------------

    def _row(self, conn: Any, branch: str, plugin: str) -> PluginInfo | None:
        rows = sql.rows(conn, _SELECT_PLUGIN, (branch, plugin))
        return _info(rows[0]) if rows else None

    def _require(self, conn: Any, branch: str, plugin: str) -> PluginInfo:
        found = self._row(conn, branch, plugin)
        if found is None:
            raise _not_found(branch, plugin)
        return found

    def info(self, branch: str, plugin: str) -> PluginInfo:
        """The installed plugin (raises PluginNotFound)."""
        return self._require(self.journal.store.connection(), branch, plugin)

    def list_plugins(self, branch: str) -> list[PluginInfo]:
        """Every installed plugin of the branch, by name."""
        return [_info(r) for r in sql.rows(self.journal.store.connection(), _SELECT_ALL, (branch,))]

    def kv(self, branch: str, plugin: str) -> dict[str, str]:
        """The plugin's kv state as committed."""
        return {
            str(k): str(v) for k, v in sql.rows(
                self.journal.store.connection(),
                # Bound through sql.TEXT_PARAM: bare `?`s made SQLite re-prepare it every call.
                f"SELECT key, value FROM plugin_kv WHERE branch = {sql.TEXT_PARAM}"
                f" AND plugin = {sql.TEXT_PARAM} ORDER BY key",
                (branch, plugin),
            )
        }

    def log(self, plugin: str) -> list[LogLine]:
        """Captured output of the plugin's calls in this process (newest last)."""
        with self._lock:
            return list(self._logs.get(plugin, ()))

    def _keep_log(self, ctx: runtime.CallContext) -> None:
        if not ctx.lines:
            return
        lines = [
            LogLine(plugin=ctx.plugin, level=level, message=message, at_us=ctx.time_us)
            for level, message in ctx.lines
        ]
        with self._lock:
            kept = self._logs.get(ctx.plugin)
            if kept is None:
                kept = collections.deque(maxlen=model.LOG_LINES)
                self._logs[ctx.plugin] = kept
            kept.extend(lines)

    # -- loading -------------------------------------------------------------------------------

    def _state(self) -> _ThreadState:
        if self._fork_epoch != eng.fork_epoch():
            # A child after fork(): the parent's components, linkers and instances belong to
            # the parent's Engine.
            self._fork_epoch = eng.fork_epoch()
            self._local = threading.local()
            self._lock = threading.Lock()
            self._loaded = {}
        state = getattr(self._local, "state", None)
        if isinstance(state, _ThreadState):
            return state
        made = _ThreadState()
        self._local.state = made
        return made

    def load(self, branch: str, plugin: str) -> runtime.Loaded:
        """The runnable plugin, reusing what this thread loaded while the file is unchanged.

        Raises:
            PluginNotFound: no such plugin.
        """
        conn = self.journal.store.connection()
        state = self._state()
        key = (branch, plugin)
        # A cached row is reused while nothing that could change it happened: the generation
        # moves when any handle of this process changes a plugin, total_changes when this
        # connection writes anything, PRAGMA data_version when another connection commits.
        # The pragma starts a read (apsw's file-control data_version can be stale until one),
        # which costs a few microseconds, so it runs at most every REVALIDATE seconds: a
        # change made by another process reaches a busy caller within that bound.
        now = time.monotonic()
        mine = conn.total_changes()
        generation = _GENERATION[0]
        cached = state.rows.get(key)
        if cached is not None and cached.mine == mine and cached.generation == generation:
            if now - cached.checked < REVALIDATE:
                return cached.loaded
            others = int(sql.value(conn, "PRAGMA data_version"))
            if others == cached.others:
                cached.checked = now
                return cached.loaded
        others = int(sql.value(conn, "PRAGMA data_version"))  # before the row is read
        loaded = self._load_from(conn, branch, plugin)
        state.rows[key] = _Cached(others, mine, generation, now, loaded)
        return loaded

    def _load_from(self, conn: Any, branch: str, plugin: str) -> runtime.Loaded:
        rows = sql.rows(conn, _SELECT_PLUGIN, (branch, plugin))
        if not rows:
            raise _not_found(branch, plugin)
        info = _info(rows[0])
        marker = 0 if rows[0][11] is None else int(rows[0][11])
        key = (branch, plugin)
        with self._lock:
            loaded = self._loaded.get(key)
        if loaded is not None and _same_version(loaded.info, info):
            if loaded.marker != marker:
                loaded = runtime.Loaded(info, loaded.component, loaded.plans, marker)
        else:
            comp = self._component(conn, info.sha256, plugin)
            plans = introspect.plan_imports(comp, eng.engine())
            loaded = runtime.Loaded(info, comp, plans, marker)
        with self._lock:
            self._loaded[key] = loaded
        return loaded

    def _component(self, conn: Any, sha: str, plugin: str) -> Any:
        """The compiled component: this process's, the file's precompiled artifact, or
        compiled from the stored wasm (and then cached in the file)."""
        comp = eng.cached(sha)
        if comp is not None:
            return comp
        key = eng.engine_key()
        artifact = sql.value(
            conn, "SELECT artifact FROM plugin_artifacts WHERE sha256 = ? AND engine = ?",
            (sha, key),
        )
        if isinstance(artifact, bytes):
            comp = eng.deserialize(artifact)
        if comp is None:
            wasm = sql.value(conn, "SELECT wasm FROM plugin_blobs WHERE sha256 = ?", (sha,))
            if not isinstance(wasm, bytes):
                msg = f"plugin {plugin!r}: its component {sha} is missing from the file"
                raise PluginError(msg, plugin=plugin)
            comp = eng.compile_component(wasm)
            self._cache_artifact(sha, key, eng.serialize(comp))
        eng.remember(sha, comp)
        return comp

    def _cache_artifact(self, sha: str, key: str, artifact: bytes) -> None:
        store = self.journal.store
        if store.readonly:
            return
        try:
            with store.write() as txn:
                txn.execute(
                    "INSERT OR REPLACE INTO plugin_artifacts (sha256, engine, artifact,"
                    " created_at) VALUES (?, ?, ?, ?)", (sha, key, artifact, self.journal.now_us()),
                )
        except TloError:
            pass  # a cache: the next process compiles again

    def forget_compiled(self) -> None:
        """Drop this process's compiled components and this thread's instances."""
        self._drop(compiled=True)

    def _drop(self, *, compiled: bool) -> None:
        state = self._state()
        with self._lock:
            self._loaded.clear()
        if compiled:
            eng.forget()
        for warm in state.warm.values():
            runtime.close_warm(warm)
        state.warm.clear()
        state.rows.clear()

    # -- calling -------------------------------------------------------------------------------

    def lower(
        self, loaded: runtime.Loaded, plan: runtime.ExportPlan, args: Sequence[object],
        named: Mapping[str, object] | None = None,
    ) -> list[Any]:
        """Check and convert the arguments (nothing runs if they do not fit).

        Raises:
            PluginArgumentError: wrong count, unknown name or a value of the wrong type.
        """
        params = plan.params
        values: list[object] = list(args)
        plugin = loaded.info.name
        if named:
            slots: list[object] = values + [_MISSING] * (len(params) - len(values))
            for key, value in named.items():
                index = plan.names.get(key)
                if index is None or index >= len(slots) or slots[index] is not _MISSING:
                    msg = (
                        f"{plugin}.{plan.name}: unexpected or repeated argument {key!r}"
                        f" (parameters: {', '.join(p for p, _ in params)})"
                    )
                    raise PluginArgumentError(
                        msg, plugin=plugin, export=plan.name, path=key, expected=""
                    )
                slots[index] = value
            values = slots
        if len(values) != len(params) or any(v is _MISSING for v in values):
            signature = ", ".join(f"{p}: {c.wit}" for p, c in params)
            msg = (
                f"{plugin}.{plan.name} takes {len(params)} argument(s) ({signature}),"
                f" got {len([v for v in values if v is not _MISSING])}"
            )
            raise PluginArgumentError(
                msg, plugin=plugin, export=plan.name, path="", expected=signature
            )
        lowered: list[Any] = []
        for i, (pname, conv) in enumerate(params):
            try:
                lowered.append(conv.lower(values[i]))
            except convert.ValueMismatch as e:
                where = e.path(convert.snake(pname))
                msg = f"{plugin}.{plan.name}: argument {where}: {e.message}"
                raise caused_by(PluginArgumentError(
                    msg, plugin=plugin, export=plan.name, path=where, expected=e.expected
                ), e)
        return lowered

    def _lift(self, plan: runtime.ExportPlan, raw: Any, ctx: runtime.CallContext) -> Any:
        """The call's result (runtime.run already read it into the plain form; a value the
        host cannot read was a PluginTrap of kind "result" there)."""
        return raw

    def export(self, loaded: runtime.Loaded, export: str) -> runtime.ExportPlan:
        """The export's plan (raises PluginNotFound for an unknown export)."""
        plan = loaded.export(export)
        if plan is None:
            names = ", ".join(e.name for e in loaded.info.exports) or "none"
            msg = f"plugin {loaded.info.name!r} has no export {export!r} (exports: {names})"
            raise PluginNotFound(msg, plugin=loaded.info.name, export=export)
        return plan

    def call(
        self,
        branch: str,
        plugin: str,
        export: str,
        args: Sequence[object],
        named: Mapping[str, object] | None = None,
        *,
        turn: TurnContext | None = None,
        record: bool = False,
    ) -> Any:
        """Call an export (see `Plugins.call`)."""
        loaded = self.load(branch, plugin)
        plan = loaded.export(export)
        if plan is None:
            plan = self.export(loaded, export)
        lowered = self.lower(loaded, plan, args, named)
        journal = self.journal
        txn = journal.store.current_txn()
        if txn is not None and isinstance(txn.attachment, Turn):
            return self._call_in_turn(loaded, plan, lowered, txn, txn.attachment, branch)
        if turn is not None:
            msg = "turn= must be the turn open on this thread (db.turn() or a subscription's)"
            raise InvalidArgumentError(msg)
        ctx = runtime.CallContext(
            journal=journal, info=loaded.info, export=plan.name, branch=branch,
            time_us=journal.now_us(), seed=_seed(), track_reads=True,
        )
        # A recorded call must run on a fresh instance: a reused one may hold state (a
        # guest runtime's lazily seeded generator...) that a replay could not reproduce.
        try:
            raw = runtime.run(loaded, plan, lowered, ctx, None if record else self._state().warm)
        finally:
            self._keep_log(ctx)
        result = self._lift(plan, raw, ctx)
        if not ctx.effects and not record:
            return result
        return self._commit(branch, loaded, plan, lowered, result, ctx, record)

    def _commit(
        self,
        branch: str,
        loaded: runtime.Loaded,
        plan: runtime.ExportPlan,
        lowered: list[Any],
        result: Any,
        ctx: runtime.CallContext,
        record: bool,
    ) -> Any:
        """Record a call made outside a turn. It runs again, on a fresh instance and under
        the write lock, if it ran on a reused instance or if what it read changed meanwhile."""
        journal = self.journal
        options = TurnOptions(branch=branch)
        time_us = ctx.time_us
        scope = TurnScope(journal.store, options, lambda: time_us, journal.notifier.notify)
        with scope as (txn, turn):
            conn = txn.conn
            if not ctx.fresh or not self._still_valid(conn, branch, loaded, ctx):
                old_plan = plan
                loaded = self._load_from(conn, branch, loaded.info.name)
                plan = self.export(loaded, plan.name)
                lowered = self.lower(loaded, plan, self._replay_args(old_plan, lowered))
                ctx = runtime.CallContext(
                    journal=journal, info=loaded.info, export=plan.name, branch=branch,
                    time_us=turn.recorded_at_us, seed=ctx.seed, track_reads=False,
                )
                try:
                    raw = runtime.run(loaded, plan, lowered, ctx, None)
                finally:
                    self._keep_log(ctx)
                result = self._lift(plan, raw, ctx)
                if not ctx.effects and not record:
                    return result
            self._record(txn, turn, loaded, plan, lowered, result, ctx)
        return result

    def _replay_args(self, plan: runtime.ExportPlan, lowered: list[Any]) -> list[Any]:
        """The plain arguments of a call (what is recorded, and what a re-run lowers)."""
        return [conv.lift(lowered[i]) for i, (_, conv) in enumerate(plan.params)]

    def _still_valid(
        self, conn: Any, branch: str, loaded: runtime.Loaded, ctx: runtime.CallContext
    ) -> bool:
        if stream_version(conn, branch, model.PLUGINS_STREAM) != loaded.marker:
            return False
        for stream, version in ctx.reads.items():
            if stream_version(conn, branch, stream) != version:
                return False
        return True

    def _call_in_turn(
        self,
        loaded: runtime.Loaded,
        plan: runtime.ExportPlan,
        lowered: list[Any],
        txn: Txn,
        turn: Turn,
        branch: str,
    ) -> Any:
        if turn.branch != branch:
            msg = (
                f"the turn open on this thread is on branch {turn.branch!r}; a plugin call for"
                f" branch {branch!r} cannot join it"
            )
            raise InvalidArgumentError(msg)
        ctx = runtime.CallContext(
            journal=self.journal, info=loaded.info, export=plan.name, branch=branch,
            time_us=turn.recorded_at_us, seed=_seed(), track_reads=False,
        )
        try:
            raw = runtime.run(loaded, plan, lowered, ctx, None)  # recorded: a fresh instance
        finally:
            self._keep_log(ctx)
        result = self._lift(plan, raw, ctx)
        with self.journal.turn_scope(branch) as (inner_txn, inner_turn):
            self._record(inner_txn, inner_turn, loaded, plan, lowered, result, ctx)
        return result

    def _record(
        self,
        txn: Txn,
        turn: Turn,
        loaded: runtime.Loaded,
        plan: runtime.ExportPlan,
        lowered: list[Any],
        result: Any,
        ctx: runtime.CallContext,
    ) -> None:
        """Append the call's effects and its record to the turn."""
        journal = self.journal
        info = loaded.info
        stream = model.plugin_stream(info.name)
        meta = {"plugin": info.name, "export": plan.name}
        for effect in ctx.effects:
            kind = effect[0]
            if kind == "put":
                event = Event(model.KV_PUT, {"key": effect[1], "value": effect[2]})
                journal.append_in(txn, turn, stream, event, ANY)
            elif kind == "del":
                journal.append_in(txn, turn, stream, Event(model.KV_DELETED, {"key": effect[1]}), ANY)
            else:
                event = Event(effect[2], effect[3], metadata=meta)
                journal.append_in(txn, turn, effect[1], event, ANY)
        data = {
            "plugin": info.name, "version": info.version, "sha256": info.sha256,
            "export": plan.name, "args": self._replay_args(plan, lowered),
            "result": result, "time_us": ctx.time_us, "seed": ctx.seed,
            "grants": list(info.grants), "effects": ctx.effects,
        }
        if ctx.lines:
            kept, dropped = _recorded_log(ctx.lines)
            data["log"] = kept
            if dropped:
                data["log_dropped"] = dropped
        journal.append_in(txn, turn, stream, Event(model.PLUGIN_CALLED, data), ANY)

    # -- history and replay --------------------------------------------------------------------

    def calls(self, branch: str, plugin: str, limit: int | None = None) -> list[CallRecord]:
        """The recorded calls of a plugin, oldest first."""
        out: list[CallRecord] = []
        for event in self.journal.read(branch, model.plugin_stream(plugin)):
            if event.type == model.PLUGIN_CALLED:
                out.append(_call_record(event))
        return out if limit is None else out[-limit:]

    def verify(self, branch: str, recorded: CallRecord, *, using: str) -> Verification:
        """Re-run a recorded call on a fresh instance and compare (see `Plugins.verify`)."""
        if using not in ("current", "recorded"):
            raise InvalidArgumentError(f"using must be 'current' or 'recorded', got {using!r}")
        if using == "current":
            loaded = self._load_from(self.journal.store.connection(), branch, recorded.plugin)
        else:
            loaded = self._recorded(branch, recorded)
        snapshot = self._kv_before(branch, recorded)
        plan = self.export(loaded, recorded.export)
        ctx = runtime.CallContext(
            journal=self.journal, info=loaded.info, export=plan.name, branch=branch,
            time_us=recorded.time_us, seed=recorded.seed, track_reads=False,
            kv_snapshot=snapshot,
            history_before=(recorded.seq, recorded.event_index - len(recorded.effects)),
        )
        differences: list[str] = []
        result: Any = None
        error: str | None = None
        try:
            lowered = self.lower(loaded, plan, recorded.args)
            raw = runtime.run(loaded, plan, lowered, ctx, None)
            result = _stored(self._lift(plan, raw, ctx))
        except TloError as e:
            error = str(e)
            differences.append(f"the re-run failed: {e}")
        if error is None:
            if not convert.plain_equal(result, recorded.result):
                differences.append(f"result: recorded {recorded.result!r}, now {result!r}")
            effects = _stored(ctx.effects)
            if not convert.plain_equal(effects, recorded.effects):
                differences.append(f"effects: recorded {recorded.effects!r}, now {effects!r}")
        return Verification(
            same=not differences, recorded=recorded, result=result, error=error,
            differences=tuple(differences), version=loaded.info.version,
            sha256=loaded.info.sha256,
        )

    def _recorded(self, branch: str, recorded: CallRecord) -> runtime.Loaded:
        conn = self.journal.store.connection()
        current = self._row(conn, branch, recorded.plugin)
        comp = self._component(conn, recorded.sha256, recorded.plugin)
        plans = introspect.plan_imports(comp, eng.engine())
        info = PluginInfo(
            name=recorded.plugin, version=recorded.version, sha256=recorded.sha256,
            exports=introspect.exports(comp, eng.engine()), requested=introspect.requested(plans),
            grants=recorded.grants,
            fuel=current.fuel if current is not None else model.DEFAULT_FUEL,
            memory=current.memory if current is not None else model.DEFAULT_MEMORY,
            timeout=current.timeout if current is not None else model.DEFAULT_TIMEOUT,
            installed_at_us=0,
        )
        return runtime.Loaded(info, comp, plans, 0)

    def _kv_before(self, branch: str, recorded: CallRecord) -> dict[str, str]:
        """The plugin's kv state just before a recorded call (folded from its stream)."""
        removals = [
            e.seq for e in self.journal.read(branch, model.PLUGINS_STREAM)
            if e.type == model.PLUGIN_REMOVED and isinstance(e.data, dict)
            and e.data.get("name") == recorded.plugin
        ]
        own = sum(1 for effect in recorded.effects if effect and effect[0] in ("put", "del"))
        first_effect = recorded.event_version - own
        state: dict[str, str] = {}
        next_removal = 0
        for event in self.journal.read(branch, model.plugin_stream(recorded.plugin)):
            if event.version >= first_effect:
                break
            while next_removal < len(removals) and removals[next_removal] < event.seq:
                state.clear()
                next_removal += 1
            if event.type == model.KV_PUT:
                state[str(event.data["key"])] = str(event.data["value"])
            elif event.type == model.KV_DELETED:
                state.pop(str(event.data["key"]), None)
        while next_removal < len(removals) and removals[next_removal] < recorded.seq:
            state.clear()
            next_removal += 1
        return state

    # -- engine integration --------------------------------------------------------------------

    def subscription(
        self,
        branch: str,
        plugin: str,
        export: str,
        *,
        name: str | None,
        types: Sequence[str] | None,
        stream_prefix: str | None,
        from_seq: int | None,
    ) -> PluginSubscription:
        """A durable subscription whose events are handed to a plugin export."""
        loaded = self.load(branch, plugin)
        plan = self.export(loaded, export)
        shape = _event_shape(loaded.info.name, plan)
        sub = Subscription(
            self.journal, name=name or f"plugin:{plugin}:{plan.name}", branch=branch,
            types=types, stream_prefix=stream_prefix, from_seq=from_seq,
        )
        return PluginSubscription(self, sub, branch, plugin, plan.name, shape)

    def task_function(self, branch: str, target: str) -> Callable[..., Any] | None:
        """The callable for a task whose import path is "plugin:<name>#<export>" (else None)."""
        if not target.startswith(TASK_TARGET_PREFIX):
            return None
        plugin, _, export = target[len(TASK_TARGET_PREFIX):].partition("#")
        return PluginTask(self, branch, plugin, export)


_MISSING: Final = object()


def _not_found(branch: str, plugin: str) -> PluginNotFound:
    msg = f"no plugin named {plugin!r} is installed on branch {branch!r} (install it first)"
    return PluginNotFound(msg, plugin=plugin)


def _read_source(source: object) -> tuple[bytes, str]:
    # `object`: compiled code would refuse a bytearray (what wasmtime.wat2wasm returns) at a
    # `bytes` parameter.
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), ""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), path.stem.split(".")[0]
        except OSError as e:
            raise caused_by(InvalidArgumentError(f"cannot read plugin {str(path)!r}: {e}"), e)
    raise InvalidArgumentError(
        f"a plugin source is a path or bytes, got {type(source).__name__}"
    )


def _manifest(wasm: bytes) -> dict[str, Any] | None:
    try:
        return introspect.lumen_manifest(wasm)
    except InvalidPlugin:
        return None


def _recorded_log(lines: list[tuple[str, str]]) -> tuple[list[list[str]], int]:
    """The part of a call's log its PluginCalled event keeps: [[level, message], ...] and
    how many lines were left out."""
    kept: list[list[str]] = []
    chars = 0
    for level, message in lines:
        if len(kept) >= model.RECORDED_LOG_LINES:
            break
        room = model.RECORDED_LOG_CHARS - chars
        if room <= 0:
            break
        kept.append([level, message[:room]])
        chars += min(len(message), room)
    return kept, len(lines) - len(kept)


def _call_record(event: RecordedEvent) -> CallRecord:
    data: dict[str, Any] = event.data
    plugin = str(data["plugin"])
    time_us = int(data["time_us"])
    log = tuple(
        LogLine(plugin=plugin, level=str(level), message=str(message), at_us=time_us)
        for level, message in data.get("log", ())
    )
    return CallRecord(
        seq=event.seq, event_index=event.index, event_version=event.version,
        plugin=plugin,
        version=int(data["version"]), sha256=str(data["sha256"]), export=str(data["export"]),
        args=list(data["args"]), result=data["result"], time_us=time_us,
        seed=int(data["seed"]), grants=tuple(data["grants"]), effects=list(data["effects"]),
        log=log, log_dropped=int(data.get("log_dropped", 0)),
    )


_EVENT_FIELDS: Final = ("stream", "type", "event-type", "data", "payload", "version", "seq", "id")


def _event_shape(plugin: str, plan: runtime.ExportPlan) -> list[str]:
    """Which event field each parameter of a subscriber export receives.

    Parameters are matched by name: stream, type (or event-type), data (or payload: the data
    as JSON text), version, seq, id. A single record parameter gets those fields instead.
    """
    names = [p for p, _ in plan.params]
    if len(names) == 1 and isinstance(plan.params[0][1], convert.RecordConv):
        record = plan.params[0][1]
        assert isinstance(record, convert.RecordConv)
        names = [n for n, _, _ in record.fields]
        unknown = [n for n in names if n not in _EVENT_FIELDS]
        if unknown:
            raise _shape_error(plugin, plan, unknown)
        return ["record:" + n for n in names]
    unknown = [n for n in names if n not in _EVENT_FIELDS]
    if unknown:
        raise _shape_error(plugin, plan, unknown)
    return names


def _shape_error(plugin: str, plan: runtime.ExportPlan, unknown: list[str]) -> PluginArgumentError:
    msg = (
        f"{plugin}.{plan.name} cannot receive events: parameter(s) {', '.join(unknown)} are"
        f" not event fields (use {', '.join(_EVENT_FIELDS)})"
    )
    return PluginArgumentError(
        msg, plugin=plugin, export=plan.name, path=", ".join(unknown), expected="event fields"
    )


def _event_value(event: RecordedEvent, field: str) -> object:
    if field == "stream":
        return event.stream
    if field in ("type", "event-type"):
        return event.type
    if field in ("data", "payload"):
        return runtime.to_json(event.data)
    if field == "version":
        return event.version
    if field == "seq":
        return event.seq
    return str(event.id)


@final
class PluginSubscription:
    """A durable subscription that hands each event to a plugin export, exactly once: the
    call's effects (kv writes, events it appends) commit in the same turn as the cursor."""

    def __init__(
        self, host: PluginHost, subscription: Subscription, branch: str, plugin: str,
        export: str, shape: list[str],
    ) -> None:
        self._host = host
        self.subscription = subscription
        self.branch = branch
        self.plugin = plugin
        self.export = export
        self._shape = shape

    @property
    def name(self) -> str:
        """The subscription's name."""
        return self.subscription.name

    @property
    def position(self) -> int:
        """The last seq handed to the plugin (or passed over)."""
        return self.subscription.position

    def _handle(self, turn: TurnContext, event: RecordedEvent) -> None:
        if event.stream.startswith("$"):
            return  # engine streams (including the plugin's own call records) are not for plugins
        shape = self._shape
        if shape and shape[0].startswith("record:"):
            args: list[object] = [{f[7:]: _event_value(event, f[7:]) for f in shape}]
        else:
            args = [_event_value(event, f) for f in shape]
        self._host.call(self.branch, self.plugin, self.export, args, turn=turn)

    def process(self, limit: int = 256) -> int:
        """Hand pending events to the plugin (one turn); returns how many were seen.

        Raises:
            PluginTrap, CapabilityDenied: a call failed; nothing of the batch is kept and
                the position stays, so the batch is delivered again next time.
        """
        return self.subscription.process(self._handle, limit)

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        idle_timeout: float | None = None,
        limit: int = 256,
    ) -> int:
        """Process events as they arrive (see `Subscription.run`)."""
        return self.subscription.run(self._handle, stop=stop, idle_timeout=idle_timeout, limit=limit)


@final
class PluginTask:
    """A task function that calls a plugin export: a dict payload whose keys are parameter
    names gives named arguments, a list gives positional ones, anything else (a dict for a
    single record parameter, a scalar) is the one argument."""

    def __init__(self, host: PluginHost, branch: str, plugin: str, export: str) -> None:
        self._host = host
        self.branch = branch
        self.plugin = plugin
        self.export = export

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        host = self._host
        if kwargs and not args:
            loaded = host.load(self.branch, self.plugin)
            plan = host.export(loaded, self.export)
            if not all(key in plan.names for key in kwargs) and len(plan.params) == 1:
                return host.call(self.branch, self.plugin, self.export, [dict(kwargs)])
            return host.call(self.branch, self.plugin, self.export, [], kwargs)
        return host.call(self.branch, self.plugin, self.export, list(args), kwargs or None)


@final
class Plugins:
    """The plugins of one branch of an open file: `db.plugins`.

    Every method acts on the branch the Database handle was on when `db.plugins` was read.
    """

    def __init__(self, host: PluginHost, branch: str) -> None:
        self._host = host
        self.branch = branch

    def install(
        self,
        source: str | os.PathLike[str] | bytes | bytearray,
        *,
        name: str | None = None,
        grants: Sequence[str] = (),
        fuel: int = model.DEFAULT_FUEL,
        memory: int | str = model.DEFAULT_MEMORY,
        timeout: float = model.DEFAULT_TIMEOUT,
        upgrade: bool = False,
    ) -> PluginInfo:
        """Install a WebAssembly component as a plugin, in one turn.

        The component is validated and compiled, its imports and exports read from its type,
        and it is refused unless every tlo:host interface it imports is granted. Its bytes
        are stored once by sha256 in the file, with the precompiled artifact beside them.

        Args:
            source: a path to a .wasm component, or its bytes.
            name: the plugin's name (default: the Lumen manifest's "name", else the file's
                stem).
            grants: capabilities: "log", "kv", "journal", "clock", "random"; "fs:<dir>"
                preopens a host directory read-only at the same path ("fs-rw:<dir>":
                writable). WASI clocks, random, environment (empty) and stdio (captured to
                the log) need no grant; sockets are never available.
            fuel: fuel per call (roughly, wasm instructions).
            memory: linear memory per instance: bytes or a size such as "32MiB".
            timeout: wall-clock seconds per call.
            upgrade: replace an installed plugin of that name (its version goes up by one;
                its kv state stays). Without it, installing an existing name is an error.

        Returns:
            The installed plugin.

        Raises:
            InvalidPlugin: not a component, or it imports something the host cannot provide.
            CapabilityDenied: it imports a host interface that `grants` does not include.
            InvalidArgumentError: a bad name, grant or limit, or the name is taken.
        """
        return self._host.install(
            self.branch, source, name=name, grants=grants, fuel=fuel, memory=memory,
            timeout=timeout, upgrade=upgrade,
        )

    def call(
        self,
        plugin: str,
        export: str,
        *args: object,
        turn: TurnContext | None = None,
        record: bool = False,
    ) -> Any:
        """Call an export of a plugin.

        Positional arguments map to the export's parameters in order, converted by the
        export's WIT types (see `tlo_embed.plugins.convert` for the mapping: a record is a
        dict with snake_case or kebab-case keys, a variant `{"case": payload}`, a result
        `{"ok": value}` or `{"err": error}`). The result comes back in the same plain form.

        The call is bounded by the plugin's fuel, memory and timeout. It sees the turn's
        clock and randomness. Outside a turn, a call that changes nothing writes nothing;
        one that writes kv or appends events records them, with the call itself (a
        `PluginCalled` event in `$plugin-<name>`), in one turn. Inside an open turn (pass
        `turn=` the TurnContext, or just call while `db.turn()` is open on this thread) the
        call runs against that turn's state and is always recorded in it.

        Args:
            record: record the call even if it changed nothing (so `verify` can replay it).

        Raises:
            PluginNotFound: no such plugin or export.
            PluginArgumentError: an argument does not fit its parameter (nothing ran).
            PluginTrap: the call trapped (fuel, timeout, memory, stack, unreachable, a host
                function refused it...); nothing it did was kept.
            CapabilityDenied: it called an interface that was revoked.
        """
        return self._host.call(self.branch, plugin, export, args, turn=turn, record=record)

    def call_named(
        self,
        plugin: str,
        export: str,
        arguments: Mapping[str, object],
        *,
        turn: TurnContext | None = None,
        record: bool = False,
    ) -> Any:
        """`call` with arguments by parameter name (snake_case or kebab-case)."""
        return self._host.call(
            self.branch, plugin, export, (), arguments, turn=turn, record=record
        )

    def list(self) -> builtins.list[PluginInfo]:
        """Every installed plugin, by name."""
        return self._host.list_plugins(self.branch)

    def info(self, plugin: str) -> PluginInfo:
        """An installed plugin. Raises PluginNotFound."""
        return self._host.info(self.branch, plugin)

    def remove(self, plugin: str) -> None:
        """Uninstall a plugin, in one turn (its kv state goes; its history stays).

        Raises:
            PluginNotFound: no such plugin.
        """
        self._host.remove(self.branch, plugin)

    def grant(self, plugin: str, capability: str) -> PluginInfo:
        """Grant a capability, in one turn (recorded in `$plugins`). Returns the plugin."""
        return self._host.set_grant(self.branch, plugin, capability, True)

    def revoke(self, plugin: str, capability: str) -> PluginInfo:
        """Revoke a capability, in one turn. The plugin still runs; a call that reaches the
        revoked interface fails with CapabilityDenied. Returns the plugin."""
        return self._host.set_grant(self.branch, plugin, capability, False)

    def preload(self, plugin: str) -> PluginInfo:
        """Load a plugin into this process now (its precompiled artifact, or a compile),
        without calling it. Returns the plugin."""
        return self._host.load(self.branch, plugin).info

    def drop_caches(self) -> None:
        """Forget this process's compiled components and this thread's warm instances, so the
        next call loads from the file again (cold-load measurements, tests)."""
        self._host.forget_compiled()

    def log(self, plugin: str) -> builtins.list[LogLine]:
        """Captured output of the plugin's calls in this process: its `log` interface calls
        and its WASI stdout/stderr, newest last (the last 1000 lines), failed calls included.

        A recorded call (see `calls`) also keeps its lines in the file, in its PluginCalled
        event: `calls(plugin)[i].log`, which any process can read (`tlo plugin show --log`).
        """
        return self._host.log(plugin)

    def kv(self, plugin: str) -> dict[str, str]:
        """The plugin's committed kv state."""
        return self._host.kv(self.branch, plugin)

    def calls(self, plugin: str, limit: int | None = None) -> builtins.list[CallRecord]:
        """The plugin's recorded calls, oldest first (the last `limit`)."""
        return self._host.calls(self.branch, plugin, limit)

    def verify(self, call: CallRecord, *, using: str = "current") -> Verification:
        """Re-run a recorded call on a fresh instance, with its recorded arguments, clock,
        seed and the kv state it saw, and compare the result and effects.

        Args:
            using: "current" runs the plugin as installed now (has an upgrade changed what
                history would do?); "recorded" runs the exact component recorded.
        """
        return self._host.verify(self.branch, call, using=using)

    def subscribe(
        self,
        plugin: str,
        export: str,
        *,
        name: str | None = None,
        types: Sequence[str] | str | None = None,
        stream_prefix: str | None = None,
        from_seq: int | None = None,
    ) -> PluginSubscription:
        """A durable subscription feeding events to a plugin export, exactly once.

        The export's parameters are matched by name to event fields: `stream`, `type` (or
        `event-type`), `data` (or `payload`: the data as JSON text), `version`, `seq`, `id`;
        or it takes one record with such fields. What the plugin writes (kv, events through
        the journal interface) commits with the subscription's position. Engine streams
        ($-prefixed) are never delivered. Call `.process()` or `.run(...)` on the result.

        Raises:
            PluginArgumentError: the export's parameters are not event fields.
        """
        return self._host.subscription(
            self.branch, plugin, export, name=name,
            types=[types] if isinstance(types, str) else types,
            stream_prefix=stream_prefix, from_seq=from_seq,
        )
