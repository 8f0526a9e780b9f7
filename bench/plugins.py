"""Plugin benchmark: calls through db.plugins against raw wasmtime, measured in the same run.

Workloads (each timed `--repeat` times, sides alternating; the best run of each counts):
  add      N calls of a WAT component's `add(u32, u32) -> u32`.
  record   N calls of `echo-point(record {x: s64, y: f64, label: string}) -> record`.
           Raw side: wasmtime-py's component API as its fastest user would write it: one
           Store and instance reused for every call, the `Func` looked up once, values passed
           as wasmtime `Record`s. Engine side: `db.plugins.call(name, export, *args)` on the
           installed component (dicts for records), which checks and converts the values,
           bounds every call by fuel, memory and a deadline, and runs it in this thread's
           live instance of the plugin (a new one after any error).
  limits   (for insight, no target) the raw call on an engine configured like the host's
           (fuel + epoch interruption), with `set_fuel` and `set_epoch_deadline` before each
           call, still one Store: the cost of the bounds alone.
  cold     a new process opens the .tlo file and makes its first call: the component comes
           from the file's precompiled cache (no compilation). Reported in ms: open, first
           call, and both; best of `--repeat` processes. Import time is excluded.
  hostcall (for insight, no target) the cost of one guest->host call: an export that calls
           the host's `kv.get` (a missing key, outside a turn: one SQLite read) or
           `clock.now-ms` N times, minus the same export calling it 0 times, per call.

Targets: engine call <= 1.5x the raw call; cold load (first call) <= 5 ms.

Run:  python3 dev.py bench plugins          (compiled build; see --help)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime.component import Component, Linker, Record

import tlo_embed

# bench/ is appended to the path, for _bench: put first, bench/queue.py would shadow the
# stdlib's queue (why the benches' child processes run with PYTHONSAFEPATH=1).
sys.path.append(str(Path(__file__).resolve().parent))
import _bench

TARGET_RATIO = 1.5
TARGET_COLD_MS = 5.0

#: A small component without imports (from research/wasmtime-components, §8): a bump
#: allocator, add, and a record echo that lifts and lowers a string.
WAT = """(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 1024))
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (block $ok
        (br_if $ok (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $bump)
              (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
              (i32.const -1)) (then unreachable)))
      local.get $p)
    (func (export "echo-point") (param $x i64) (param $y f64) (param $ptr i32) (param $len i32)
      (result i32)
      (i64.store (i32.const 16) (i64.add (local.get $x) (i64.const 1)))
      (f64.store (i32.const 24) (f64.mul (local.get $y) (f64.const 2)))
      (i32.store (i32.const 32) (local.get $ptr))
      (i32.store (i32.const 36) (local.get $len))
      i32.const 16)
    (func (export "post") (param i32) (global.set $bump (i32.const 1024))))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $mem))
  (alias core export $i "realloc" (core func $realloc))
  (alias core export $i "post" (core func $post))
  (type $point (record (field "x" s64) (field "y" f64) (field "label" string)))
  (export $point-ex "point" (type $point))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $i "add")))
  (func (export "echo-point") (param "p" $point-ex) (result $point-ex)
    (canon lift (core func $i "echo-point") (memory $mem) (realloc $realloc)
                (post-return $post))))"""

NAME = "bench"
LABEL = "a point"

#: Imports kv.get and clock.now-ms and calls either in a loop (`gets`, `nows`).
HOSTCALL_WAT = """(component
  (import "tlo:host/kv@0.1.0" (instance $kv
    (export "get" (func (param "key" string) (result (option string))))))
  (import "tlo:host/clock@0.1.0" (instance $clock (export "now-ms" (func (result s64)))))
  (core module $mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    (func (export "reset") (global.set $bump (i32.const 4096))))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "memory" (core memory $memory))
  (alias core export $mi "realloc" (core func $realloc))
  (alias core export $mi "reset" (core func $reset))
  (alias export $kv "get" (func $kv-get))
  (alias export $clock "now-ms" (func $now))
  (core func $kv-get-c (canon lower (func $kv-get) (memory $memory) (realloc $realloc)))
  (core func $now-c (canon lower (func $now)))
  (core module $main
    (import "h" "kv-get" (func $kv-get (param i32 i32 i32)))
    (import "h" "now" (func $now (result i64)))
    (import "h" "reset" (func $reset))
    (func (export "gets") (param $n i32) (param $p i32) (param $l i32) (result i32)
      (block $done (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (call $kv-get (local.get $p) (local.get $l) (i32.const 64))
        (call $reset)
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
      (i32.const 0))
    (func (export "nows") (param $n i32) (result i64) (local $s i64)
      (block $done (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $s (i64.add (local.get $s) (call $now)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
      (local.get $s)))
  (core instance $hi (export "kv-get" (func $kv-get-c)) (export "now" (func $now-c))
     (export "reset" (func $reset)))
  (core instance $i (instantiate $main (with "h" (instance $hi))))
  (func (export "gets") (param "n" u32) (param "key" string) (result u32)
    (canon lift (core func $i "gets") (memory $memory) (realloc $realloc)))
  (func (export "nows") (param "n" u32) (result s64) (canon lift (core func $i "nows")))
)"""


def point() -> Record:
    r = Record()
    r.x, r.y, r.label = 41, 1.25, LABEL
    return r


class Raw:
    """The component in plain wasmtime: one Store, one instance, `Func`s looked up once."""

    def __init__(self, wasm: bytes, *, limits: bool) -> None:
        config = wasmtime.Config()
        if limits:
            config.consume_fuel = True
            config.epoch_interruption = True
        self.limits = limits
        self.engine = wasmtime.Engine(config)
        self.store = wasmtime.Store(self.engine)
        if limits:
            self.store.set_fuel(1_000_000)
            self.store.set_epoch_deadline(1_000_000)
        instance = Linker(self.engine).instantiate(self.store, Component(self.engine, wasm))
        self.add = instance.get_func(self.store, "add")
        self.echo = instance.get_func(self.store, "echo-point")

    def run(self, export: str, n: int) -> float:
        store, limits = self.store, self.limits
        if export == "add":
            func, args = self.add, (1, 2)
        else:
            func, args = self.echo, (point(),)
        assert func is not None
        start = time.perf_counter()
        for _ in range(n):
            if limits:
                store.set_fuel(1_000_000)
                store.set_epoch_deadline(1_000)
            func(store, *args)
        return time.perf_counter() - start


def engine_run(db: tlo_embed.Database, export: str, n: int) -> float:
    args: tuple[Any, ...] = (1, 2) if export == "add" else ({"x": 41, "y": 1.25, "label": LABEL},)
    call = db.plugins.call
    start = time.perf_counter()
    for _ in range(n):
        call(NAME, export, *args)
    return time.perf_counter() - start


def check_results(raw: Raw, db: tlo_embed.Database) -> None:
    """Both sides compute the same thing (a benchmark of wrong answers is worthless)."""
    assert raw.add is not None and raw.echo is not None
    assert raw.add(raw.store, 1, 2) == db.plugins.call(NAME, "add", 1, 2) == 3
    echoed = vars(raw.echo(raw.store, point()))
    through = db.plugins.call(NAME, "echo-point", {"x": 41, "y": 1.25, "label": LABEL})
    assert echoed == through == {"x": 42, "y": 2.5, "label": LABEL}, (echoed, through)


def host_calls(db: tlo_embed.Database, repeat: int, n: int) -> dict[str, float]:
    """µs per guest->host call of kv.get and clock.now-ms (see the module docstring)."""
    db.plugins.install(wasmtime.wat2wasm(HOSTCALL_WAT), name="hostcall", grants=["kv", "clock"])
    call = db.plugins.call
    out: dict[str, float] = {}
    for export, label, args in (("gets", "kv_get_us", ("missing",)), ("nows", "now_ms_us", ())):
        call("hostcall", export, 1, *args)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            call("hostcall", export, n, *args)
            many = time.perf_counter() - start
            start = time.perf_counter()
            call("hostcall", export, 0, *args)
            none = time.perf_counter() - start
            best = min(best, (many - none) / n * 1e6)
        out[label] = best
    return out


# -- cold load --------------------------------------------------------------------------------


def cold_child(path: str) -> None:
    """In a fresh process: open the file and make the first call; print the timings.

    The plugin layer is imported first: import time is the interpreter's, not the load's.
    """
    import tlo_embed.plugins.host  # noqa: F401 - imported lazily by db.plugins otherwise

    start = time.perf_counter()
    db = tlo_embed.open(path)
    opened = time.perf_counter()
    result = db.plugins.call(NAME, "add", 20, 22)
    called = time.perf_counter()
    db.close()
    assert result == 42
    print(json.dumps({"open": opened - start, "call": called - opened}))


def cold_load(path: str) -> dict[str, float]:
    env = dict(os.environ)
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", path],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"cold-load child failed ({done.returncode}):\n{done.stderr}"
        raise RuntimeError(msg)
    timings: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return timings


def is_compiled() -> bool:
    return _bench.is_compiled("tlo_embed.journal.append")


def main() -> int:
    parser = _bench.parser(__doc__)
    parser.add_argument("--calls", type=int, default=5000, help="calls per run (default 5000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; best counts")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cold_child(args.child)
        return 0

    n, r = args.calls, args.repeat
    wasm = wasmtime.wat2wasm(WAT)
    results: dict[str, Any] = {"compiled": is_compiled(), "calls": n, "repeat": r}
    with tempfile.TemporaryDirectory(prefix="tlo-bench-plugins-") as tmp:
        path = os.path.join(tmp, "bench.tlo")
        with tlo_embed.open(path) as db:
            db.plugins.install(bytes(wasm), name=NAME)
            raw, limited = Raw(bytes(wasm), limits=False), Raw(bytes(wasm), limits=True)
            check_results(raw, db)
            for export, key in (("add", "add"), ("echo-point", "record")):
                raw_s, limits_s, engine_s = _bench.best_of(
                    r,
                    lambda e=export: raw.run(e, n),
                    lambda e=export: limited.run(e, n),
                    lambda e=export: engine_run(db, e, n),
                )
                results[key] = {
                    "raw_us": raw_s / n * 1e6, "limits_us": limits_s / n * 1e6,
                    "engine_us": engine_s / n * 1e6, "overhead": engine_s / raw_s,
                }
            results["hostcall"] = host_calls(db, r, n)
        colds = [cold_load(path) for _ in range(r)]
        results["cold"] = {
            "open_ms": min(c["open"] for c in colds) * 1e3,
            "first_call_ms": min(c["call"] for c in colds) * 1e3,
            "total_ms": min(c["open"] + c["call"] for c in colds) * 1e3,
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    build = "compiled" if results["compiled"] else "pure"
    print(f"tlo_embed plugin benchmark ({build} build, wasmtime {wasmtime_version()}, "
          f"{n} calls, best of {r})")
    for label, key in (("add(u32, u32) -> u32", "add"), ("echo-point(record) -> record", "record")):
        res = results[key]
        verdict = "meets" if res["overhead"] <= TARGET_RATIO else "ABOVE"
        print(f"  {label:30s} db.plugins.call {res['engine_us']:7.1f} us vs raw "
              f"{res['raw_us']:5.1f} us  overhead {res['overhead']:5.2f}x "
              f"(target <= {TARGET_RATIO}x: {verdict}); raw with fuel+deadline "
              f"{res['limits_us']:5.1f} us")
    cold = results["cold"]
    verdict = "meets" if cold["first_call_ms"] <= TARGET_COLD_MS else "ABOVE"
    print(f"  cold load, new process: first call {cold['first_call_ms']:.2f} ms "
          f"(target <= {TARGET_COLD_MS} ms: {verdict}); open {cold['open_ms']:.2f} ms, "
          f"open + first call {cold['total_ms']:.2f} ms")
    host = results["hostcall"]
    print(f"  guest->host call (no target): kv.get {host['kv_get_us']:.1f} us, "
          f"clock.now-ms {host['now_ms_us']:.1f} us")
    return 0


def wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


if __name__ == "__main__":
    raise SystemExit(main())
