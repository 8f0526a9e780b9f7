"""A scheduler in a child process, for tests/tasks/test_scheduler.py (not a test module).

Usage: python scheduler_child.py FILE HOLDER START_US STEP_US TICKS LEASE_SECONDS

Prints `hello <package dir>` and `ready`, waits for a line on stdin (so that two children
start together), then ticks TICKS times on its own clock (START_US + k * STEP_US for
k = 1..TICKS), printing one JSON line per tick, and `done`.
"""

from __future__ import annotations

import json
import os
import sys

import tlo_embed


def main(argv: list[str]) -> int:
    path, holder = argv[0], argv[1]
    start_us, step_us, ticks, lease = int(argv[2]), int(argv[3]), int(argv[4]), float(argv[5])
    print(f"hello {os.path.dirname(os.path.realpath(tlo_embed.__file__))}", flush=True)
    clock = tlo_embed.FixedClock(now_us=start_us, step_us=0)
    with tlo_embed.open(path, clock=clock, busy_timeout=60.0) as db:
        scheduler = db.scheduler(holder=holder, lease=lease)
        print("ready", flush=True)
        sys.stdin.readline()
        for k in range(1, ticks + 1):
            clock.now = start_us + k * step_us
            result = scheduler.tick()
            print(json.dumps({
                "k": k, "leader": result.leader, "jobs": [j.id for j in result.jobs],
                "due": [d for f in result.fired for d in f.due_us],
            }), flush=True)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
