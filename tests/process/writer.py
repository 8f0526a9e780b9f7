"""Child process for test_multiprocess.py: one of several writers sharing a .tlo file.

    python writer.py MODE FILE WRITER N [SEED]

Prints `hello <package dir>` once imported, then waits for a line on stdin before it starts,
so the test can release all writers at once. Modes:

- `mixed`: N appends to the shared stream with expected_version=ANY, N appends to its own
  stream `private-WRITER` with exact expected versions, and N // 3 commands through the
  handler runtime on the shared stream `counter` (the `Counter` handler below). Any exception
  ends it with exit status 1.
- `create`: N times: prints `ready I`, waits for a line on stdin, then opens `FILE-I.tlo`
  (which does not exist yet: the writers race to create it) and appends one event to
  `created`.
- `hammer`: N small operations of every kind (appends with fresh or stale expected versions,
  two-stream turns, handler commands, subscription processing, reads), with a tiny busy
  timeout. It never stops on an exception; it prints one line per outcome:
      OK seq stream version count     an append or command that returned
      EXC module.Class is_tlo         an exception it caught (is_tlo: 1 if a TloError)
  Its first operation is an append made while the test holds the write lock elsewhere.
- `hold`: opens a turn, appends to `held`, prints `holding` and keeps the write lock until it
  reads a line on stdin; then, if N > 0, repeatedly holds the lock for 30 ms until stdin
  closes.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from typing import Any

import tlo_embed
from tlo_embed import ANY, Event, RecordedEvent


class Counter:
    """Counts commands: each command records one `Counted` event worth 1."""

    name = "Counter"
    snapshot_every = 25

    def initial(self) -> int:
        return 0

    def fold(self, state: int, event: RecordedEvent) -> int:
        return state + int(event.data["n"])

    def process(self, state: int, command: dict[str, Any]) -> Event:
        return Event("Counted", {"n": 1, "writer": command["writer"], "i": command["i"],
                                 "before": state})


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def mixed(path: str, writer: int, n: int) -> None:
    with tlo_embed.open(path) as db:
        private = f"private-{writer}"
        for i in range(n):
            db.append("shared", Event("Shared", {"writer": writer, "i": i}),
                      expected_version=ANY)
            db.append(private, Event("Private", {"writer": writer, "i": i}),
                      expected_version=i)
            if i % 3 == 0:
                db.execute(Counter, "counter", {"writer": writer, "i": i}, max_attempts=10_000)
    say("done")


def create(path: str, writer: int, n: int) -> None:
    for i in range(n):
        say(f"ready {i}")
        sys.stdin.readline()
        with tlo_embed.open(f"{path}-{i}.tlo") as db:
            db.append("created", Event("Created", {"writer": writer}))
    say("done")


def report(result: Any) -> None:
    say(f"OK {result.seq} {result.stream} {result.version} {result.count}")


def project(turn: Any, event: RecordedEvent) -> None:
    turn.sql(
        "INSERT INTO hammer_seen (seq, idx, stream, version) VALUES (?, ?, ?, ?)",
        (event.seq, event.index, event.stream, event.version),
    )


def hammer_once(db: tlo_embed.Database, rng: random.Random, writer: int, k: int) -> None:
    streams = ["hot-a", "hot-b"]
    op = rng.randrange(7)
    data = {"writer": writer, "k": k}
    if op == 0:
        stream = rng.choice(streams)
        version = db.stream_version(stream)
        batch = [Event("Hammered", data) for _ in range(rng.randint(1, 3))]
        report(db.append(stream, batch, expected_version=version))
    elif op == 1:
        report(db.append(rng.choice(streams), Event("Hammered", data)))
    elif op == 2:
        with db.turn() as t:
            results = [t.append(s, Event("Hammered", data)) for s in streams]
        for r in results:
            report(r)
    elif op == 3:
        done = db.execute(Counter, "counter", {"writer": writer, "i": k}, max_attempts=3)
        say(f"OK {done.seq} counter {done.version} {len(done.events)}")
    elif op == 4:
        db.subscribe("hammer").process(project, limit=8)
    elif op == 5:
        for _ in db.read(rng.choice(streams)):
            pass
        for _ in db.read_all(limit=50):
            pass
        db.state(Counter, "counter")
    else:
        db.subscribe(f"sub-{writer}").ack(db.last_seq)


def hammer(path: str, writer: int, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with tlo_embed.open(path, busy_timeout=0.02) as db:
        for k in range(n):
            try:
                if k == 0:
                    # The test holds the write lock now: this must be a BusyError.
                    report(db.append("hot-a", Event("Hammered", {"writer": writer, "k": k})))
                else:
                    hammer_once(db, rng, writer, k)
            except Exception as e:  # noqa: BLE001 - reporting every exception is the point
                kind = type(e)
                is_tlo = int(isinstance(e, tlo_embed.TloError))
                say(f"EXC {kind.__module__}.{kind.__qualname__} {is_tlo}")
    say("done")


def hold(path: str, loop: bool) -> None:
    stop = threading.Event()
    with tlo_embed.open(path, busy_timeout=30.0) as db:
        with db.turn() as t:
            t.append("held", Event("Held", {"first": True}))
            say("holding")
            sys.stdin.readline()
        say("released")

        def watch() -> None:
            sys.stdin.readline()
            stop.set()

        threading.Thread(target=watch, daemon=True).start()
        while loop and not stop.is_set():
            with db.turn() as t:
                t.append("held", Event("Held", {"first": False}))
                time.sleep(0.03)
            time.sleep(0.005)
        stop.wait()
    say("done")


def main() -> int:
    mode, path, writer = sys.argv[1], sys.argv[2], int(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    say(f"hello {os.path.dirname(os.path.realpath(tlo_embed.__file__))}")
    if mode == "hold":
        hold(path, n > 0)
        return 0
    sys.stdin.readline()  # the start signal
    if mode == "mixed":
        mixed(path, writer, n)
    elif mode == "create":
        create(path, writer, n)
    elif mode == "hammer":
        hammer(path, writer, n, seed)
    else:
        say(f"unknown mode {mode}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
