"""A minimal wasmtime host for the componentize-py guest, independent of tlo_embed.plugins.

It proves the guest itself (tests/plugins/test_componentize_py.py): the component built by
componentize-py links against plain `wasmtime` with WASI p2 and dictionary-backed definitions of
the tlo host interfaces, so a failure in the engine's host can be told apart from a broken
guest. Compiling the 18 MB component takes seconds, so the compiled artifact is cached beside
the component, keyed by the wasmtime version.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record

#: The WASI version `Linker.add_wasip2` registers in wasmtime 50 (research §4); the clock and
#: random functions are shadowed inside that instance.
WASI: str = "0.2.12"
HOST: str = "tlo:host/{}@0.1.0"


def load(engine: Engine, wasm: Path) -> Component:
    """`wasm` compiled for `engine` (a default-config engine), through a file cache."""
    artifact = wasm.with_name(f"{wasm.stem}.wasmtime-{version('wasmtime')}.cwasm")
    if artifact.exists():
        return Component.deserialize_file(engine, str(artifact))
    component = Component.from_file(engine, str(wasm))
    partial = artifact.with_name(f"{artifact.name}.{os.getpid()}.partial")
    partial.write_bytes(component.serialize())
    partial.replace(artifact)
    return component


class MiniHost:
    """wasmtime + WASI p2 + the five tlo host interfaces over Python dicts and lists.

    Clock and randomness (WASI's and tlo's) come from `seed` and `now_ms`, so two calls with
    the same seed see the same values; guest stdout and stderr are collected as text.
    """

    def __init__(self, engine: Engine, component: Component) -> None:
        self.engine = engine
        self.component = component
        self.kv: dict[str, str] = {}
        self.logs: list[tuple[str, str]] = []
        self.events: list[tuple[str, str, str]] = []
        self.now_ms = 1_700_000_000_000
        self.rng = random.Random(0)
        self.linker = Linker(engine)
        self.linker.add_wasip2()
        self.linker.allow_shadowing = True
        self._define()

    def _define(self) -> None:
        def wall_now(store: Any) -> Record:
            r = Record()
            r.seconds, r.nanoseconds = divmod(self.now_ms * 1_000_000, 10**9)
            return r

        funcs: dict[str, dict[str, Callable[..., Any]]] = {
            f"wasi:clocks/wall-clock@{WASI}": {"now": wall_now},
            f"wasi:clocks/monotonic-clock@{WASI}": {"now": lambda s: self.now_ms * 1_000_000},
            f"wasi:random/random@{WASI}": {
                "get-random-bytes": lambda s, n: self.rng.randbytes(n),
                "get-random-u64": lambda s: self.rng.getrandbits(64),
            },
            HOST.format("log"): {
                level: (lambda s, m, _l=level: self.logs.append((_l, m)))
                for level in ("info", "warn", "error")
            },
            HOST.format("kv"): {
                "get": lambda s, k: self.kv.get(k),
                "put": lambda s, k, v: self.kv.__setitem__(k, v),
                "delete": lambda s, k: self.kv.pop(k, None) is not None,
                "keys": lambda s, p: sorted(k for k in self.kv if k.startswith(p)),
            },
            HOST.format("journal"): {
                "append": self._append,
                "read": lambda s, stream, after, limit: [],
            },
            HOST.format("clock"): {"now-ms": lambda s: self.now_ms},
            HOST.format("random"): {"below": lambda s, bound: self.rng.randrange(bound)},
        }
        with self.linker.root() as root:
            for interface, members in funcs.items():
                with root.add_instance(interface) as inst:
                    for name, fn in members.items():
                        inst.add_func(name, fn)

    def _append(self, store: Any, stream: str, event_type: str, payload: str) -> int:
        self.events.append((stream, event_type, payload))
        return sum(1 for e in self.events if e[0] == stream)

    def call(self, export: str, *args: Any, seed: int = 0) -> tuple[Any, str, str]:
        """Call `export` on a fresh instance; returns (result, stdout text, stderr text).

        Raises:
            wasmtime.WasmtimeError: the call trapped.
        """
        self.rng = random.Random(seed)
        out: list[bytes] = []
        err: list[bytes] = []
        wasi = WasiConfig()
        wasi.stdout_custom = out.append
        wasi.stderr_custom = err.append
        store = Store(self.engine)
        store.set_wasi(wasi)
        try:
            instance = self.linker.instantiate(store, self.component)
            func = instance.get_func(store, export)
            assert func is not None, export
            try:
                result = func(store, *args)
            except wasmtime.WasmtimeError as e:
                e.add_note(b"".join(err).decode(errors="replace"))
                raise
        finally:
            store.close()
        return result, b"".join(out).decode(), b"".join(err).decode()
