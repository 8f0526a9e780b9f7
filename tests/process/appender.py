"""Child process for test_crash.py: append to a .tlo file forever, reporting each append.

    python appender.py FILE RUN SEED

Opens FILE (durability "normal"), learns the current version of each of its streams, then
appends in a loop: single-event and multi-event batches to one stream, and turns spanning
two streams, always with `expected_version` = the version it knows (it is the only writer,
so a ConcurrencyError means the file lost or invented an append). After each append returns
it prints one line per stream written, flushed:

    seq stream version count

Every event's data holds the run number and `turn_events`, the number of events its turn
recorded, so a reader can prove each turn is whole. The first line is `hello <package dir>`
so the test can check the child imported the build under test. The test ends it with SIGKILL.
"""

from __future__ import annotations

import os
import random
import sys
import time

import tlo_embed
from tlo_embed import Event

STREAMS = [f"crash-{i}" for i in range(5)]

#: A short pause between appends keeps the file small enough to verify after every kill,
#: while most of the child's time is still spent inside appends.
PAUSE = 0.0003


def main() -> int:
    path, run, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    out = sys.stdout
    db = tlo_embed.open(path, durability="normal")
    known = {s: db.stream_version(s) for s in STREAMS}
    out.write(f"hello {os.path.dirname(os.path.realpath(tlo_embed.__file__))}\n")
    out.flush()
    n = 0
    while True:
        n += 1
        if rng.random() < 0.25:
            # One turn across two streams.
            first, second = rng.sample(STREAMS, 2)
            sizes = {first: rng.randint(1, 3), second: rng.randint(1, 3)}
            total = sizes[first] + sizes[second]
            results = []
            with db.turn() as t:
                for stream in (first, second):
                    batch = [
                        Event("Crashed", {"run": run, "n": n, "i": i, "turn_events": total})
                        for i in range(sizes[stream])
                    ]
                    results.append(t.append(stream, batch, expected_version=known[stream]))
        else:
            stream = rng.choice(STREAMS)
            size = 1 if rng.random() < 0.5 else rng.randint(2, 8)
            # Now and then a payload above the compression threshold.
            pad = os.urandom(1200).hex() if rng.random() < 0.05 else ""
            batch = [
                Event("Crashed", {"run": run, "n": n, "i": i, "turn_events": size,
                                  "pad": pad})
                for i in range(size)
            ]
            results = [db.append(stream, batch, expected_version=known[stream])]
        for r in results:
            known[r.stream] = r.version
            out.write(f"{r.seq} {r.stream} {r.version} {r.count}\n")
        out.flush()
        time.sleep(PAUSE)


if __name__ == "__main__":
    sys.exit(main())
