"""Queue benchmark: the task layer against the raw apsw pattern for the same work, one run.

Workloads (each timed `--repeat` times, sides alternating; the best run of each counts):
  enqueue   N jobs, one commit each: db.enqueue(task, payload) vs a raw apsw
            `BEGIN IMMEDIATE; INSERT job row; COMMIT` into an indexed job table.
  worker    N no-op jobs claimed and completed, two commits per job: a worker with the inline
            executor (`db.worker().run(until_idle=True)`) vs the raw claim+ack pattern
            (`UPDATE ... SET state='running' WHERE id = (SELECT ... LIMIT 1) RETURNING`, commit,
            run, `UPDATE ... SET state='done'`, commit). Measured with one worker process
            and with two processes sharing the file, for the default worker (a claim turn and
            an outcome turn per job) and for `db.worker(batch=16)` (16 jobs per claim turn,
            their outcomes in one turn).
            The same work through the other executors (same raw baseline): a thread pool
            (`executor="thread", concurrency=4`), a thread pool with batches
            (`concurrency=16, batch=16`) and child processes with batches
            (`executor="process", concurrency=4, batch=4`; the task is
            `tlo_embed.tasks.examples.echo`, so the children can import it).
Both sides use the same `PRAGMA synchronous`.

Run:  python3 dev.py bench queue          (compiled build; see --help)
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
from tlo_embed.tasks import examples

# bench/ is appended to the path, for _bench: put first, bench/queue.py would shadow the
# stdlib's queue (why the benches' child processes run with PYTHONSAFEPATH=1).
sys.path.append(str(Path(__file__).resolve().parent))
import _bench

SYNC = {"normal": "NORMAL", "full": "FULL"}
BATCH = 16
#: Engine worker kinds: (label, executor, concurrency, batch).
WORKERS: dict[str, tuple[str, str, int, int]] = {
    "engine": ("worker", "inline", 1, 1),
    "engine-batch": (f"batch={BATCH}", "inline", 1, BATCH),
    "engine-thread": ("thread x4", "thread", 4, 1),
    "engine-thread-batch": (f"thread x16 batch={BATCH}", "thread", 16, BATCH),
    "engine-process-batch": ("process x4 batch=4", "process", 4, 4),
}
#: Result keys: the kind and the number of worker processes.
KEYS = {"engine": "worker", "engine-batch": "batch", "engine-thread": "thread",
        "engine-thread-batch": "thread_batch", "engine-process-batch": "process_batch"}
TARGET = 0.6
RAW_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, queue TEXT NOT NULL,"
    " state TEXT NOT NULL, priority INTEGER NOT NULL, run_at INTEGER NOT NULL,"
    " lease_until INTEGER, payload BLOB NOT NULL, result BLOB);"
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (queue, priority DESC, run_at)"
    " WHERE state = 'pending';"
)


def noop(value: int) -> None:
    """The benchmark's task: does nothing."""


def raw_connection(path: str, durability: str) -> apsw.Connection:
    conn = apsw.Connection(path)
    conn.set_busy_timeout(10_000)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {SYNC[durability]}")
    conn.execute(RAW_SCHEMA)
    return conn


# -- enqueue ---------------------------------------------------------------------------------


def raw_enqueue(path: str, n: int, durability: str) -> float:
    conn = raw_connection(path, durability)
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO jobs (queue, state, priority, run_at, payload) VALUES"
            " ('default', 'pending', 0, ?, ?)",
            (time.time_ns() // 1000, cbor2.dumps({"value": i}, canonical=True)),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def engine_enqueue(path: str, n: int, durability: str) -> float:
    with tlo_embed.open(path, durability=durability) as db:
        db.task(noop)
        start = time.perf_counter()
        for i in range(n):
            db.enqueue("noop", {"value": i})
        return time.perf_counter() - start


# -- claim + complete ------------------------------------------------------------------------


def ready() -> None:
    """Tell the parent this child is set up, and wait for its go."""
    print("ready", flush=True)
    sys.stdin.readline()


def raw_work(path: str, durability: str) -> int:
    """Claim and complete jobs until none is left; returns how many this process did."""
    conn = raw_connection(path, durability)
    ready()
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "UPDATE jobs SET state = 'running', lease_until = ? WHERE id = (SELECT id FROM jobs"
            " WHERE queue = 'default' AND state = 'pending' ORDER BY priority DESC, run_at"
            " LIMIT 1) RETURNING id, payload",
            (time.time_ns() // 1000 + 30_000_000,),
        ).fetchall()
        conn.execute("COMMIT")
        if not rows:
            break
        job_id, payload = rows[0]
        noop(**cbor2.loads(payload))
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE jobs SET state = 'done', result = ?, lease_until = NULL WHERE id = ?",
            (cbor2.dumps(None), job_id),
        )
        conn.execute("COMMIT")
        done += 1
    conn.close()
    return done


def register(db: tlo_embed.Database, executor: str) -> None:
    """The no-op task; for child processes one they can import by path (this file runs as
    __main__)."""
    if executor == "process":
        db.task(examples.echo, name="noop")
    else:
        db.task(noop)


def engine_work(path: str, durability: str, kind: str) -> int:
    _, executor, concurrency, batch = WORKERS[kind]
    with tlo_embed.open(path, durability=durability) as db:
        register(db, executor)
        worker = db.worker(executor=executor, concurrency=concurrency, batch=batch)
        ready()
        return worker.run(until_idle=True, idle_horizon=0.0).succeeded


def fill_raw(path: str, n: int, durability: str) -> None:
    conn = raw_connection(path, durability)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (queue, state, priority, run_at, payload) VALUES"
        " ('default', 'pending', 0, 0, ?)",
        [(cbor2.dumps({"value": i}, canonical=True),) for i in range(n)],
    )
    conn.execute("COMMIT")
    conn.close()


def fill_engine(path: str, n: int, durability: str, kind: str) -> None:
    with tlo_embed.open(path, durability=durability) as db:
        register(db, WORKERS[kind][1])
        with db.turn():  # one turn for the set-up, not part of the measurement
            for i in range(n):
                db.enqueue("noop", {"value": i})


def work_in_processes(kind: str, path: str, processes: int, durability: str) -> float:
    """Start `processes` children on the same file; the wall time from "go" until all finish.

    Children import and open everything first and report "ready", so process start-up is
    not part of the measurement.
    """
    env = dict(os.environ, PYTHONSAFEPATH="1")
    env.setdefault("PYTHONPATH", str(Path(tlo_embed.__file__).resolve().parent.parent))
    children = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", kind, path,
             "--durability", durability],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            msg = f"{kind} worker did not start"
            raise RuntimeError(msg)
    start = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    total = 0
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            msg = f"{kind} worker exited with {child.returncode}"
            raise RuntimeError(msg)
        total += int(out.strip())
    elapsed = time.perf_counter() - start
    if total == 0:
        msg = f"{kind} workers did no job"
        raise RuntimeError(msg)
    return elapsed


def measure_work(tmp: str, kind: str, n: int, processes: int, durability: str) -> float:
    if kind in WORKERS:
        path = tempfile.mktemp(dir=tmp, suffix=".tlo")
        fill_engine(path, n, durability, kind)
    else:
        path = tempfile.mktemp(dir=tmp, suffix=".db")
        fill_raw(path, n, durability)
    return work_in_processes(kind, path, processes, durability)


def is_compiled() -> bool:
    return _bench.is_compiled("tlo_embed.tasks.queue")


def main() -> int:
    parser = _bench.parser(__doc__)
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per workload (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best counts")
    parser.add_argument("--durability", choices=sorted(SYNC), default="normal")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path = args.child
        if kind in WORKERS:
            done = engine_work(path, args.durability, kind)
        else:
            done = raw_work(path, args.durability)
        print(done)
        return 0

    n, r, sync = args.jobs, args.repeat, args.durability
    results: dict[str, Any] = {"compiled": is_compiled(), "durability": sync, "jobs": n,
                               "repeat": r}
    with tempfile.TemporaryDirectory(prefix="tlo-bench-queue-") as tmp:
        raw, eng = _bench.best_of(
            r,
            lambda: raw_enqueue(tempfile.mktemp(dir=tmp, suffix=".db"), n, sync),
            lambda: engine_enqueue(tempfile.mktemp(dir=tmp, suffix=".tlo"), n, sync),
        )
        results["enqueue"] = {"raw_per_s": n / raw, "engine_per_s": n / eng, "ratio": raw / eng}
        for processes in (1, 2):
            kinds = list(WORKERS)
            raw, *engines = _bench.best_of(
                r,
                lambda p=processes: measure_work(tmp, "raw", n, p, sync),
                *[lambda p=processes, k=kind: measure_work(tmp, k, n, p, sync)
                  for kind in kinds],
            )
            for kind, eng in zip(kinds, engines, strict=True):
                results[f"{KEYS[kind]}_{processes}"] = {
                    "raw_per_s": n / raw, "engine_per_s": n / eng, "ratio": raw / eng,
                }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"tlo_embed queue benchmark ({'compiled' if results['compiled'] else 'pure'} build,"
          f" durability={sync}, {n} jobs, best of {r})")
    rows = [("enqueue (1 commit/job)", "enqueue", "raw single-row commits")]
    for processes in (1, 2):
        for kind, (label, *_) in WORKERS.items():
            rows.append((f"{label}, {processes} proc", f"{KEYS[kind]}_{processes}",
                         "raw claim+ack"))
    for label, key, baseline in rows:
        res = results[key]
        verdict = "meets" if res["ratio"] >= TARGET else "BELOW"
        print(f"  {label:30s} {res['engine_per_s']:7.0f} jobs/s vs {baseline}"
              f" {res['raw_per_s']:7.0f} jobs/s  ratio {res['ratio']:5.2f}x"
              f"  (target >= {TARGET}x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
