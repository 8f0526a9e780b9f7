"""Journal benchmark: the engine against the raw apsw ceiling, measured in the same run.

Workloads (each timed `--repeat` times; the best run counts):
  single   N turns of one event each: db.append(stream, Event) vs a raw apsw one-row commit
           (BEGIN IMMEDIATE; INSERT; COMMIT) of the same CBOR payload.
  batch    N/100 turns of 100 events: db.append(stream, [100 events]) vs raw executemany of
           100 rows in one transaction.
  replay   read + decode + fold of 100k events: db.read_all() folded by a handler-style
           function vs raw SELECT + cbor2.loads + the same fold, on the same file.
  build    replay under the mypyc-compiled build vs the pure-Python sources (two child
           processes, same file).
  wake     latency from a commit to a blocked `db.wait()` returning: for a commit in another
           thread of this process, and for a commit in another process (the contract:
           immediately, and within 50 ms). Reported as percentiles; no ratio.
Also reported, for insight: "schema SQL", the engine's own statements hand-written in apsw
(the ceiling for this schema), so the engine's Python overhead is visible on its own.

Both sides use the same `PRAGMA synchronous` (the engine's durability setting).

Run:  python3 dev.py bench journal          (compiled build; see --help)
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

import apsw
import cbor2

import tlo_embed
from tlo_embed import Event

# bench/ is appended to the path, for _bench: put first, bench/queue.py would shadow the
# stdlib's queue (why the benches' child processes run with PYTHONSAFEPATH=1).
sys.path.append(str(Path(__file__).resolve().parent))
import _bench

ROOT = Path(__file__).resolve().parent.parent
SYNC = {"normal": "NORMAL", "full": "FULL"}
TARGETS = {"single": 0.6, "batch": 0.3, "replay": 0.7, "build": 1.5}


def raw_connection(path: str, durability: str) -> apsw.Connection:
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {SYNC[durability]}")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, stream TEXT NOT NULL,"
        " version INTEGER NOT NULL, type TEXT NOT NULL, data BLOB NOT NULL)"
    )
    return conn


def payload(i: int) -> dict[str, Any]:
    return {"order": i, "total": i * 7 % 1000, "sku": "A-100"}


# -- single-event turns ----------------------------------------------------------------------


def raw_single(tmp: str, n: int, durability: str) -> float:
    path = tempfile.mktemp(dir=tmp, suffix=".db")
    conn = raw_connection(path, durability)
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO events (stream, version, type, data) VALUES (?, ?, ?, ?)",
            (f"order-{i % 100}", i // 100 + 1, "OrderPlaced", cbor2.dumps(payload(i), canonical=True)),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def schema_single(tmp: str, n: int, durability: str) -> float:
    """The engine's own statements for one single-event turn, hand-written in apsw."""
    from tlo_embed.clock import new_event_id
    from tlo_embed.store._schema import SCHEMA_SQL

    path = tempfile.mktemp(dir=tmp, suffix=".db")
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {SYNC[durability]}")
    conn.execute(SCHEMA_SQL)
    insert_turn = (
        "INSERT INTO turns (branch, parent_seq, recorded_at) VALUES"
        " (?1, (SELECT head_seq FROM branches WHERE name = ?1), ?2)"
    )
    insert_event = (
        "INSERT INTO events (seq, idx, branch, stream, version, type, schema_version, id, data,"
        " enc, metadata, recorded_at) VALUES (?1, 0, 'main', ?2,"
        " coalesce((SELECT version FROM streams WHERE branch = 'main' AND stream = ?2), 0) + 1,"
        " 'OrderPlaced', 1, ?3, ?4, 0, NULL, ?5) RETURNING version"
    )
    start = time.perf_counter()
    for i in range(n):
        now = time.time_ns() // 1000
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(insert_turn, ("main", now))
        seq = conn.last_insert_rowid()
        conn.execute(
            insert_event,
            (seq, f"order-{i % 100}", new_event_id(now), cbor2.dumps(payload(i), canonical=True),
             now),
        ).fetchall()
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def engine_single(tmp: str, n: int, durability: str) -> float:
    path = tempfile.mktemp(dir=tmp, suffix=".tlo")
    with tlo_embed.open(path, durability=durability) as db:
        start = time.perf_counter()
        for i in range(n):
            db.append(f"order-{i % 100}", Event("OrderPlaced", payload(i)))
        return time.perf_counter() - start


# -- 100-event turns -------------------------------------------------------------------------


def raw_batch(tmp: str, n: int, durability: str) -> float:
    path = tempfile.mktemp(dir=tmp, suffix=".db")
    conn = raw_connection(path, durability)
    start = time.perf_counter()
    for b in range(n // 100):
        rows = [
            (f"order-{b}", v + 1, "OrderLine", cbor2.dumps(payload(b * 100 + v), canonical=True))
            for v in range(100)
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO events (stream, version, type, data) VALUES (?, ?, ?, ?)", rows
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def engine_batch(tmp: str, n: int, durability: str) -> float:
    path = tempfile.mktemp(dir=tmp, suffix=".tlo")
    with tlo_embed.open(path, durability=durability) as db:
        start = time.perf_counter()
        for b in range(n // 100):
            db.append(
                f"order-{b}", [Event("OrderLine", payload(b * 100 + v)) for v in range(100)]
            )
        return time.perf_counter() - start


# -- replay ----------------------------------------------------------------------------------


def build_replay_file(path: str, n: int) -> None:
    with tlo_embed.open(path) as db:
        for b in range(n // 100):
            db.append(
                f"order-{b % 50}", [Event("OrderLine", payload(b * 100 + v)) for v in range(100)]
            )


def fold(state: int, data: Any) -> int:
    return state + data["total"]


def raw_replay(path: str) -> tuple[float, int]:
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    start = time.perf_counter()
    state = 0
    for (blob,) in conn.execute("SELECT data FROM events ORDER BY seq, idx"):
        state = fold(state, cbor2.loads(blob))
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, state


def engine_replay(path: str) -> tuple[float, int]:
    with tlo_embed.open(path, create=False) as db:
        start = time.perf_counter()
        state = 0
        for event in db.read_all():
            state = fold(state, event.data)
        return time.perf_counter() - start, state


def child_replay(path: str, repeat: int) -> float:
    return min(engine_replay(path)[0] for _ in range(repeat))


def replay_in(build: Path, path: str, repeat: int, *, compiled: bool) -> float:
    """Run the engine replay in a child process importing tlo_embed from `build`."""
    env = dict(os.environ, PYTHONPATH=str(build), PYTHONSAFEPATH="1")
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-replay", path,
         "--repeat", str(repeat)],
        env=env, check=True, capture_output=True, text=True,
    )
    result = json.loads(out.stdout)
    if bool(result["compiled"]) != compiled:
        msg = f"{build} did not give a {'compiled' if compiled else 'pure'} tlo_embed"
        raise RuntimeError(msg)
    return float(result["seconds"])


def compiled_root() -> Path:
    """Where the compiled build is: the one running, else build/mypyc."""
    if is_compiled():
        return Path(tlo_embed.__file__).resolve().parent.parent
    return ROOT / "build" / "mypyc"


def child_wake_appender(path: str, count: int) -> None:
    """In a child process: append `count` events, printing each commit's time and seq."""
    with tlo_embed.open(path) as db:
        for i in range(count):
            time.sleep(0.013)
            result = db.append("wake", Event("Tick", i))
            print(f"{result.seq} {time.time()}", flush=True)


def wake_latencies(
    db: tlo_embed.Database, count: int, commit_times: dict[int, float]
) -> list[float]:
    """Block in db.wait() for each new turn; return commit-to-wake delays in seconds.

    Gives up 10 s after the last wake-up (a writer that died).
    """
    delays: list[float] = []
    seen = db.last_seq
    last_progress = time.monotonic()
    while len(delays) < count and time.monotonic() - last_progress < 10.0:
        if not db.wait(seen, timeout=1.0):
            continue
        woke = time.time()
        last_progress = time.monotonic()
        head = db.last_seq
        for seq in range(seen + 1, head + 1):
            deadline = time.time() + 1.0
            while seq not in commit_times and time.time() < deadline:
                time.sleep(0.0005)  # the writer reports its commit time just after COMMIT
            if seq in commit_times:
                delays.append(max(0.0, woke - commit_times[seq]))
        seen = head
    return delays


def wake_benchmark(tmp: str, count: int) -> dict[str, Any]:
    """Commit-to-wake latency for a writer thread and for a writer process."""
    import threading

    import numpy as np

    results: dict[str, Any] = {}
    path = os.path.join(tmp, "wake.tlo")
    with tlo_embed.open(path) as db:
        times: dict[int, float] = {}

        def thread_writer() -> None:
            with tlo_embed.open(path) as other:
                for i in range(count):
                    time.sleep(0.013)
                    result = other.append("wake", Event("Tick", i))
                    times[result.seq] = time.time()

        writer = threading.Thread(target=thread_writer)
        writer.start()
        delays = wake_latencies(db, count, times)
        writer.join()
        results["thread"] = delays
        times_p: dict[int, float] = {}
        env = dict(os.environ, PYTHONSAFEPATH="1")
        env.setdefault("PYTHONPATH", str(Path(tlo_embed.__file__).resolve().parent.parent))
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child-wake", path,
             "--events", str(count)],
            env=env, stdout=subprocess.PIPE, text=True,
        )

        def reader() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                seq, at = line.split()
                times_p[int(seq)] = float(at)

        reading = threading.Thread(target=reader)
        reading.start()
        results["process"] = wake_latencies(db, count, times_p)
        child.wait()
        reading.join()
    out: dict[str, Any] = {}
    for key, values in results.items():
        arr = np.array(values) * 1000.0
        out[key] = {"n": int(arr.size), "p50_ms": float(np.percentile(arr, 50)),
                    "p99_ms": float(np.percentile(arr, 99)), "max_ms": float(arr.max())}
    return out


def is_compiled() -> bool:
    return _bench.is_compiled("tlo_embed.journal.read")


# -- driver ----------------------------------------------------------------------------------


def main() -> int:
    parser = _bench.parser(__doc__)
    parser.add_argument("--events", type=int, default=20_000,
                        help="events for the single and batch workloads (default 20000)")
    parser.add_argument("--replay-events", type=int, default=100_000,
                        help="events in the replay workload (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best counts")
    parser.add_argument("--durability", choices=sorted(SYNC), default="normal")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--wake-events", type=int, default=200,
                        help="commits timed in the wake workload (default 200)")
    parser.add_argument("--child-replay", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--child-wake", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_wake:
        child_wake_appender(args.child_wake, args.events)
        return 0
    if args.child_replay:
        seconds = child_replay(args.child_replay, args.repeat)
        print(json.dumps({"seconds": seconds, "compiled": is_compiled()}))
        return 0

    n, r, sync = args.events, args.repeat, args.durability
    results: dict[str, Any] = {
        "compiled": is_compiled(), "durability": sync, "events": n,
        "replay_events": args.replay_events, "repeat": r,
    }
    with tempfile.TemporaryDirectory(prefix="tlo-bench-") as tmp:
        raw, floor, eng = _bench.best_of(
            r,
            lambda: raw_single(tmp, n, sync),
            lambda: schema_single(tmp, n, sync),
            lambda: engine_single(tmp, n, sync),
        )
        results["single"] = {"raw_per_s": n / raw, "schema_sql_per_s": n / floor,
                             "engine_per_s": n / eng, "ratio": raw / eng,
                             "ratio_to_schema_sql": floor / eng}
        raw, eng = _bench.best_of(
            r, lambda: raw_batch(tmp, n, sync), lambda: engine_batch(tmp, n, sync)
        )
        results["batch"] = {"raw_per_s": n / raw, "engine_per_s": n / eng, "ratio": raw / eng}

        path = os.path.join(tmp, "replay.tlo")
        build_replay_file(path, args.replay_events)
        raw_state = raw_replay(path)[1]
        eng_state = engine_replay(path)[1]
        raw_t, eng_t = _bench.best_of(
            r, lambda: raw_replay(path)[0], lambda: engine_replay(path)[0]
        )
        if raw_state != eng_state:
            print(f"replay folds disagree: raw {raw_state} engine {eng_state}", file=sys.stderr)
            return 1
        m = args.replay_events
        results["replay"] = {"raw_per_s": m / raw_t, "engine_per_s": m / eng_t,
                             "ratio": raw_t / eng_t}
        compiled_dir = compiled_root()
        if compiled_dir.is_dir():
            pure_t, comp_t = _bench.best_of(
                r,
                lambda: replay_in(ROOT, path, 2, compiled=False),
                lambda: replay_in(compiled_dir, path, 2, compiled=True),
            )
            results["build"] = {"pure_per_s": m / pure_t, "compiled_per_s": m / comp_t,
                                "ratio": pure_t / comp_t}
        else:
            results["build"] = {"error": "no compiled build: run python3 dev.py build"}
        results["wake"] = wake_benchmark(tmp, args.wake_events)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"tlo_embed journal benchmark ({'compiled' if results['compiled'] else 'pure'} build,"
          f" durability={sync}, best of {r})")
    rows = [
        ("single-event turns", "single", "raw one-row commits"),
        ("100-event turns", "batch", "raw executemany"),
        ("replay (read+decode+fold)", "replay", "raw select+decode+fold"),
        ("compiled vs pure replay", "build", "pure-Python build"),
    ]
    for label, key, baseline in rows:
        res = results[key]
        if "error" in res:
            print(f"  {label:28s} {res['error']}")
            continue
        ratio = res["ratio"]
        verdict = "meets" if ratio >= TARGETS[key] else "BELOW"
        rate = res.get("engine_per_s", res.get("compiled_per_s", 0.0))
        base = res.get("raw_per_s", res.get("pure_per_s", 0.0))
        print(f"  {label:28s} {rate:10.0f}/s vs {baseline} {base:10.0f}/s"
              f"  ratio {ratio:5.2f}x  (target >= {TARGETS[key]}x: {verdict})")
    for source, res in results["wake"].items():
        print(f"  {'wake: commit in a ' + source:28s} p50 {res['p50_ms']:6.2f} ms  p99 "
              f"{res['p99_ms']:6.2f} ms  max {res['max_ms']:6.2f} ms  (n={res['n']})")
    single = results["single"]
    print(f"  {'  schema SQL by hand':28s} {single['schema_sql_per_s']:10.0f}/s"
          f"  engine/schema-SQL {single['ratio_to_schema_sql']:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
